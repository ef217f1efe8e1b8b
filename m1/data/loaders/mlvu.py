"""MLVU (dev) loader: the lmms-eval JSON/parquet records → Questions.

Records: ``video_name, duration, question (options appended), candidates, answer, task_type,
question_id``. The options appended to ``question`` (``(A) …`` lines) are removed from the
question text (they are in ``options``); the original text stays in ``meta["raw_question"]``.
``answer`` is a letter; the original MLVU release gives the option *text* instead, which is
mapped to its letter. ``category`` is ``task_type``, the unit of M-Avg.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import (
    LoadContext,
    as_float,
    as_text,
    as_text_list,
    enumerate_rows,
    letter_answer,
    read_records,
    require,
)
from m1.schema import OPTION_LETTERS, Family, Question, TaskType

NAME = "mlvu"
DEFAULT_SPLIT = "dev"
KNOWN_FIELDS = frozenset(["video_name", "duration", "question", "candidates", "answer", "task_type", "question_id"])
_APPENDED_OPTION = re.compile(r"^\s*\(?[A-J][\).]\s")


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    names = [f"mlvu_{ctx.split}.json", f"{ctx.split}.json", f"{ctx.split}-00000-of-00001.parquet"]
    path = ctx.find_file(names)
    ctx.report.files.append(str(path))
    ctx.cache["base"] = path.parent
    yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def strip_appended_options(question: str) -> str:
    lines = question.rstrip().split("\n")
    while len(lines) > 1 and _APPENDED_OPTION.match(lines[-1]):
        lines.pop()
    return "\n".join(lines).strip()


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    options = as_text_list(rec, "candidates")
    raw_answer = require(rec, "answer")
    if isinstance(raw_answer, str) and raw_answer.strip() in options and raw_answer.strip() not in OPTION_LETTERS:
        answer = OPTION_LETTERS[options.index(raw_answer.strip())]
    else:
        answer = letter_answer(raw_answer, len(options))
    task = as_text(rec, "task_type")
    raw_question = as_text(rec, "question")
    qid = str(rec["question_id"]) if rec.get("question_id") is not None else where
    base = Path(ctx.cache["base"])
    name = as_text(rec, "video_name")
    return Question(
        qid=qid,
        video=str(ctx.first_existing(base / name, base / "videos" / name, base / "video" / name)),
        question=strip_appended_options(raw_question),
        options=options,
        answer=answer,
        task_type=TaskType.MULTIPLE_CHOICE,
        family=Family.LONG_VIDEO,
        category=task,
        duration=as_float(rec, "duration", optional=True),
        meta={"task_type": task, "raw_question": raw_question, "video_name": name},
    )
