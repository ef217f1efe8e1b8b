"""Subtitle parsing: SubRip (``.srt``, Video-MME) and LongVideoBench's JSON subtitle lists.

Every parser returns ``(lines, bad)``: ``lines`` is a list of ``(start, end, text)`` tuples in
seconds of the *clip* (sorted by start), ``bad`` the number of entries it could not read, so
the loader can report them. Nothing here raises on malformed input.

LongVideoBench ships each clip's subtitles on the timeline of the full source video, with
``starting_timestamp_for_subtitles`` the clip's start on that timeline. Like the official
``insert_subtitles_into_frames`` we subtract it; unlike it, a ``null`` end (seen in the
``{"timestamp": [s, null]}`` form) means "until the end of the clip" *after* the shift, and
lines that fall wholly outside ``[0, duration]`` are dropped while partial ones are clipped,
so no subtitle claims speech that is not in the clip.
"""

from __future__ import annotations

import math
import re
from typing import Any

SubtitleLine = tuple[float, float, str]

_TIMECODE = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)\s*$")
_SRT_TIMING = re.compile(r"(\S+)\s*-->\s*(\S+)")


def timecode_to_seconds(value: str) -> float | None:
    """``"HH:MM:SS.mmm"``, ``"HH:MM:SS,mmm"`` or ``"MM:SS"`` → seconds; None if unreadable."""
    m = _TIMECODE.match(value) if isinstance(value, str) else None
    if not m:
        return None
    hours = int(m.group(1) or 0)
    return hours * 3600 + int(m.group(2)) * 60 + float(m.group(3).replace(",", "."))


def parse_srt(text: str) -> tuple[list[SubtitleLine], int]:
    """Parse SubRip text; blocks are separated by blank lines, the index line is optional."""
    lines: list[SubtitleLine] = []
    bad = 0
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    for block in re.split(r"\n\s*\n", text.strip()):
        rows = [r for r in block.split("\n") if r.strip()]
        if not rows:
            continue
        timing_at = next((i for i, r in enumerate(rows[:2]) if "-->" in r), None)
        if timing_at is None:
            bad += 1
            continue
        m = _SRT_TIMING.search(rows[timing_at])
        start = timecode_to_seconds(m.group(1)) if m else None
        end = timecode_to_seconds(m.group(2)) if m else None
        if start is None or end is None or end < start:
            bad += 1
            continue
        # SRT allows simple markup (<i>, <font ...>); the text is what was said, not how it looked.
        body = re.sub(r"<[^>]+>", "", " ".join(r.strip() for r in rows[timing_at + 1 :]))
        lines.append((start, end, body))
    lines.sort(key=lambda x: (x[0], x[1]))
    return lines, bad


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_lvb_subtitles(
    items: Any, starting_timestamp: float = 0.0, duration: float | None = None
) -> tuple[list[SubtitleLine], int]:
    """Parse a LongVideoBench subtitle list (either entry form), shifted onto the clip's timeline."""
    if not isinstance(items, list):
        return [], 1
    lines: list[SubtitleLine] = []
    bad = 0
    for item in items:
        if not isinstance(item, dict):
            bad += 1
            continue
        if "timestamp" in item:
            ts = item.get("timestamp")
            text = item.get("text")
            if not isinstance(ts, list | tuple) or len(ts) != 2 or _number(ts[0]) is None:
                bad += 1
                continue
            start = _number(ts[0]) - starting_timestamp
            end_raw = _number(ts[1])
            if end_raw is None and ts[1] is not None:
                bad += 1
                continue
            end = end_raw - starting_timestamp if end_raw is not None else (duration if duration is not None else start)
        else:
            s, e = item.get("start"), item.get("end")
            text = item.get("line")
            start_abs = timecode_to_seconds(s) if isinstance(s, str) else _number(s)
            end_abs = timecode_to_seconds(e) if isinstance(e, str) else _number(e)
            if start_abs is None or end_abs is None:
                bad += 1
                continue
            start, end = start_abs - starting_timestamp, end_abs - starting_timestamp
        if not isinstance(text, str) or end < start:
            bad += 1
            continue
        if duration is not None:
            if end < 0 or start > duration:
                continue  # outside the clip: not an error, just speech from elsewhere in the source
            start, end = max(start, 0.0), min(end, duration)
        lines.append((start, end, text.strip()))
    lines.sort(key=lambda x: (x[0], x[1]))
    return lines, bad
