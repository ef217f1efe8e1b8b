"""Dense optical flow (Farnebäck) between two frames: how much and which way things move.

Used for real footage where no object detector applies; on the synthetic benchmark object
tracks give exact motion. Frames are compared at a small fixed width for speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Flow:
    magnitude: float  # mean flow of moving pixels, in pixels of the input frame per frame pair
    moving_fraction: float  # share of pixels moving more than 1 px (at analysis scale)
    direction: str  # left | right | up | down | still (dominant among moving pixels)


def optical_flow(a: np.ndarray, b: np.ndarray, width: int = 160) -> Flow:
    H, W = a.shape[:2]
    s = min(1.0, width / W)
    size = (max(8, int(W * s)), max(8, int(H * s)))
    ga = cv2.resize(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    gb = cv2.resize(cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
    flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 9, 3, 5, 1.1, 0)
    mag = np.hypot(flow[..., 0], flow[..., 1])
    moving = mag > 1.0
    frac = float(moving.mean())
    if frac < 0.002:
        return Flow(0.0, frac, "still")
    dx, dy = float(flow[..., 0][moving].mean()), float(flow[..., 1][moving].mean())
    if abs(dx) >= abs(dy):
        direction = "right" if dx > 0 else "left"
    else:
        direction = "down" if dy > 0 else "up"
    return Flow(float(mag[moving].mean()) / s, frac, direction)
