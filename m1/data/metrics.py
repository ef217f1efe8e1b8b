"""The benchmarks' official metrics, as small pure functions over already-parsed answers.

Scores are fractions in [0, 1] here; :mod:`m1.data.scoring` reports percentages. Parsing free
text is :mod:`m1.data.answers`' job; an unparseable answer reaches these functions as ``None``
and scores 0 (IoU 0, MRA 0, wrong choice), as the official scripts do.

Edge cases (defined here because the official formulas leave them open):

- **IoU** (Charades-STA): ``max(min(e)−max(s), 0) / (max(e)−min(s))``. Touching intervals score
  0. When the union is empty (both intervals the same single instant) the IoU is 1; a zero-length
  prediction inside a longer ground truth scores 0 (its intersection is empty).
- **R1@θ**: ``IoU ≥ θ`` — a tie with the threshold counts (the official ``>=``).
- **MRA** (VSI-Bench): mean over θ ∈ {0.50, 0.55, …, 0.95} of ``|ŷ−y|/|y| ≤ 1−θ``. The official
  code compares against ``1 − np.linspace(...)``, whose float noise makes exact boundaries (a
  10 % error at θ = 0.90) fail; we compare in exact hundredths (rounded to 1e-9), so a boundary
  counts, as the ``≤`` intends. Ground truth 0 makes the official code divide by zero; we
  define MRA as 1 for an exact 0 prediction and 0 otherwise.
- **VSI-Bench overall**: the official aggregate averages the three ``object_rel_direction_*``
  levels into one task and takes the unweighted mean of the resulting 8 task scores. The
  official code divides the levels by 3 even when a level is absent (counting it as 0); we
  average the levels present, which equals the official number on the full benchmark.
- **MLVU M-Avg**: unweighted mean of per-task accuracy over the tasks present (the official
  divides by all 9 task types even when some have no questions).

**Open-ended item F1** (M1-Synth's open-ended family; a metric of this project, not of a published
benchmark). The reference is a list of items written ``"moves right, stops, moves up"``; a reply is
read the same way (:func:`answer_items`): split at commas, semicolons, line breaks and the words
"then" / "and", each item lower-cased, punctuation to spaces, a leading article dropped, empty items
dropped. With P the reply's items and G the reference's:

- ``set`` references (the objects on screen at a time): F1 of the item sets,
  ``2·|P∩G| / (|P|+|G|)`` (duplicates in the reply count once);
- ``sequence`` references (a motion sequence, the captions in order, the order of appearance):
  ``2·LCS(P, G) / (|P|+|G|)``, LCS the longest common subsequence of the two item lists — all items
  in the right order score 1, a wrong order or a missing, extra or repeated item scores in between.

Both are 1 exactly when the reply lists the reference's items (in order, for a sequence); an empty or
unreadable reply scores 0; two empty lists score 1 (no reference is empty). ``exact`` in a report is
the share of replies scoring 1.

**Against lmms-eval 0.7.3** (its ``lmms_eval.tasks.<task>.utils`` scoring functions; the table and
the command are in ``benchmarks/lmms_crosscheck.md``, the code in ``m1_lmms/crosscheck.py``): on the
answers the ``videochat_m1`` plugin returns — a letter, a plain decimal, ``"The event happens in
S - E seconds."`` — LongVideoBench, Video-MME, MLVU M-Avg, VideoMMMU accuracy, Charades-STA
R1@0.3/0.5/0.7 and mIoU, and VSI-Bench per-task scores and overall are **equal** both ways (240
predictions each, IoUs exactly on 0.3/0.5/0.7 included). The differences, all explained:

- VSI-Bench MRA at an exact boundary (a relative error of exactly 5/10/25/50 %): lmms-eval's float
  comparison fails some of them (above); 0.4–2 points per numeric task on such predictions.
- VSI-Bench aggregation with a direction level absent (a ``--limit`` run): lmms-eval raises
  ``KeyError`` (it pops all three levels); we average the levels present. Ground truth 0: lmms-eval
  raises ``ZeroDivisionError``.
- MLVU (dev): lmms-eval divides by its 7 dev task types whatever is present; on a subset of tasks
  its M-Avg is lower than ours.
- Free-text replies are read differently. Multiple choice: LongVideoBench's parser takes the first
  capital A–E anywhere (``"Answer: B"`` → A) and a random letter when there is none; VSI-Bench's
  takes only the first word (``"(B)"``, ``"The answer is B"`` → wrong); Video-MME/MLVU/VideoMMMU's
  ``extract_mcq_answer`` reads neither a lone ``"b"`` nor the option text — we read all of these,
  and score a reply without a choice 0. VideoMMMU drops an empty reply from the denominator; we
  score it 0. Charades-STA's ``extract_time`` needs a dash or "to" between the two numbers
  (``"3.5 7.2"``, ``"starts at 3.5 and ends at 7.2"`` → IoU 0 there). Numbers: lmms-eval's
  ``extract_number`` reads ``"1e3"`` as 1 (we read 1000).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence

MRA_THRESHOLDS_PERCENT: tuple[int, ...] = tuple(range(50, 100, 5))  # θ = 0.50 … 0.95
RECALL_THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)
VSI_DIRECTION_LEVELS: tuple[str, ...] = (
    "object_rel_direction_easy",
    "object_rel_direction_medium",
    "object_rel_direction_hard",
)


def temporal_iou(pred: Sequence[float] | None, gt: Sequence[float]) -> float:
    """IoU of two ``[start, end]`` intervals in seconds; ``None`` (unparseable) → 0."""
    if pred is None:
        return 0.0
    ps, pe = sorted((float(pred[0]), float(pred[1])))
    gs, ge = sorted((float(gt[0]), float(gt[1])))
    union = max(pe, ge) - min(ps, gs)
    if union <= 0:
        return 1.0 if (ps, pe) == (gs, ge) else 0.0
    return max(min(pe, ge) - max(ps, gs), 0.0) / union


def recall_at(ious: Sequence[float], threshold: float) -> float:
    """Fraction of IoUs at or above ``threshold`` (R1@θ); 0 for an empty list."""
    return sum(1 for v in ious if v >= threshold) / len(ious) if ious else 0.0


def grounding_metrics(ious: Sequence[float]) -> dict[str, float]:
    """``R1@0.3``, ``R1@0.5``, ``R1@0.7`` and ``mIoU`` as fractions."""
    out = {f"R1@{t}": recall_at(ious, t) for t in RECALL_THRESHOLDS}
    out["mIoU"] = sum(ious) / len(ious) if ious else 0.0
    return out


def mean_relative_accuracy(pred: float | None, gt: float) -> float:
    """VSI-Bench MRA of one numeric answer; ``None`` (unparseable) or non-finite → 0."""
    if pred is None or not math.isfinite(pred):
        return 0.0
    if gt == 0:
        return 1.0 if pred == 0 else 0.0
    relative_error = abs(pred - gt) / abs(gt)
    hits = sum(1 for t in MRA_THRESHOLDS_PERCENT if round(relative_error, 9) <= (100 - t) / 100)
    return hits / len(MRA_THRESHOLDS_PERCENT)


def mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def group_means(scores: Sequence[float], keys: Sequence[Hashable]) -> dict[Hashable, float]:
    """Mean score per key (e.g. per question category), keys in first-seen order."""
    if len(scores) != len(keys):
        raise ValueError(f"{len(scores)} scores but {len(keys)} keys")
    groups: dict[Hashable, list[float]] = defaultdict(list)
    for s, k in zip(scores, keys, strict=True):
        groups[k].append(s)
    return {k: mean(v) for k, v in groups.items()}


def vsibench_task_scores(per_type: Mapping[str, float]) -> dict[str, float]:
    """Fold the three relative-direction levels into ``object_rel_direction`` (their mean)."""
    out = {k: v for k, v in per_type.items() if k not in VSI_DIRECTION_LEVELS}
    levels = [per_type[k] for k in VSI_DIRECTION_LEVELS if k in per_type]
    if levels:
        out["object_rel_direction"] = mean(levels)
    return out


def vsibench_overall(per_type: Mapping[str, float]) -> float:
    """Unweighted mean of the task scores after folding the direction levels (8 tasks in full)."""
    return mean(vsibench_task_scores(per_type).values())


def mlvu_m_avg(per_task: Mapping[str, float]) -> float:
    """MLVU M-Avg: the unweighted mean of per-task accuracies."""
    return mean(per_task.values())


def normalised_number_match(pred: float | None, gold: float) -> bool:
    """VideoMMMU open numeric answers: equal after rounding both to 2 decimals."""
    return pred is not None and math.isfinite(pred) and round(pred, 2) == round(gold, 2)


def normalised_text_match(pred: str | None, gold: str) -> bool:
    """Open text answers: the normalised gold answer appears in the normalised prediction."""
    if not pred:
        return False
    norm = lambda s: " ".join("".join(c if c.isalnum() else " " for c in s.lower()).split())  # noqa: E731
    g = norm(gold)
    return bool(g) and f" {g} " in f" {norm(pred)} "


OPEN_METRICS: tuple[str, ...] = ("set", "sequence")
_ITEM_SPLIT = re.compile(r"[,;\n]|\bthen\b|\band\b", re.I)
_ARTICLES = ("the ", "a ", "an ")


def answer_parts(text: str | None) -> list[tuple[str, str]]:
    """Each item of an open-ended list answer as (written, normalised): the text between separators,
    stripped, and the form :func:`answer_items` compares (see the module docstring)."""
    out = []
    for part in _ITEM_SPLIT.split(text or ""):
        item = " ".join("".join(c if c.isalnum() else " " for c in part.lower()).split())
        for art in _ARTICLES:
            if item.startswith(art):
                item = item[len(art):]
        if item:
            out.append((part.strip(), item))
    return out


def answer_items(text: str | None) -> list[str]:
    """The items of an open-ended list answer, normalised (see the module docstring)."""
    return [item for _, item in answer_parts(text)]


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def item_f1(pred: Sequence[str] | None, gold: Sequence[str], kind: str) -> float:
    """Item F1 of a parsed reply against the reference items: ``set`` or ``sequence`` (module docstring)."""
    if kind not in OPEN_METRICS:
        raise ValueError(f"unknown open-ended metric {kind!r}; expected one of {OPEN_METRICS}")
    pred = list(pred or [])
    if not pred and not gold:
        return 1.0
    if not pred or not gold:
        return 0.0
    if kind == "set":
        p, g = set(pred), set(gold)
        return 2 * len(p & g) / (len(p) + len(g))
    return 2 * _lcs(pred, gold) / (len(pred) + len(gold))
