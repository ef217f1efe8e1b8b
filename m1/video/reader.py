"""Open a video with PyAV, describe it, and decode frames at requested timestamps.

What it does:
- opens the containers the project supports (:data:`CONTAINERS`: MP4/QuickTime, Matroska/WebM,
  AVI; any codec FFmpeg decodes in them, e.g. H.264, MPEG-4 part 2, MJPEG, VP9) and checks it
  against :class:`m1.config.video.VideoConfig` limits, raising a typed :mod:`m1.video.errors`
  error for a missing file, a non-video, a corrupt/truncated file, an empty stream, or a video
  beyond the limits;
- builds a frame index by demuxing packets (no decoding): exact frame count, presentation times,
  keyframe positions — cheap (about a millisecond per thousand packets);
- :meth:`VideoReader.frames_at` maps each timestamp to the frame on screen at that time and
  decodes it with a keyframe-aware strategy: seek only when the next target lies beyond the
  next keyframe, otherwise keep decoding forward; ``keyframes_only=True`` snaps each target to
  the nearest keyframe (one decoded frame per target). Frames come back RGB uint8, resized on the
  decoder's scaler, counted in a :class:`FrameCounter` and cached in a :class:`FrameCache`.

What it does not do: audio, subtitles, variable-frame-rate repair, or network streams. The
decode time limit is checked between frames: one frame cannot hang but a pathological single
frame is not interrupted.

Videos may come from untrusted clients (serving), so a file is never handed to FFmpeg's format
probe: the demuxer is chosen here from the file's first bytes (:func:`sniff_container`), never
from its name, and FFmpeg is told to use only that demuxer family (``format_whitelist``) and only
the local-file protocol (``protocol_whitelist=file``), with QuickTime's external references off
(``enable_drefs=0``). A playlist or a list of files (HLS ``.m3u8``, ``ffconcat``), a text file
FFmpeg would "play", or a container naming other files or URLs is refused before FFmpeg reads
anything but its first bytes, so a video can never make the decoder open another file.
OpenCV's ``VideoCapture`` (FFmpeg with its default probing) is deliberately not used for input.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from m1.config.video import VideoConfig
from m1.video.cache import FrameCache, FrameCounter
from m1.video.errors import (
    CorruptVideoError,
    DecodeTimeoutError,
    EmptyVideoError,
    UnreadableVideoError,
    VideoLimitError,
    VideoNotFoundError,
)

_HASH_CHUNK = 1 << 20

# The supported containers: FFmpeg demuxer -> what it reads. Each is self-contained (Matroska's
# linked segments and AVI's ODML indexes never open another file; QuickTime's data references
# could, and are turned off below).
CONTAINERS = {"mov": "MP4/QuickTime (.mp4, .mov, .m4v)", "matroska": "Matroska/WebM (.mkv, .webm)", "avi": "AVI"}
# the demuxers' full FFmpeg names (what VideoInfo.container reports, as when FFmpeg probed the format)
_FULL_NAMES = {"mov": "mov,mp4,m4a,3gp,3g2,mj2", "matroska": "matroska,webm", "avi": "avi"}
# top-level atoms an MP4/QuickTime file may start with
_MOV_ATOMS = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
# what FFmpeg may do while opening one of them: this demuxer family only, local files only
_OPEN_OPTIONS = {"protocol_whitelist": "file", "format_whitelist": ",".join(CONTAINERS)}
_MOV_OPTIONS = {"enable_drefs": "0", "use_absolute_path": "0"}


def sniff_container(head: bytes) -> str | None:
    """The FFmpeg demuxer (a key of :data:`CONTAINERS`) for a file starting with ``head`` (its first
    16 bytes or more), or None when it is none of the supported containers."""
    if len(head) >= 8 and head[4:8] in _MOV_ATOMS:
        return "mov"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML magic: Matroska and WebM
        return "matroska"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of an opened video; times in seconds from the first frame."""

    path: str
    content_hash: str
    container: str
    codec: str
    width: int
    height: int
    fps: float
    duration: float
    frame_count: int
    keyframe_times: tuple[float, ...]

    def summary(self) -> str:
        return (
            f"{Path(self.path).name}: {self.codec} {self.width}x{self.height} {self.fps:.3g} fps, "
            f"{self.duration:.1f} s, {self.frame_count} frames, {len(self.keyframe_times)} keyframes"
        )


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its presentation time, its index in display order, RGB pixels."""

    t: float
    index: int
    image: np.ndarray


def content_hash(path: str | Path) -> str:
    """Hash of size + first and last MiB: identifies content cheaply even for multi-GB files."""
    h = hashlib.blake2b(digest_size=12)
    size = os.path.getsize(path)
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(_HASH_CHUNK))
        if size > 2 * _HASH_CHUNK:
            f.seek(-_HASH_CHUNK, os.SEEK_END)
            h.update(f.read(_HASH_CHUNK))
    return h.hexdigest()


def fit_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """Scale (width, height) so the longer side is at most ``max_side``; keep even sizes."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(2, int(round(width * s / 2)) * 2), max(2, int(round(height * s / 2)) * 2)


