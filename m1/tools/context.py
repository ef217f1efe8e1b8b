"""What a tool call runs against: :class:`ToolContext` (one per episode) over a shared
:class:`VideoStore` (one per process).

The store keeps opened videos (a :class:`~m1.video.VideoReader` with its frame cache) and their
per-frame perception results (:class:`FrameObs`), so a second episode on the same video decodes
and analyses nothing twice. The context owns what is per episode: the question, the tool
deadline, and the set of frames this episode has looked at — ``frames_used`` counts distinct
frames per episode, cached or not, because it is the paper's efficiency metric (frames the
system needed), not a decoder statistic. Creating a context is cheap; identical calls give
identical results because perception is a pure function of the frame.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from m1.config.tools import ToolsConfig
from m1.config.video import VideoConfig
from m1.schema import Question
from m1.tools import noise
from m1.tools.perception import objects as objects_mod
from m1.tools.perception import ocr, providers, shots
from m1.tools.perception.providers import Note
from m1.video import VideoReader, fit_size

if TYPE_CHECKING:
    from m1.tools.perception.vlm import VLMBackend


class ToolTimeoutError(Exception):
    """A tool call ran past ``tools.timeout``."""


class ToolArgumentError(ValueError):
    """Arguments are valid JSON for the schema but meaningless for this video (e.g. start > end)."""


@dataclass
class FrameObs:
    """Perception of one frame; coordinates are in the video's native pixels."""

    t: float
    index: int
    objects: list[objects_mod.Detection]
    sig: shots.Signature
    caption: ocr.TextRead | None = None
    caption_done: bool = False
    faces: list[tuple[int, int, int, int]] | None = None
    people: list[tuple[int, int, int, int]] | None = None
    vlm_caption: str | None = None  # set only with tools.backend='vlm' (see ToolContext.vlm_describe)
    notes: dict[str, list[Note]] = field(default_factory=dict)  # provider name -> what it saw here
    shapes_fired: bool | None = None  # set on a noisy reading's view (m1.tools.noise): the exact frame's

    @property
    def synthetic(self) -> bool:
        """The gated shape detector fired: an M1-Synth-like frame (people/tags are not looked for)."""
        return bool(self.objects) if self.shapes_fired is None else self.shapes_fired


@dataclass
class VideoEntry:
    reader: VideoReader
    obs: dict[int, FrameObs] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    video_notes: dict[str, list[Note]] = field(default_factory=dict)  # video provider -> notes (once)
    ocr_frames: set[int] = field(default_factory=set)  # frames given full-frame OCR (bounded per video)
    clip: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)  # (clip_model, frame) -> embedding


