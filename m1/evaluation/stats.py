"""Small statistics for comparing systems on the same questions."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


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


def stratified_sample(items: Sequence[T], n: int, key: Callable[[T], str], seed: int = 0) -> list[T]:
    """``n`` of ``items``, seeded, with every group (``key``) drawn in proportion to its size (largest
    remainders get the leftover places; a group that has items gets at least one when ``n`` allows),
    kept in ``items``' order: a cheaper evaluation whose families weigh as in the whole set, the same
    sample for every system given the same seed. ``n`` >= len(items) returns them all."""
    if n < 1:
        raise ValueError(f"a sample needs n >= 1, got {n}")
    if n >= len(items):
        return list(items)
    groups: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault(key(it), []).append(i)
    exact = {g: n * len(ix) / len(items) for g, ix in groups.items()}
    take = {g: min(len(groups[g]), max(1 if n >= len(groups) else 0, int(e))) for g, e in exact.items()}
    for g in sorted(groups, key=lambda g: (take[g] - exact[g], g)):  # largest remainder first
        if sum(take.values()) >= n:
            break
        if take[g] < len(groups[g]):
            take[g] += 1
    while sum(take.values()) > n:  # the at-least-one rule overshot: trim the most over-served group
        g = max((g for g in take if take[g] > 1), key=lambda g: (take[g] - exact[g], g))
        take[g] -= 1
    chosen = {i for g, ix in sorted(groups.items())
              for i in random.Random(f"{seed}:{g}").sample(ix, take[g])}
    return [it for i, it in enumerate(items) if i in chosen]
