"""Video-Holmes loader: ``test_Video-Holmes.json`` / ``train_Video-Holmes.json`` → Questions.

Records have keys with spaces (``"video ID"``, ``"Question ID"``, ``"Question Type"``) and an
``Options`` object ``{"A": …, …}`` whose letters must run A, B, C… without gaps. The qid is
``"<video ID>_<Question ID>"`` (the pair is the official unique key). ``category`` is the
question type (SR, IMC, TCI, TA, MHR, PAR, CTI); the explanation goes to ``meta``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from m1.data.loaders.base import LoadContext, as_int, as_text, enumerate_rows, letter_answer, read_records, require
from m1.data.report import RowError
from m1.schema import OPTION_LETTERS, Family, Question, TaskType

NAME = "video_holmes"
DEFAULT_SPLIT = "test"
KNOWN_FIELDS = frozenset(["video ID", "Question ID", "Question Type", "Question", "Options", "Answer", "Explanation"])


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    path = ctx.find_file([f"{ctx.split}_Video-Holmes.json", f"Benchmark/{ctx.split}_Video-Holmes.json"])
    ctx.report.files.append(str(path))
    ctx.cache["base"] = path.parent
    yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def _options(rec: dict[str, Any]) -> list[str]:
    raw = require(rec, "Options")
    if not isinstance(raw, dict) or len(raw) < 2:
        raise RowError(f"field 'Options' must be an object with >= 2 lettered options, got {raw!r}")
    letters = sorted(raw)
    if letters != list(OPTION_LETTERS[: len(letters)]) or not all(isinstance(raw[k], str) for k in letters):
        raise RowError(f"field 'Options' must map A, B, C... to strings, got keys {list(raw)}")
    return [raw[k] for k in letters]


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    video_id = as_text(rec, "video ID")
    question_id = as_int(rec, "Question ID")
    options = _options(rec)
    qtype = as_text(rec, "Question Type")
    answer = letter_answer(rec.get("Answer"), len(options), "Answer") if rec.get("Answer") is not None else None
    base = Path(ctx.cache["base"])
    return Question(
        qid=f"{video_id}_{question_id}",
        video=str(ctx.first_existing(base / "videos" / f"{video_id}.mp4", base / f"{video_id}.mp4")),
        question=as_text(rec, "Question"),
        options=options,
        answer=answer,
        task_type=TaskType.MULTIPLE_CHOICE,
        family=Family.REASONING,
        category=qtype,
        meta={
            "video_id": video_id,
            "question_id": question_id,
            "question_type": qtype,
            "explanation": rec.get("Explanation"),
        },
    )
