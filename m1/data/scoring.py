"""Scoring: how one answer is scored against one question, and the report a benchmark publishes.

This is the project's **one** scorer. The outcome reward (:mod:`m1.train.rewards`), the SFT filter
(:mod:`m1.train.annotation`), the small M1-Synth evaluation (:mod:`m1.evaluation.summary`) and the
benchmark harness (:func:`m1.data.score`) all call :func:`score_question`; nothing else turns an
answer into a score. One function per answer kind — :func:`score_choice`, :func:`score_number`,
:func:`score_interval`, :func:`score_open`, :func:`score_items` — reads a free-text prediction with the
tolerant parsers of :mod:`m1.data.answers` and scores it with the official metric of :mod:`m1.data.metrics`
(correct choice, VSI-Bench MRA, Charades-STA IoU, open-answer match, item F1), a score in [0, 1].
:func:`aggregate` builds the report a benchmark publishes, in **percent** (0–100) like the papers;
the unparseable count (answers a parser could not read, scored 0) and the missing count
(questions with no prediction, also scored 0) are always reported. Questions without ground
truth are not scored: scoring one is an error, and the report counts them separately.
This module does not know how predictions are produced.

Until issue 16 three scorers disagreed; each disagreement and the official behaviour chosen:

- **Multiple choice.** The reward compared ``answer.strip() == gold`` (case-sensitive), the SFT
  filter ``strip().lower()`` equality, this module the letter :func:`~m1.data.answers.parse_choice`
  reads. Chosen: the parsed letter, as the LongVideoBench/Video-MME scripts extract it:
  ``"(B)"``, ``"B."``, ``"B. red"``, ``"The answer is B"`` and a lone ``"b"`` all pick B (the first
  four scored 0 in the reward and the filter, ``"b"`` scored 0 in the reward); a letter beyond the
  options, or an ambiguous text, is unparseable (0).
- **Numeric.** The reward and the filter took ``float(answer)`` (``"3 m"`` scored 0); chosen: the
  VSI-Bench reading — a bare number is read as Python's ``float`` reads it (as the official
  ``to_float`` does, so ``"1e-05"`` is 1e-05 and not 1), any other text by
  :func:`~m1.data.answers.parse_number` (units ignored, the number after an answer cue) — then MRA.
- **Grounding.** The reward split on spaces and crashed (``IndexError``) on a single number; the
  filter split on spaces and scored anything but two numbers 0; chosen: the Charades-STA reading
  of :func:`~m1.data.answers.parse_interval` (``"3 - 5"``, ``"3 to 5"``, ``"0:03-0:05"``, the first
  two numbers; reversed pairs swapped), IoU, an unparseable answer IoU 0.
- **Open-ended.** The reward compared normalised text for equality (``"12.5"`` vs gold ``"12.50"``
  scored 0), the filter lower-cased exact text (``"a red ball"`` vs ``"A red ball!"`` scored 0);
  chosen: VideoMMMU's (MMMU ``eval_open``) rule — a numeric gold answer matches any number of the
  prediction at 2 decimals, a text gold answer matches when its normalised words appear in the
  normalised prediction.
- **Open-ended with a structured reference** (M1-Synth's open-ended family, marked by
  ``meta["open_metric"]``): item F1 (:func:`score_items`; the metric in :mod:`m1.data.metrics`),
  partial credit for a partly right list; a ``mixed`` report adds ``open_ended``: mean item F1 and
  the share of exact replies. Other open-ended questions keep VideoMMMU's rule.
- **No answer / no ground truth.** ``None`` scores 0 everywhere (counted as *missing* in a report);
  a question without ground truth scored 0 in the reward and the filter and was an error here —
  chosen: an error (:class:`UnlabelledQuestionError`), never a silent 0.

For the answers the CPP loop produces (:func:`m1.team.answers.parse_answer`'s canonical forms: one
option letter, a number, ``"start end"``) every old scorer and this one agree, so no recorded
M1-Synth figure moves. Measured (issue 16): 1,196 (question, answer) pairs of recorded ``m1 eval``
predictions and agents' answers, and on 153 generated questions the oracle teacher's 612 agent
answers, 153 final answers, 499 tool candidates and the solver's 153 answers — the same score from
all four scorers, the same SFT verdicts, examples and rewards; the only difference was the old
reward's ``IndexError`` on ``""`` and one-number grounding texts, which never reached it in training.
Figures scored from free text — the ``no_tools`` system's unparsed replies, real benchmarks —
were already scored here (the bare-number reading changes them only for a reply such as ``"1e3"``).
A tool's *candidate* is not canonical and may be of another kind than the question (a span for a
count); the SFT filter canonicalises it with ``parse_answer`` before scoring it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from m1.data import metrics
from m1.data.answers import answer_text, parse_choice, parse_interval, parse_number, parse_numbers
from m1.schema import Question, TaskType


class UnlabelledQuestionError(ValueError):
    """A question without ground truth was given to the scorer."""


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


def score_choice(prediction: str, gold: str, options: Sequence[str] | None = None) -> tuple[float, str | None]:
    """Multiple choice: (1 if the letter read from ``prediction`` is ``gold`` else 0, that letter)."""
    letter = parse_choice(prediction, options)
    return float(letter == gold), letter


def read_number(prediction: str) -> float | None:
    """The number a numeric answer gives: a bare number as ``float`` reads it (VSI-Bench's
    ``to_float`` of the answer's first word), otherwise :func:`~m1.data.answers.parse_number`."""
    bare = answer_text(prediction).strip().rstrip(".")
    if bare and not any(c.isspace() for c in bare):
        try:
            value = float(bare)
        except ValueError:
            pass
        else:  # "1e400", "nan": a number, but no usable one
            return value if math.isfinite(value) else None
    return parse_number(prediction)


def score_number(prediction: str, gold: str) -> tuple[float, float | None]:
    """Numeric: (VSI-Bench MRA of the number read from ``prediction`` against ``gold``, that number)."""
    value = read_number(prediction)
    return metrics.mean_relative_accuracy(value, float(gold)), value


def score_interval(prediction: str, gold: str) -> tuple[float, tuple[float, float] | None]:
    """Grounding: (Charades-STA IoU of the span read from ``prediction`` with ``gold`` "start end", the span)."""
    interval = parse_interval(prediction)
    return metrics.temporal_iou(interval, gold_interval(gold)), interval


def score_open(prediction: str, gold: str) -> tuple[float, Any]:
    """Open-ended (VideoMMMU "open"): a numeric ``gold`` matches any number of the prediction at 2
    decimals (MMMU: every number in the answer part is a candidate), text by normalised containment."""
    try:
        gold_number = float(gold)
    except ValueError:
        gold_number = None
    if gold_number is not None:
        values = parse_numbers(prediction)
        return float(any(metrics.normalised_number_match(v, gold_number) for v in values)), values or None
    text = prediction.strip() or None
    return float(metrics.normalised_text_match(text, gold)), text


def open_metric(q: Question) -> str | None:
    """The item metric of a structured open-ended question (``meta["open_metric"]``: ``set`` or
    ``sequence``, M1-Synth's open-ended family); None for any other question."""
    kind = q.meta.get("open_metric") if q.task_type == TaskType.OPEN_ENDED else None
    if kind is not None and kind not in metrics.OPEN_METRICS:
        raise ValueError(f"question {q.qid}: meta open_metric {kind!r} is not one of {metrics.OPEN_METRICS}")
    return kind


def score_items(prediction: str, gold: str, kind: str) -> tuple[float, list[str] | None]:
    """Open-ended with a structured reference: (item F1 of the reply's items against ``gold``'s,
    those items; None when the reply has none). ``kind``: ``set`` or ``sequence`` (:mod:`m1.data.metrics`)."""
    items = metrics.answer_items(prediction)
    return metrics.item_f1(items, metrics.answer_items(gold), kind), items or None


def score_question(q: Question, prediction: str | None) -> QuestionScore:
    """Score one prediction (free text, or ``None`` for no answer) against a labelled question:
    ``.score`` in [0, 1] by the scorer of the question's answer kind (module docstring)."""
    if q.answer is None:
        raise UnlabelledQuestionError(f"question {q.qid} has no ground truth to score against")
    if prediction is None:
        return QuestionScore(q.qid, 0.0, None, missing=True)
    if q.task_type == TaskType.MULTIPLE_CHOICE:
        score, parsed = score_choice(prediction, q.answer, q.options)
    elif q.task_type == TaskType.NUMERIC:
        score, parsed = score_number(prediction, q.answer)
    elif q.task_type == TaskType.GROUNDING:
        score, parsed = score_interval(prediction, q.answer)
    elif (kind := open_metric(q)) is not None:
        score, parsed = score_items(prediction, q.answer, kind)
    else:
        score, parsed = score_open(prediction, q.answer)
    return QuestionScore(q.qid, score, parsed)


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
        f1s = [s.score for q, s in zip(questions, scores, strict=True) if open_metric(q) is not None]
        if f1s:
            out["open_ended"] = {"item_F1": 100.0 * metrics.mean(f1s),
                                 "exact": 100.0 * sum(v == 1.0 for v in f1s) / len(f1s)}
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}")
    return out