class VideoReader:
    """A seekable view of one video file. Not thread-safe: use one reader per worker."""

    def __init__(
        self,
        path: str | Path,
        cfg: VideoConfig | None = None,
        cache: FrameCache | None = None,
        counter: FrameCounter | None = None,
    ):
        self.cfg = cfg or VideoConfig()
        self.counter = counter if counter is not None else FrameCounter()
        self.cache = cache if cache is not None else FrameCache(int(self.cfg.cache_mb * 2**20))
        path = Path(path)
        if not path.exists():
            raise VideoNotFoundError(f"video {str(path)!r} does not exist")
        if not path.is_file():
            raise VideoNotFoundError(f"video {str(path)!r} is not a regular file")
        size_mb = path.stat().st_size / 2**20
        if size_mb > self.cfg.max_file_mb:
            raise VideoLimitError(
                f"video {str(path)!r} is {size_mb:.0f} MiB > video.max_file_mb={self.cfg.max_file_mb}"
            )
        if size_mb == 0:
            raise UnreadableVideoError(f"video {str(path)!r} is an empty file")
        self.path = str(path)
        with open(path, "rb") as f:
            fmt = sniff_container(f.read(16))
        if fmt is None:
            raise UnreadableVideoError(
                f"{str(path)!r} is not a readable video: not a supported video container (supported: "
                f"{', '.join(CONTAINERS.values())})"
            )
        self._format = fmt
        options = _OPEN_OPTIONS | (_MOV_OPTIONS if fmt == "mov" else {})
        try:
            # "file:" + an absolute path: a name like "concat:a|b" or "http:x" is never read as a protocol
            self._container = av.open("file:" + os.path.abspath(self.path), mode="r", format=fmt, options=options)
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
            raise UnreadableVideoError(f"{str(path)!r} is not a readable video: {e}") from None
        try:
            self.info = self._probe()
        except BaseException:
            self._container.close()
            raise
        self._decoder = None  # iterator over decoded frames, positioned after self._pos
        self._pos: int | None = None

    # ------------------------------------------------------------------ probing
    def _probe(self) -> VideoInfo:
        c = self._container
        if not c.streams.video:
            raise UnreadableVideoError(f"{self.path!r} has no video stream ({_FULL_NAMES[self._format]})")
        st = c.streams.video[0]
        cc = st.codec_context
        w, h = int(cc.width or 0), int(cc.height or 0)
        if w <= 0 or h <= 0:
            raise UnreadableVideoError(f"{self.path!r}: video stream has no frame size ({w}x{h})")
        if w > self.cfg.max_width or h > self.cfg.max_height:
            raise VideoLimitError(
                f"{self.path!r} is {w}x{h}, beyond video.max_width x max_height = "
                f"{self.cfg.max_width}x{self.cfg.max_height}"
            )
        meta_duration = (c.duration or 0) / av.time_base
        if meta_duration > self.cfg.max_duration:
            raise VideoLimitError(
                f"{self.path!r} lasts {meta_duration:.0f} s > video.max_duration={self.cfg.max_duration}"
            )
        self._stream = st
        self._tb = float(st.time_base) if st.time_base else 1.0 / 90000
        if self.cfg.threads != 1:
            cc.thread_type = "AUTO"
            cc.thread_count = self.cfg.threads
        rate = st.average_rate or st.base_rate or st.guessed_rate
        fps = float(rate) if rate else 0.0

        # Index by demuxing only. A truncated file ends the scan early: the index then describes
        # the data that is really there, which is what decoding will find.
        deadline = time.monotonic() + self.cfg.decode_timeout
        stamps: list[tuple[int, bool]] = []
        seq = 0
        try:
            for pkt in c.demux(st):
                if pkt.size == 0:
                    continue
                ts = pkt.pts if pkt.pts is not None else pkt.dts
                stamps.append((ts if ts is not None else seq, bool(pkt.is_keyframe)))
                seq += 1
                if seq % 4096 == 0 and time.monotonic() > deadline:
                    raise DecodeTimeoutError(f"{self.path!r}: indexing exceeded {self.cfg.decode_timeout} s")
        except av.error.FFmpegError:
            pass  # keep the packets read before the damage
        if not stamps:
            raise EmptyVideoError(f"{self.path!r}: the video stream holds no frames")
        if all(ts == i for i, (ts, _) in enumerate(stamps)) and fps > 0 and st.time_base is not None:
            # No timestamps at all: derive them from the frame rate.
            stamps = [(int(round(i / fps / self._tb)), k) for i, (_, k) in enumerate(stamps)]
        stamps.sort()
        t0 = stamps[0][0]
        self._start_pts = t0
        self._pts = [p for p, _ in stamps]
        self._times = [(p - t0) * self._tb for p in self._pts]
        self._key_idx = [i for i, (_, k) in enumerate(stamps) if k] or [0]
        if fps <= 0:
            span = self._times[-1] - self._times[0]
            fps = (len(self._times) - 1) / span if span > 0 else 1.0
        duration = self._times[-1] + 1.0 / fps
        if duration > self.cfg.max_duration:
            raise VideoLimitError(f"{self.path!r} lasts {duration:.0f} s > video.max_duration={self.cfg.max_duration}")
        return VideoInfo(
            path=self.path,
            content_hash=content_hash(self.path),
            container=_FULL_NAMES[self._format],
            codec=cc.name,
            width=w,
            height=h,
            fps=fps,
            duration=duration,
            frame_count=len(self._times),
            keyframe_times=tuple(self._times[i] for i in self._key_idx),
        )

    # ------------------------------------------------------------------ lookup
    @property
    def frame_times(self) -> list[float]:
        return list(self._times)

    def index_at(self, t: float) -> int:
        """Index of the frame on screen at time ``t`` (clamped to the video)."""
        i = bisect.bisect_right(self._times, t + 1e-6) - 1
        return min(max(i, 0), len(self._times) - 1)

    def nearest_keyframe(self, index: int) -> int:
        j = bisect.bisect_left(self._key_idx, index)
        cands = [self._key_idx[k] for k in (j - 1, j) if 0 <= k < len(self._key_idx)]
        return min(cands, key=lambda k: (abs(self._times[k] - self._times[index]), k))

    def uniform_times(self, n: int, start: float = 0.0, end: float | None = None) -> list[float]:
        """``n`` timestamps at the centres of ``n`` equal slices of [start, end]."""
        end = self.info.duration if end is None else end
        start, end = max(0.0, start), min(self.info.duration, end)
        if n <= 0 or end <= start:
            return []
        step = (end - start) / n
        return [start + step * (i + 0.5) for i in range(n)]

    # ------------------------------------------------------------------ decoding
    def frames_at(
        self,
        times: Sequence[float],
        size: tuple[int, int] | None = None,
        max_side: int | None = None,
        keyframes_only: bool = False,
    ) -> list[Frame]:
        """Frames on screen at ``times`` (same order; duplicates allowed), RGB uint8.

        ``size=(w, h)`` resizes exactly; otherwise ``max_side`` bounds the longer side (None:
        native size). Raises :class:`CorruptVideoError` or :class:`DecodeTimeoutError`.
        """
        if size is None:
            size = fit_size(self.info.width, self.info.height, max_side)
        w, h = int(size[0]), int(size[1])
        if w < 2 or h < 2 or w > self.cfg.max_width or h > self.cfg.max_height:
            raise VideoLimitError(
                f"requested frame size {w}x{h} is outside 2..{self.cfg.max_width}x{self.cfg.max_height}"
            )
        wanted = []
        for t in times:
            t = float(t)
            if not np.isfinite(t):
                raise ValueError(f"timestamp {t!r} is not a finite number")
            i = self.index_at(t)
            wanted.append(self.nearest_keyframe(i) if keyframes_only else i)
        got: dict[int, np.ndarray] = {}
        missing = []
        for i in sorted(set(wanted)):
            img = self.cache.get(self._key(i, w, h))
            if img is None:
                missing.append(i)
            else:
                got[i] = img
                self.counter.cache_hits += 1
        if missing:
            got.update(self._decode(missing, w, h))
        self.counter.delivered += len(missing)
        return [Frame(t=self._times[i], index=i, image=got[i]) for i in wanted]

    def _key(self, i: int, w: int, h: int) -> tuple[str, float, tuple[int, int]]:
        return (self.info.content_hash, round(self._times[i], 6), (w, h))

    def _seek(self, index: int) -> None:
        try:
            self._container.seek(self._pts[index], backward=True, any_frame=False, stream=self._stream)
        except av.error.FFmpegError as e:
            raise CorruptVideoError(f"{self.path!r}: cannot seek to t={self._times[index]:.2f} s: {e}") from None
        self._decoder = self._container.decode(self._stream)
        self._pos = None
        self.counter.seeks += 1

    def _decode(self, indices: list[int], w: int, h: int) -> dict[int, np.ndarray]:
        deadline = time.monotonic() + self.cfg.decode_timeout
        out: dict[int, np.ndarray] = {}
        for target in indices:
            kf = self._key_idx[max(0, bisect.bisect_right(self._key_idx, target) - 1)]
            if self._decoder is None or self._pos is None or target <= self._pos or kf > self._pos:
                self._seek(kf)
            while True:
                if time.monotonic() > deadline:
                    raise DecodeTimeoutError(
                        f"{self.path!r}: decoding {len(indices)} frames exceeded video.decode_timeout="
                        f"{self.cfg.decode_timeout} s"
                    )
                try:
                    frame = next(self._decoder)
                except StopIteration:
                    self._decoder = None
                    raise CorruptVideoError(
                        f"{self.path!r}: stream ended before frame {target} (t={self._times[target]:.2f} s); "
                        "the file is truncated or damaged"
                    ) from None
                except av.error.FFmpegError as e:
                    self._decoder = None
                    raise CorruptVideoError(
                        f"{self.path!r}: decoding failed near t={self._times[target]:.2f} s: {e}"
                    ) from None
                self.counter.decoded += 1
                pos = self._frame_index(frame)
                self._pos = pos
                if pos >= target:
                    # Own compact pixels: to_ndarray may return a view of a frame buffer (with row padding)
                    # that outlives nothing we control; cached frames are read later, from other threads.
                    img = np.array(frame.to_ndarray(format="rgb24", width=w, height=h), copy=True)
                    self.cache.put(self._key(target, w, h), img)
                    out[target] = img
                    break
        return out

    def _frame_index(self, frame: av.VideoFrame) -> int:
        ts = frame.pts if frame.pts is not None else frame.dts
        if ts is None:
            return (self._pos + 1) if self._pos is not None else 0
        t = (ts - self._start_pts) * self._tb
        # Nearest indexed time: decoders may round pts by a tick.
        i = bisect.bisect_left(self._times, t)
        if i > 0 and (i == len(self._times) or t - self._times[i - 1] < self._times[i] - t):
            i -= 1
        return min(i, len(self._times) - 1)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._decoder = None
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
