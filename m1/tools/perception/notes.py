"""What a perception provider is and what it says: :class:`Note`, the provider protocols and
:class:`ProviderUnavailable`. The provider modules (objects, ocr, people, tags, speech) import these
types from here, and the registry (:mod:`providers`) imports the provider modules: keeping the
types apart keeps that one-way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from m1.schema import Question


class ProviderUnavailable(RuntimeError):
    """A provider cannot run here (weights or package missing); the message names the provider."""


@dataclass(frozen=True)
class Note:
    """One thing a provider saw. ``t0``/``t1`` are seconds (a frame note gets its frame time);
    ``box`` is x0, y0, x1, y1 in the analysed frame's pixels when the note is localised."""

    provider: str
    text: str
    score: float = 1.0
    t0: float = 0.0
    t1: float = 0.0
    box: tuple[int, int, int, int] | None = None
    kind: str = ""  # provider-specific sub-kind: 'person', 'face', 'tag', 'line', 'word'...

    def at(self, t0: float, t1: float | None = None) -> Note:
        return Note(self.provider, self.text, self.score, t0, t0 if t1 is None else t1, self.box, self.kind)


@runtime_checkable
class FrameProvider(Protocol):
    name: str
    kind: Literal["frame"]

    def observe(self, img: np.ndarray) -> list[Note]: ...


@runtime_checkable
class VideoProvider(Protocol):
    name: str
    kind: Literal["video"]

    def observe_video(self, path: str, question: Question | None) -> list[Note]: ...
