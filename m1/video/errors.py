"""Typed errors of video input. Every failure to read a video becomes one of these with a message
that names the file and the reason; callers (tools) turn them into ``ToolResult(error=...)``."""

from __future__ import annotations


class VideoError(Exception):
    """Base of every video input error."""


class VideoNotFoundError(VideoError):
    """The path does not exist or is not a regular file."""


class UnreadableVideoError(VideoError):
    """The file is not a video FFmpeg can read (wrong format, truncated header, no video stream)."""


class CorruptVideoError(VideoError):
    """The container opened but decoding failed or ended early (truncated or damaged data)."""


class EmptyVideoError(VideoError):
    """The video stream holds no frames."""


class VideoLimitError(VideoError):
    """The video exceeds a configured limit (resolution, duration, file size)."""


class DecodeTimeoutError(VideoError):
    """Decoding took longer than ``video.decode_timeout``."""
