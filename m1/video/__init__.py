"""Video input: open, describe, and decode frames by timestamp, with accounting and caching.

Stable interface (the tools and the CPP runtime build on it)::

    from m1.video import VideoReader, VideoError
    with VideoReader(path, cfg.video) as v:      # raises a VideoError subclass on bad input
        v.info.duration, v.info.fps, v.info.keyframe_times
        frames = v.frames_at([1.0, 2.5], max_side=640)   # list[Frame(t, index, image RGB)]
        v.counter.snapshot()  # decoded / delivered / cache_hits / seeks

Errors: :class:`VideoNotFoundError`, :class:`UnreadableVideoError`, :class:`CorruptVideoError`,
:class:`EmptyVideoError`, :class:`VideoLimitError`, :class:`DecodeTimeoutError` (all
:class:`VideoError`). Nothing here imports Ray or does perception.
"""

from __future__ import annotations

from m1.video.cache import FrameCache, FrameCounter
from m1.video.errors import (
    CorruptVideoError,
    DecodeTimeoutError,
    EmptyVideoError,
    UnreadableVideoError,
    VideoError,
    VideoLimitError,
    VideoNotFoundError,
)
from m1.video.reader import Frame, VideoInfo, VideoReader, content_hash, fit_size
from m1.video.writer import write_video

__all__ = [
    "CorruptVideoError",
    "DecodeTimeoutError",
    "EmptyVideoError",
    "Frame",
    "FrameCache",
    "FrameCounter",
    "UnreadableVideoError",
    "VideoError",
    "VideoInfo",
    "VideoLimitError",
    "VideoNotFoundError",
    "VideoReader",
    "content_hash",
    "fit_size",
    "write_video",
]
