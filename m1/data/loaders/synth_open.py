"""M1-Synth's open-ended questions: ``open_ended_<split>.jsonl`` → Questions.

No real benchmark asks for a list scored item by item, so M1-Synth writes this family in its own
small form (:func:`m1.synth.formats.open_record`), one JSON object a line:
``id, video_id, question, answer ("a, b, c"), metric ("set" | "sequence"), category, duration``.
The metric goes to ``meta["open_metric"]``, which makes :func:`m1.data.scoring.score_question`
score the question by item F1. Videos: ``videos/<video_id>.mp4``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from m1.data.loaders.base import LoadContext, as_float, as_text, enumerate_rows, read_records
from m1.data.metrics import OPEN_METRICS, answer_items
from m1.data.report import RowError
from m1.schema import Family, Question, TaskType

NAME = "m1_synth_open"
DEFAULT_SPLIT = "test"
KNOWN_FIELDS = frozenset(["id", "video_id", "question", "answer", "metric", "category", "duration"])


def records(ctx: LoadContext) -> Iterator[tuple[str, Any]]:
    path = ctx.find_file([f"open_ended_{ctx.split}.jsonl"])
    ctx.report.files.append(str(path))
    yield from enumerate_rows(path, read_records(path), ctx.data_dir)


def convert(ctx: LoadContext, where: str, rec: dict[str, Any]) -> Question:
    video_id = as_text(rec, "video_id")
    answer = as_text(rec, "answer")
    if not answer_items(answer):
        raise RowError(f"field 'answer' has no items: {answer!r}")
    metric = as_text(rec, "metric")
    if metric not in OPEN_METRICS:
        raise RowError(f"field 'metric' must be one of {OPEN_METRICS}, got {metric!r}")
    return Question(
        qid=as_text(rec, "id"),
        video=str(ctx.data_dir / "videos" / f"{video_id}.mp4"),
        question=as_text(rec, "question"),
        answer=answer,
        task_type=TaskType.OPEN_ENDED,
        family=Family.OPEN_ENDED,
        category=as_text(rec, "category"),
        duration=as_float(rec, "duration", optional=True),
        meta={"video_id": video_id, "open_metric": metric},
    )
