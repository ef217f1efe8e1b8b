"""EgoSchema loader: ``questions.json`` + ``subset_answers.json`` → Questions.

``questions.json`` is a list of ``{q_uid, google_drive_id, question, "option 0" … "option 4"}``;
``subset_answers.json`` maps ``q_uid`` → the correct option index (0–4) for the 500 publicly
answered questions. Split ``"subset"`` (default) loads exactly those; split ``"full"`` loads all
questions, the unanswered ones with ``answer=None`` (reported as unlabelled). An answer whose
``q_uid`` has no question is reported as a malformed row. Videos: ``videos/<q_uid>.mp4``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import LoadContext, as_int, as_text, enumerate_rows, read_records
from m1.data.report import DataError, RowError
from m1.schema import OPTION_LETTERS, Family, Question, TaskType

NAME = "egoschema"
DEFAULT_SPLIT = "subset"
OPTION_KEYS = tuple(f"option {i}" for i in range(5))
KNOWN_FIELDS = frozenset(["q_uid", "google_drive_id", "question", *OPTION_KEYS, "__answer__", "__orphan__"])


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    if ctx.split not in ("subset", "full"):
        raise DataError(f"egoschema: unknown split {ctx.split!r}; use 'subset' or 'full'")
    qpath = ctx.find_file(["questions.json"])
    apath = ctx.find_file(["subset_answers.json"])
    ctx.report.files += [str(qpath), str(apath)]
    ctx.cache["base"] = qpath.parent
    try:
        answers = json.loads(apath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"cannot read {apath}: {e}") from e
    if not isinstance(answers, dict):
        raise DataError(f"{apath}: expected an object {{q_uid: index}}, got {type(answers).__name__}")
    seen: set[str] = set()
    for where, rec in enumerate_rows(qpath, read_records(qpath), ctx.data_dir):
        uid = rec.get("q_uid") if isinstance(rec, dict) else None
        if isinstance(uid, str):
            seen.add(uid)
            if uid in answers:
                rec = {**rec, "__answer__": answers[uid]}
            elif ctx.split == "subset":
                continue  # outside the answered subset by definition, not a problem
        yield where, rec
    for uid in answers:
        if uid not in seen:
            yield f"subset_answers.json[{uid}]", {"q_uid": uid, "__orphan__": True}


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    uid = as_text(rec, "q_uid")
    if rec.get("__orphan__"):
        raise RowError(f"answer for q_uid {uid!r} has no question in questions.json")
    options = [as_text(rec, k) for k in OPTION_KEYS]
    answer = None
    if "__answer__" in rec:
        index = as_int(rec, "__answer__")
        if not 0 <= index < len(options):
            raise RowError(f"answer index {index} outside 0..4")
        answer = OPTION_LETTERS[index]
    return Question(
        qid=uid,
        video=str(Path(ctx.cache["base"]) / "videos" / f"{uid}.mp4"),
        question=as_text(rec, "question"),
        options=options,
        answer=answer,
        task_type=TaskType.MULTIPLE_CHOICE,
        family=Family.LONG_VIDEO,
        category="egoschema",
        duration=180.0,  # every EgoSchema clip is three minutes long
        meta={"google_drive_id": rec.get("google_drive_id")},
    )