class VideoStore:
    """Process-wide LRU of opened videos and their per-frame perception."""

    def __init__(self, video_cfg: VideoConfig | None = None, max_videos: int = 8):
        self.video_cfg = video_cfg or VideoConfig()
        self.max_videos = max_videos
        self._entries: OrderedDict[str, VideoEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str) -> VideoEntry:
        """Open (or reuse) ``path``; raises a :class:`m1.video.VideoError` on bad input."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is not None:
                self._entries.move_to_end(path)
                return entry
        entry = VideoEntry(VideoReader(path, self.video_cfg))
        with self._lock:
            self._entries[path] = entry
            while len(self._entries) > self.max_videos:
                _, old = self._entries.popitem(last=False)
                old.reader.close()
        return entry

    def evict(self, path: str) -> bool:
        """Close and forget ``path`` (e.g. a served upload about to be deleted); True if it was open."""
        with self._lock:
            entry = self._entries.pop(path, None)
        if entry is None:
            return False
        entry.reader.close()
        return True

    def close(self) -> None:
        with self._lock:
            for e in self._entries.values():
                e.reader.close()
            self._entries.clear()


_DEFAULT_STORE: VideoStore | None = None


def default_store() -> VideoStore:
    global _DEFAULT_STORE
    if _DEFAULT_STORE is None:
        _DEFAULT_STORE = VideoStore()
    return _DEFAULT_STORE


class ToolContext:
    """One episode's view of one video: question, config, frame accounting, deadline."""

    def __init__(
        self,
        video: str,
        question: Question | None = None,
        cfg: ToolsConfig | None = None,
        store: VideoStore | None = None,
    ):
        self.video = str(video)
        self.question = question
        self.cfg = cfg or ToolsConfig()
        self.store = store or default_store()
        self.seen: set[int] = set()
        self.deadline: float | None = None
        self._entry: VideoEntry | None = None
        self._active: providers.Active | None = None
        self.warnings: list[str] = []  # provider problems, surfaced in the tool's result text
        self._failed: set[str] = set()
        self.reading: noise.Reading | None = None  # the tool call in progress (set by registry.execute)

    @property
    def active(self) -> providers.Active:
        """The configured perception providers that can run (others skipped with a warning)."""
        if self._active is None:
            self._active = providers.build(self.cfg)
            for name, why in self._active.skipped.items():
                self.warn(f"provider {name} skipped: {why}")
        return self._active

    def warn(self, msg: str) -> None:
        if msg not in self.warnings:
            self.warnings.append(msg)

    @property
    def entry(self) -> VideoEntry:
        if self._entry is None:
            self._entry = self.store.get(self.video)
        return self._entry

    @property
    def reader(self) -> VideoReader:
        return self.entry.reader

    @property
    def duration(self) -> float:
        return self.reader.info.duration

    @property
    def frames_used(self) -> int:
        return len(self.seen)

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ToolTimeoutError(f"tool call exceeded tools.timeout={self.cfg.timeout} s")

    def clamp(self, t: float) -> float:
        return float(min(max(t, 0.0), max(0.0, self.duration - 1e-3)))

    def index_times(self, times: Sequence[float]) -> list[float]:
        """The presentation times of the frames on screen at ``times`` (deduplicated, sorted)."""
        r = self.reader
        return sorted({r.frame_times[r.index_at(self.clamp(t))] for t in times})

    # ------------------------------------------------------------------ looking
    def _analysis_size(self) -> tuple[int, int]:
        i = self.reader.info
        return fit_size(i.width, i.height, self.cfg.max_side)

    def images(self, times: Sequence[float]) -> list[tuple[float, int, np.ndarray]]:
        """(t, index, RGB image at analysis size) for ``times``; counts frames as used."""
        self.check_deadline()
        frames = self.reader.frames_at([self.clamp(t) for t in times], size=self._analysis_size())
        for f in frames:
            self.seen.add(f.index)
        return [(f.t, f.index, f.image) for f in frames]

    def look(self, times: Sequence[float], caption: bool = False) -> list[FrameObs]:
        """Perception of the frames on screen at ``times`` (same order), computed once per frame."""
        r = self.reader
        idxs = [r.index_at(self.clamp(t)) for t in times]
        entry = self.entry
        if len(set(idxs) - self.seen) + len(self.seen) > self.cfg.max_frames_per_call * 4:
            raise ToolArgumentError(f"episode would look at more than {self.cfg.max_frames_per_call * 4} frames")
        need = sorted({i for i in idxs if i not in entry.obs or (caption and not entry.obs[i].caption_done)})
        for i in idxs:
            self.seen.add(i)
        if need:
            self.check_deadline()
            w, _ = self._analysis_size()
            scale = r.info.width / w
            frames = r.frames_at([r.frame_times[i] for i in need], size=self._analysis_size())
            for f in frames:
                self.check_deadline()
                with entry.lock:
                    o = entry.obs.get(f.index)
                    if o is None:
                        dets = objects_mod.detect_objects(f.image) if self._shapes_on() else []
                        if scale != 1.0:
                            dets = [_rescale(d, scale) for d in dets]
                        o = FrameObs(f.t, f.index, dets, shots.signature(f.image))
                        entry.obs[f.index] = o
                    if caption and not o.caption_done:
                        o.caption = ocr.read_caption(f.image, self.cfg.caption_band)
                        o.caption_done = True
        if self.reading is None:
            return [entry.obs[i] for i in idxs]
        return [noise.view(self, entry.obs[i]) for i in idxs]  # the call's reading (tools.noise)

    def _shapes_on(self) -> bool:
        return "shapes" in self.cfg.providers

    # ------------------------------------------------------------------ other providers
    def _wants_people(self, o: FrameObs) -> bool:
        mode = self.cfg.detect_people
        return self.active.has("people") and (mode == "always" or (mode == "auto" and not o.synthetic))

    def frame_notes(self, obs: Sequence[FrameObs], ocr_text: bool = False) -> None:
        """Run the active frame providers (people, tags; full-frame OCR with ``ocr_text``) on
        ``obs`` once per frame per store. Synthetic-looking frames get neither people nor tags
        (unless ``tools.detect_people='always'``). A provider that fails on a frame is reported
        in :attr:`warnings` and skipped for the rest of the episode; the call goes on."""
        entry = self.entry
        for o in obs:
            todo = []
            for p in self.active.frame:
                if p.name in o.notes or p.name == "shapes" or p.name in self._failed:
                    continue
                if p.name == "people" and not self._wants_people(o):
                    continue
                if p.name == "tags" and o.synthetic:
                    continue
                if p.name == "ocr":
                    if not ocr_text:
                        continue
                    with entry.lock:
                        if o.index not in entry.ocr_frames and len(entry.ocr_frames) >= self.cfg.ocr_full_frames:
                            continue
                        entry.ocr_frames.add(o.index)
                todo.append(p)
            if not todo:
                continue
            self.check_deadline()
            _, _, img = self.images([o.t])[0]
            s = self.reader.info.width / img.shape[1]
            for p in todo:
                try:
                    notes = [n.at(o.t) for n in p.observe(img)]
                except Exception as e:  # noqa: BLE001 - one provider's failure must not end the episode
                    self.warn(f"provider {p.name} failed on frame {o.index}: {type(e).__name__}: {e}")
                    self._failed.add(p.name)
                    continue
                if s != 1.0:
                    notes = [_scale_note(n, s) for n in notes]
                with entry.lock:
                    o.notes[p.name] = notes
                    if p.name == "people":
                        o.people = [_xywh(n.box) for n in notes if n.kind == "person" and n.box]
                        o.faces = [_xywh(n.box) for n in notes if n.kind == "face" and n.box]
                        base = entry.obs.get(o.index)
                        if base is not None and base is not o:  # o is a noisy reading's view
                            base.people, base.faces = o.people, o.faces

    def video_notes(self) -> list[Note]:
        """What the active video providers (speech, subtitles) found, in time order. Computed once
        per video per store (subtitles: per question); a failure is a warning, not an error."""
        out: list[Note] = []
        entry = self.entry
        for p in self.active.video:
            if p.name in entry.video_notes and p.name != "subtitles":
                out += entry.video_notes[p.name]
                continue
            self.check_deadline()
            try:
                notes = p.observe_video(self.video, self.question)
            except Exception as e:  # noqa: BLE001 - e.g. a corrupt audio stream: say so, carry on
                self.warn(f"provider {p.name} failed: {type(e).__name__}: {e}")
                notes = []
            with entry.lock:
                entry.video_notes[p.name] = notes
            out += notes
        return sorted(out, key=lambda n: (n.t0, n.provider))

    # ------------------------------------------------------------------ VLM back-end
    @property
    def vlm_enabled(self) -> bool:
        return self.cfg.backend == "vlm"

    def vlm(self) -> VLMBackend:
        """The process-wide VLM of ``tools.vlm_model`` (raises ``VLMError`` when it cannot load)."""
        from m1.tools.perception.vlm import get_backend

        return get_backend(self.cfg)

    def vlm_describe(self, obs: Sequence[FrameObs]) -> None:
        """With ``tools.backend='vlm'``, give every frame in ``obs`` a VLM caption (batched, once per
        frame per store, like the other perception); with the CPU back-end, do nothing."""
        if not self.vlm_enabled:
            return
        todo = list({o.index: o for o in obs if o.vlm_caption is None}.values())
        if not todo:
            return
        model = self.vlm()
        imgs = self.images([o.t for o in todo])
        caps = model.caption([img for _, _, img in imgs])
        with self.entry.lock:
            for o, c in zip(todo, caps, strict=True):
                o.vlm_caption = c
                base = self.entry.obs.get(o.index)
                if base is not None:  # o may be a noisy reading's view
                    base.vlm_caption = c

    # ------------------------------------------------------------------ CLIP / SigLIP
    def clip_similarity(self, query: str, obs: Sequence[FrameObs]) -> np.ndarray:
        """Cosine similarity of ``query`` with each frame of ``obs`` under ``tools.clip_model``.
        Frames are embedded in batches, once per frame per store; raises ``ClipError`` when the
        key is unset or the directory is not a CLIP/SigLIP checkpoint."""
        from m1.tools.perception import clip

        if not self.cfg.clip_model:
            raise clip.ClipError(f"{clip.KEY} is not set")
        model = clip.get_model(self.cfg.clip_model)
        entry = self.entry
        todo = sorted({o.index: o for o in obs if (model.path, o.index) not in entry.clip}.values(), key=lambda o: o.t)
        if todo:
            self.check_deadline()
            by_index = {i: img for _, i, img in self.images([o.t for o in todo])}
            vecs = model.embed_images([by_index[o.index] for o in todo])
            with entry.lock:
                for o, v in zip(todo, vecs, strict=True):
                    entry.clip[(model.path, o.index)] = v
        q = model.embed_text([query])[0]
        return np.array([float(entry.clip[(model.path, o.index)] @ q) for o in obs], dtype=np.float32)

    def people(self, obs: FrameObs) -> FrameObs:
        """Add faces and people to ``obs`` (decodes the frame again through the cache)."""
        if not self.active.has("people"):
            return obs
        if obs.faces is None and self._wants_people(obs):
            self.frame_notes([obs])
        if obs.faces is None:
            from m1.tools.perception import people

            _, _, img = self.images([obs.t])[0]
            s = self.reader.info.width / img.shape[1]
            obs.faces = [tuple(int(v * s) for v in b) for b in people.detect_faces(img)]
            obs.people = [tuple(int(v * s) for v in b) for b in people.detect_people(img)]
        return obs


def _xywh(b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    return (b[0], b[1], b[2] - b[0], b[3] - b[1])


def _scale_note(n: Note, s: float) -> Note:
    if n.box is None:
        return n
    box = tuple(int(round(v * s)) for v in n.box)
    return Note(n.provider, n.text, n.score, n.t0, n.t1, box, n.kind)  # type: ignore[arg-type]


def _rescale(d: objects_mod.Detection, s: float) -> objects_mod.Detection:
    return objects_mod.Detection(
        d.colour, d.shape, d.x * s, d.y * s, int(round(d.w * s)), int(round(d.h * s)), int(d.area * s * s), d.clipped
    )
