"""Settings of video decoding: limits that turn absurd input into typed errors, the frame cache,
the decode time limit (see :mod:`m1.video`)."""

from __future__ import annotations

from pydantic import Field

from m1.config.base import StrictModel


class VideoConfig(StrictModel):
    """Limits and caching of :class:`m1.video.VideoReader`. Exceeding a limit raises
    :class:`m1.video.VideoLimitError`; it never truncates silently."""

    max_width: int = Field(7680, ge=16, description="Widest accepted frame, pixels (8K).")
    max_height: int = Field(4320, ge=16, description="Tallest accepted frame, pixels (8K).")
    max_duration: float = Field(4 * 3600.0, gt=0, description="Longest accepted video, seconds.")
    max_file_mb: float = Field(20_000.0, gt=0, description="Largest accepted file, MiB.")
    decode_timeout: float = Field(
        60.0, gt=0, description="Wall-clock limit of one frames_at() call, seconds (never hang)."
    )
    cache_mb: float = Field(256.0, ge=0, description="Frame cache budget per reader, MiB (0 disables).")
    max_side: int = Field(
        640, ge=32, le=7680, description="Default resize for tools: the longer side is scaled down to this."
    )
    threads: int = Field(1, ge=0, le=64, description="Decoder threads (0 = FFmpeg's choice); 1 on shared CPUs.")
