"""Answer-prior baselines: how well can one answer M1-Synth *without watching the video*?

A benchmark whose distractors are implausible or whose answers are biased can be gamed by
priors. These guessers are fitted on the train split and scored on another split:

* ``letter``: per (family, subtype, number of options), always the most frequent correct letter;
* ``option_text``: per (family, subtype), the option whose text was most often correct in
  train when shown (add-one smoothed), e.g. "always pick 3" for counts;
* numeric: the train median per subtype (scored by Mean Relative Accuracy);
* grounding: the train mean of (start, end) as fractions of the video duration (scored by IoU),
  next to uniformly random intervals;
* open-ended (``synth.open_ended``): per subtype, the reference most often given in train
  (scored by item F1, :func:`m1.data.scoring.score_question`).

For multiple choice the report gives chance (mean of 1 / number of options) beside each
guesser; a sound benchmark keeps every guesser within a few points of chance.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from m1.data.metrics import mean_relative_accuracy, temporal_iou
from m1.data.scoring import score_question
from m1.schema import OPTION_LETTERS, Question, TaskType


@dataclass
class AnswerPrior:
    letter: dict[tuple, str] = field(default_factory=dict)
    text_score: dict[tuple, dict[str, float]] = field(default_factory=dict)
    numeric_median: dict[tuple, float] = field(default_factory=dict)
    span_fraction: dict[tuple, tuple[float, float]] = field(default_factory=dict)
    open_mode: dict[tuple, str] = field(default_factory=dict)

    def guess_letter(self, q: Question) -> str:
        return self.letter.get(_key(q) + (len(q.options),), "A")

    def guess_text(self, q: Question) -> str:
        scores = self.text_score.get(_key(q), {})
        best = max(range(len(q.options)), key=lambda i: (scores.get(q.options[i], 0.0), -i))
        return OPTION_LETTERS[best]

    def guess_number(self, q: Question) -> float:
        return self.numeric_median.get(_key(q), 1.0)

    def guess_span(self, q: Question) -> tuple[float, float]:
        fs, fe = self.span_fraction.get(_key(q), (0.25, 0.75))
        d = q.duration or 1.0
        return fs * d, fe * d


def _key(q: Question) -> tuple:
    return (q.family.value if q.family else "", q.category)


def fit_prior(train: list[Question]) -> AnswerPrior:
    prior = AnswerPrior()
    letters: dict[tuple, Counter] = defaultdict(Counter)
    shown: dict[tuple, Counter] = defaultdict(Counter)
    right: dict[tuple, Counter] = defaultdict(Counter)
    numbers: dict[tuple, list[float]] = defaultdict(list)
    spans: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    opens: dict[tuple, Counter] = defaultdict(Counter)
    for q in train:
        if q.answer is None:
            continue
        k = _key(q)
        if q.task_type == TaskType.MULTIPLE_CHOICE:
            letters[k + (len(q.options),)][q.answer] += 1
            shown[k].update(q.options)
            right[k][q.options[OPTION_LETTERS.index(q.answer)]] += 1
        elif q.task_type == TaskType.NUMERIC:
            numbers[k].append(float(q.answer))
        elif q.task_type == TaskType.GROUNDING:
            s, e = (float(x) for x in q.answer.split())
            d = q.duration or max(e, 1e-6)
            spans[k].append((s / d, e / d))
        elif q.task_type == TaskType.OPEN_ENDED:
            opens[k][q.answer] += 1
    # ties go to the earliest letter, so the choice is deterministic
    prior.letter = {k: min(c, key=lambda a: (-c[a], a)) for k, c in letters.items()}
    prior.text_score = {k: {t: (right[k][t] + 1) / (n + 2) for t, n in c.items()} for k, c in shown.items()}
    prior.open_mode = {k: min(c, key=lambda a: (-c[a], a)) for k, c in opens.items()}
    prior.numeric_median = {k: statistics.median(v) for k, v in numbers.items()}
    prior.span_fraction = {
        k: (statistics.fmean(s for s, _ in v), statistics.fmean(e for _, e in v)) for k, v in spans.items()
    }
    return prior


def evaluate_prior(prior: AnswerPrior, questions: list[Question], seed: int = 0) -> dict[str, dict]:
    """Per family: n, metric name, chance (or random reference) and each guesser's score."""
    rng = random.Random(seed)
    acc: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for q in questions:
        if q.answer is None:
            continue
        fam = q.family.value if q.family else "unknown"
        a = acc[fam]
        if q.task_type == TaskType.MULTIPLE_CHOICE:
            a["chance"].append(1.0 / len(q.options))
            a["letter"].append(float(prior.guess_letter(q) == q.answer))
            a["option_text"].append(float(prior.guess_text(q) == q.answer))
        elif q.task_type == TaskType.NUMERIC:
            a["numeric_median_mra"].append(mean_relative_accuracy(prior.guess_number(q), float(q.answer)))
        elif q.task_type == TaskType.GROUNDING:
            gt = [float(x) for x in q.answer.split()]
            a["mean_span_iou"].append(temporal_iou(prior.guess_span(q), gt))
            d = q.duration or gt[1]
            s, e = sorted((rng.uniform(0, d), rng.uniform(0, d)))
            a["random_span_iou"].append(temporal_iou((s, e), gt))
        elif q.task_type == TaskType.OPEN_ENDED:
            a["most_common_f1"].append(score_question(q, prior.open_mode.get(_key(q), "")).score)
    return {
        fam: {"n": max(len(v) for v in a.values()), **{k: statistics.fmean(v) for k, v in a.items() if v}}
        for fam, a in sorted(acc.items())
    }
