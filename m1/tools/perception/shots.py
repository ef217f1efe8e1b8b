"""Shot-cut detection from frame signatures.

A signature is a small grey thumbnail plus a grey-level histogram. Two frames belong to
different shots when their histograms differ strongly *or* their mean brightness jumps: a
pure histogram-shape detector misses brightness-only cuts, a pure brightness detector misses
texture-only cuts. Moving foreground objects change neither much, because they cover a small
part of the frame. Works on sparse samples (a cut is placed between two samples and can be
refined by bisection by the caller); fades and dissolves are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Signature:
    mean: float
    hist: np.ndarray  # normalised 32-bin grey histogram
    thumb: np.ndarray  # 32x18 grey thumbnail, float32


def signature(img: np.ndarray) -> Signature:
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    hist = cv2.calcHist([grey], [0], None, [32], [0, 256]).ravel().astype(np.float32)
    hist /= max(1.0, float(hist.sum()))
    thumb = cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)
    return Signature(float(grey.mean()), hist, thumb)


def distance(a: Signature, b: Signature) -> float:
    """0 for identical frames; ≥ 1 means 'different shot' (the decision threshold)."""
    hist_d = 0.5 * float(np.abs(a.hist - b.hist).sum())  # total variation, in [0, 1]
    mean_d = abs(a.mean - b.mean) / 25.0
    thumb_d = float(np.abs(a.thumb - b.thumb).mean()) / 30.0
    return max(hist_d / 0.5, mean_d, thumb_d)


def is_cut(a: Signature, b: Signature, threshold: float = 1.0) -> bool:
    return distance(a, b) >= threshold


def cut_positions(sigs: list[Signature], threshold: float = 1.0) -> list[int]:
    """Indices i such that a cut lies between sample i-1 and sample i."""
    return [i for i in range(1, len(sigs)) if is_cut(sigs[i - 1], sigs[i], threshold)]
