"""Video-MME loader: ``videomme/test-00000-of-00001.parquet`` (or a JSON list) → Questions.

Rows: ``video_id, duration (short|medium|long), domain, sub_category, url, videoID,
question_id, task_type, question, options (["A. …", …]), answer``. Videos are
``data/<videoID>.mp4`` (or ``videos/``); subtitles ``subtitle/<videoID>.srt`` are parsed into
``meta["subtitles"]``. Not every Video-MME video has subtitles, so a missing ``.srt`` is
reported only when a subtitle folder exists at all. ``category`` is ``task_type``; duration,
domain and sub-category are in ``meta`` for the official per-group breakdowns.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import (
    LoadContext,
    as_text,
    as_text_list,
    enumerate_rows,
    letter_answer,
    read_records,
    strip_letter_prefixes,
)
from m1.data.report import IssueKind, RowError
from m1.data.subtitles import parse_srt
from m1.schema import Family, Question, TaskType

NAME = "videomme"
DEFAULT_SPLIT = "test"
DURATIONS = frozenset(["short", "medium", "long"])
KNOWN_FIELDS = frozenset(
    "video_id duration domain sub_category url videoID question_id task_type question options answer".split()
)


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    names = [
        f"videomme/{ctx.split}-00000-of-00001.parquet",
        f"{ctx.split}-00000-of-00001.parquet",
        f"videomme_{ctx.split}.json",
        f"{ctx.split}.json",
    ]
    path = ctx.find_file(names)
    ctx.report.files.append(str(path))
    # The parquet sits in videomme/, the media beside that folder.
    ctx.cache["base"] = path.parent.parent if path.parent.name == "videomme" else path.parent
    yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def _subtitles(ctx: LoadContext, where: str, video_name: str) -> list | None:
    folder = Path(ctx.cache["base"]) / "subtitle"
    if not folder.is_dir():
        return None
    path = folder / f"{video_name}.srt"
    key = ("srt", str(path))
    if key not in ctx.cache:
        if not path.is_file():
            ctx.report.add(IssueKind.MISSING_SUBTITLES, where, f"no subtitle file at {path}")
            ctx.cache[key] = None
        else:
            try:
                lines, bad = parse_srt(path.read_text(encoding="utf-8", errors="replace"))
            except OSError as e:
                ctx.report.add(IssueKind.BAD_SUBTITLES, where, f"cannot read {path}: {e}")
                lines, bad = None, 0
            if bad:
                ctx.report.add(IssueKind.BAD_SUBTITLES, where, f"{bad} unreadable blocks in {path}")
            ctx.cache[key] = lines
    return ctx.cache[key]


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    options = strip_letter_prefixes(as_text_list(rec, "options"))
    duration = as_text(rec, "duration")
    if duration not in DURATIONS:
        raise RowError(f"field 'duration' must be one of {sorted(DURATIONS)}, got {duration!r}")
    video_name = as_text(rec, "videoID")
    task = as_text(rec, "task_type")
    base = Path(ctx.cache["base"])
    meta: dict[str, Any] = {
        "video_id": rec.get("video_id"),
        "videoID": video_name,
        "duration": duration,
        "domain": rec.get("domain") or "",
        "sub_category": rec.get("sub_category") or "",
        "task_type": task,
    }
    subtitles = _subtitles(ctx, where, video_name)
    if subtitles is not None:
        meta["subtitles"] = subtitles
    return Question(
        qid=as_text(rec, "question_id"),
        video=str(ctx.first_existing(base / "data" / f"{video_name}.mp4", base / "videos" / f"{video_name}.mp4")),
        question=as_text(rec, "question"),
        options=options,
        answer=letter_answer(rec.get("answer"), len(options)),
        task_type=TaskType.MULTIPLE_CHOICE,
        family=Family.LONG_VIDEO,
        category=task,
        meta=meta,
    )
