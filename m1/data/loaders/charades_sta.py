"""Charades-STA loader: ``charades_sta_<split>.txt`` lines or the lmms-eval parquet → Questions.

Text lines are ``VIDEOID START END##sentence`` (e.g. ``3MSZA 24.3 30.4##person turn a light on.``);
the parquet has ``video ("3MSZA.mp4"), caption, timestamp ([start, end])``. The same video and
sentence can occur on several lines, so the qid is ``"<VIDEOID>#<row index>"``. The answer is
``"start end"`` in seconds. Videos: ``videos/``, ``Charades_v1_480/`` or the data dir.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import LoadContext, as_text, enumerate_rows, read_records, require
from m1.data.report import RowError
from m1.schema import Family, Question, TaskType

NAME = "charades_sta"
DEFAULT_SPLIT = "test"
KNOWN_FIELDS = frozenset(["video", "caption", "timestamp", "__line__"])


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    names = [
        f"charades_sta_{ctx.split}.txt",
        f"{ctx.split}/charades_sta_{ctx.split}.txt",
        f"{ctx.split}-00000-of-00001.parquet",
        f"data/{ctx.split}-00000-of-00001.parquet",
        f"{ctx.split}.parquet",
    ]
    path = ctx.find_file(names)
    ctx.report.files.append(str(path))
    ctx.cache["base"] = path.parent
    if path.suffix == ".txt":
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        yield from enumerate_rows(path, [{"__line__": ln} for ln in lines], ctx.data_dir)
    else:
        yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def _parse_line(line: str) -> tuple[str, float, float, str]:
    head, sep, sentence = line.partition("##")
    parts = head.split()
    if not sep or len(parts) != 3 or not sentence.strip():
        raise RowError(f"expected 'VIDEOID START END##sentence', got {line!r}")
    try:
        return parts[0], float(parts[1]), float(parts[2]), sentence.strip()
    except ValueError:
        raise RowError(f"start/end must be numbers, got {parts[1]!r} {parts[2]!r}") from None


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    if "__line__" in rec:
        video_id, start, end, caption = _parse_line(rec["__line__"])
    else:
        video_id = as_text(rec, "video").removesuffix(".mp4")
        caption = as_text(rec, "caption")
        stamp = require(rec, "timestamp")
        if not isinstance(stamp, list | tuple) or len(stamp) != 2:
            raise RowError(f"field 'timestamp' must be [start, end], got {stamp!r}")
        try:
            start, end = float(stamp[0]), float(stamp[1])
        except (TypeError, ValueError, OverflowError):
            raise RowError(f"field 'timestamp' must hold numbers, got {stamp!r}") from None
    if not (math.isfinite(start) and math.isfinite(end)) or not 0 <= start <= end:
        raise RowError(f"need 0 <= start <= end, got {start} {end}")
    index = where.rsplit("[", 1)[-1].rstrip("]")
    base = Path(ctx.cache["base"])
    video = ctx.first_existing(
        base / "videos" / f"{video_id}.mp4", base / "Charades_v1_480" / f"{video_id}.mp4", base / f"{video_id}.mp4"
    )
    return Question(
        qid=f"{video_id}#{index}",
        video=str(video),
        question=caption,
        answer=f"{start!r} {end!r}",
        task_type=TaskType.GROUNDING,
        family=Family.GROUNDING,
        category="grounding",
        meta={"video_id": video_id, "caption": caption},
    )
