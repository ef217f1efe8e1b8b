"""Scoring: parse each raw prediction by its question's task type, score it, aggregate officially.

``score_question`` turns one free-text prediction into a score in [0, 1] (correct choice,
MRA, IoU, open-answer match); ``aggregate`` builds the report a benchmark publishes. Reports
are in **percent** (0–100), like the papers; the unparseable count (answers a parser could not
read, scored 0) and the missing count (questions with no prediction, also scored 0) are
always reported. Questions without ground truth are not scored and are counted separately.
This module does not know how predictions are produced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from m1.data import metrics
from m1.data.answers import parse_choice, parse_interval, parse_number, parse_numbers
from m1.schema import Question, TaskType


@dataclass(frozen=True)
class QuestionScore:
    qid: str
    score: float  # 0..1: correct choice, MRA, IoU or open-answer match
    parsed: Any  # the letter / number / (start, end) / text read from the prediction; None if unparseable
    missing: bool = False  # no prediction at all

    @property
    def parseable(self) -> bool:
        return self.parsed is not None


def gold_interval(answer: str) -> tuple[float, float]:
    start, end = (float(x) for x in answer.split())
    return start, end


def score_question(q: Question, prediction: str | None) -> QuestionScore:
    """Score one prediction against a labelled question (``q.answer`` must not be None)."""
    if q.answer is None:
        raise ValueError(f"question {q.qid} has no ground truth to score against")
    if prediction is None:
        return QuestionScore(q.qid, 0.0, None, missing=True)
    if q.task_type == TaskType.MULTIPLE_CHOICE:
        letter = parse_choice(prediction, q.options)
        return QuestionScore(q.qid, float(letter == q.answer), letter)
    if q.task_type == TaskType.NUMERIC:
        value = parse_number(prediction)
        return QuestionScore(q.qid, metrics.mean_relative_accuracy(value, float(q.answer)), value)
    if q.task_type == TaskType.GROUNDING:
        interval = parse_interval(prediction)
        return QuestionScore(q.qid, metrics.temporal_iou(interval, gold_interval(q.answer)), interval)
    # Open-ended (VideoMMMU "open"): numbers compared at 2 decimals, text by normalised containment.
    try:
        gold_number = float(q.answer)
    except ValueError:
        gold_number = None
    if gold_number is not None:
        # MMMU-style: every number in the answer part is a candidate; any match is correct.
        values = parse_numbers(prediction)
        hit = any(metrics.normalised_number_match(v, gold_number) for v in values)
        return QuestionScore(q.qid, float(hit), values or None)
    text = prediction.strip() or None
    return QuestionScore(q.qid, float(metrics.normalised_text_match(text, q.answer)), text)


def _pct(groups: Mapping[Any, float]) -> dict[str, float]:
    return {str(k): 100.0 * v for k, v in groups.items()}


def aggregate(
    aggregation: str,
    questions: Sequence[Question],
    scores: Sequence[QuestionScore],
    groups: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The benchmark's report from per-question scores (aligned with ``questions``).

    ``aggregation``: ``accuracy`` | ``vsibench`` | ``grounding`` | ``mlvu`` | ``mixed``;
    ``groups`` maps a report key to the ``meta`` key to break the score down by."""
    values = [s.score for s in scores]
    out: dict[str, Any] = {
        "n": len(scores),
        "unparseable": sum(1 for s in scores if not s.missing and not s.parseable),
        "missing": sum(1 for s in scores if s.missing),
        "accuracy": 100.0 * metrics.mean(values),
        "by_category": _pct(metrics.group_means(values, [q.category for q in questions])),
    }
    for report_key, meta_key in (groups or {}).items():
        out[report_key] = _pct(metrics.group_means(values, [str(q.meta.get(meta_key, "")) for q in questions]))
    if aggregation == "accuracy":
        out["overall"] = out["accuracy"]
    elif aggregation == "vsibench":
        per_type = metrics.group_means(values, [q.category for q in questions])
        out["by_task"] = _pct(metrics.vsibench_task_scores(per_type))
        out["overall"] = 100.0 * metrics.vsibench_overall(per_type)
    elif aggregation == "grounding":
        out.update({k: 100.0 * v for k, v in metrics.grounding_metrics(values).items()})
        out["overall"] = out["mIoU"]
    elif aggregation == "mlvu":
        out["M-Avg"] = 100.0 * metrics.mlvu_m_avg(metrics.group_means(values, [q.category for q in questions]))
        out["overall"] = out["M-Avg"]
    elif aggregation == "mixed":
        out["overall"] = out["accuracy"]
        out["by_family"] = _pct(metrics.group_means(values, [str(q.family) for q in questions]))
        ious = [s.score for q, s in zip(questions, scores, strict=True) if q.task_type == TaskType.GROUNDING]
        if ious:
            out["grounding"] = {k: 100.0 * v for k, v in metrics.grounding_metrics(ious).items()}
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    return out
