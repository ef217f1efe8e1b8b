"""LongVideoBench loader: ``lvb_<split>.json`` (or its parquet variant) → Questions.

Reads the official JSON records (``candidates`` list, ``correct_choice`` int) and the parquet
variant (``option0``…``option4``, absent options as the string ``"N/A"``). The test split has no
``correct_choice``: its questions load with ``answer=None`` and are reported as unlabelled.
Subtitles (``subtitles/<subtitle_path>``, either JSON entry form) are parsed into
``meta["subtitles"]`` on the clip's timeline (see :mod:`m1.data.subtitles`). M1-Synth writes this
same format for its long-video and reasoning families, with ``topic_category`` set to the family.

It does not decode videos or check that they play; only that the file exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import (
    LoadContext,
    as_float,
    as_int,
    as_text,
    as_text_list,
    enumerate_rows,
    read_records,
)
from m1.data.report import IssueKind, RowError
from m1.data.subtitles import parse_lvb_subtitles
from m1.schema import OPTION_LETTERS, Family, Question, TaskType

NAME = "longvideobench"
DEFAULT_SPLIT = "val"
KNOWN_FIELDS = frozenset(
    "video_id question question_wo_referring_query candidates correct_choice position topic_category "
    "question_category level id video_path subtitle_path duration_group starting_timestamp_for_subtitles "
    "duration view_count type option0 option1 option2 option3 option4".split()
)


def annotation_names(split: str) -> list[str]:
    names = [f"lvb_{split}.json", f"{split}/lvb_{split}.json"]
    if split == "test":
        names.insert(0, "lvb_test_wo_gt.json")
    names += [f"lvb_{split}.parquet", f"{split}.parquet"]
    names += {"val": ["validation.parquet"], "test": ["test.parquet"]}.get(split, [])
    return names


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    path = ctx.find_file(annotation_names(ctx.split))
    ctx.report.files.append(str(path))
    ctx.cache["base"] = path.parent
    yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def _candidates(rec: dict[str, Any]) -> list[str]:
    if "candidates" in rec:
        return as_text_list(rec, "candidates")
    options = [rec.get(f"option{i}") for i in range(5)]
    if any(o is not None and not isinstance(o, str) for o in options):
        raise RowError(f"options must be strings, got {options!r}")
    present = [o for o in options if o is not None and o != "N/A"]
    if len(present) < 2 or options[: len(present)] != present:
        raise RowError(f"need >= 2 leading options option0.., got {options!r}")
    return present


def _subtitles(ctx: LoadContext, where: str, rec: dict[str, Any], duration: float | None) -> list | None:
    sub_path = rec.get("subtitle_path")
    if not sub_path:
        return None
    start = as_float(rec, "starting_timestamp_for_subtitles", optional=True) or 0.0
    path = Path(ctx.cache["base"]) / "subtitles" / str(sub_path)
    key = ("lvb_subtitles", str(path), start, duration)
    if key not in ctx.cache:
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            ctx.report.add(IssueKind.MISSING_SUBTITLES, where, f"no subtitle file at {path}")
            ctx.cache[key] = None
            return None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            ctx.report.add(IssueKind.BAD_SUBTITLES, where, f"cannot read {path}: {e}")
            ctx.cache[key] = None
            return None
        lines, bad = parse_lvb_subtitles(items, start, duration)
        if bad:
            ctx.report.add(IssueKind.BAD_SUBTITLES, where, f"{bad} unreadable entries in {path}")
        ctx.cache[key] = lines
    return ctx.cache[key]


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    options = _candidates(rec)
    answer = None
    if rec.get("correct_choice") is not None:
        choice = as_int(rec, "correct_choice")
        if not 0 <= choice < len(options):
            raise RowError(f"correct_choice {choice} outside 0..{len(options) - 1}")
        answer = OPTION_LETTERS[choice]
    duration = as_float(rec, "duration", optional=True)
    topic = rec.get("topic_category") or ""
    family = Family(topic) if topic in Family._value2member_map_ else Family.LONG_VIDEO
    duration_group = rec.get("duration_group")
    meta: dict[str, Any] = {
        "video_id": rec.get("video_id"),
        "topic_category": topic,
        "question_category": rec.get("question_category") or "",
        "duration_group": str(duration_group) if duration_group is not None else "",
        "level": rec.get("level"),
        "position": rec.get("position"),
        "question_wo_referring_query": rec.get("question_wo_referring_query"),
        "starting_timestamp_for_subtitles": rec.get("starting_timestamp_for_subtitles"),
        "view_count": rec.get("view_count"),
    }
    subtitles = _subtitles(ctx, where, rec, duration)
    if subtitles is not None:
        meta["subtitles"] = subtitles
    return Question(
        qid=as_text(rec, "id"),
        video=str(Path(ctx.cache["base"]) / "videos" / as_text(rec, "video_path")),
        question=as_text(rec, "question"),
        options=options,
        answer=answer,
        task_type=TaskType.MULTIPLE_CHOICE,
        family=family,
        category=meta["question_category"],
        duration=duration,
        meta=meta,
    )
