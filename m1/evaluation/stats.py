"""Small statistics for comparing systems on the same questions."""

from __future__ import annotations

import random
from collections.abc import Sequence


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``b - a`` over paired per-question scores and its percentile bootstrap interval.

    Questions are resampled with replacement (the pairing is kept), so the interval reflects
    which questions happened to be drawn. Returns (mean difference, low, high).
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"need two equally long, non-empty score lists, got {len(a)} and {len(b)}")
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_resamples))
    lo = means[int((1 - level) / 2 * n_resamples)]
    hi = means[min(n_resamples - 1, int((1 + level) / 2 * n_resamples))]
    return sum(diffs) / n, lo, hi
