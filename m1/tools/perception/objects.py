"""Solid-colour object detection (colour + shape) in one RGB frame, and tracking across frames.

Detection segments saturated, bright pixels by hue into a fixed vocabulary of colour names
(red, orange, yellow, green, cyan, blue, magenta) plus near-white; a morphological opening drops
thin structures (text strokes, texture edges) so only solid blobs remain. The shape comes from
how much of its bounding box a blob fills (square ≈ 1, circle ≈ π/4, triangle ≈ 1/2) and its
polygon approximation. Tracking groups detections over time by colour and proximity and gives
each track the majority shape of its unclipped sightings, which absorbs misreadings while two
objects overlap.

It does not recognise textured, shaded or multi-coloured objects (real footage goes through the
other providers instead) and does not re-identify an object after it left the frame: the
(colour, shape) name is the identity.

**Gate** (:func:`outlined`): M1-Synth draws every shape as a flat fill with a 2 px dark outline.
A blob is kept only when the ring just outside it is mostly dark and its inside is flat (grey
std <= 3; M1-Synth fills measure <= 1.5 after H.264), and a frame with vivid colour outside its
accepted blobs (> 2 % of the frame) is natural footage and yields nothing. Measured
(``benchmarks/tools_latency.md``, ``tests/unit/test_perception_real.py``): 0 detections on 35
natural frames (photos and opencv-doc clip frames) where the ungated detector finds 209;
drawings made of outlined shapes (a chessboard, sheet music) still fire, as they should.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import cv2
import numpy as np

# OpenCV hue (0..180) ranges of the colour vocabulary; red wraps around 0.
HUE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("red", 0, 7),
    ("orange", 7, 21),
    ("yellow", 21, 45),
    ("green", 45, 75),
    ("cyan", 75, 100),
    ("blue", 100, 135),
    ("magenta", 135, 170),
    ("red", 170, 181),
)
COLOUR_NAMES = ("red", "orange", "yellow", "green", "cyan", "blue", "magenta", "white")
SHAPE_NAMES = ("circle", "square", "triangle")


@dataclass(frozen=True)
class Detection:
    """One solid blob. Coordinates in pixels of the analysed frame; ``size`` is the blob's side
    or diameter (bounding-box extent along the axis not clipped by the frame)."""

    colour: str
    shape: str
    x: float
    y: float
    w: int
    h: int
    area: int
    clipped: bool  # touches the frame border: shape and size are unreliable

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def size(self) -> float:
        # A 2 px dark outline eats about one pixel on each side of the colour fill, and more at
        # a triangle's acute base corners (≈ 1 / sin(θ/2) px each).
        return float(max(self.w, self.h) + (5 if self.shape == "triangle" else 2))


def _shape_of(contour: np.ndarray, w: int, h: int, area: float) -> str:
    fill = area / max(1.0, float(w * h))
    if fill > 0.9:
        return "square"
    peri = cv2.arcLength(contour, True)
    approx = cv2.approxPolyDP(contour, 0.06 * peri, True)
    if fill < 0.62 or len(approx) == 3:
        return "triangle"
    return "circle" if fill < 0.88 else "square"


def colour_masks(img: np.ndarray, min_sat: int = 110, min_val: int = 140) -> dict[str, np.ndarray]:
    """Binary masks (uint8 0/255) per colour name for an RGB frame."""
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hch, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    vivid = (s >= min_sat) & (v >= min_val)
    masks: dict[str, np.ndarray] = {}
    for name, lo, hi in HUE_BANDS:
        m = vivid & (hch >= lo) & (hch < hi)
        masks[name] = masks[name] | m if name in masks else m
    masks["white"] = (s < 40) & (v > 228)
    return {k: m.astype(np.uint8) * 255 for k, m in masks.items()}


OUTLINE_DARK = 80  # grey level below which a ring pixel counts as outline
MIN_OUTLINE = 0.4  # fraction of the blob's ring (1-2 px outside it) that must be outline-dark
MAX_INSIDE_STD = 3.0  # grey-level spread inside: M1-Synth fills measure <= 1.5 after H.264, photos 1-46
MAX_STRAY_VIVID = 0.02  # M1-Synth frames measure <= 0.0002; graffiti photos far above


def outlined(grey: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether the blob ``mask`` (uint8, whole frame) within ``box`` looks drawn: flat inside and
    ringed by a dark outline, ignoring the ring where it leaves the frame or meets another blob."""
    H, W = grey.shape
    x, y, w, h = box
    m = max(4, min(w, h) // 6)
    x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(W, x + w + m), min(H, y + h + m)
    sub = mask[y0:y1, x0:x1] > 0
    g = grey[y0:y1, x0:x1]
    k3 = np.ones((3, 3), np.uint8)
    blob = sub.astype(np.uint8)
    ring = (cv2.dilate(blob, k3, iterations=2) > 0) & ~sub
    if not ring.any():
        return False
    dark = (g < OUTLINE_DARK) & ring
    ring_n = int(ring.sum())
    inner = cv2.erode(blob, k3, iterations=2) > 0
    std = float(g[inner].std()) if inner.sum() >= 9 else 0.0
    if std > MAX_INSIDE_STD:
        return False
    return dark.sum() / ring_n >= MIN_OUTLINE


def detect_objects(
    img: np.ndarray, min_side: int | None = None, caption_band: float = 0.16, gate: bool = True
) -> list[Detection]:
    """Solid-colour blobs in an RGB frame, largest first within each colour.

    ``min_side`` defaults to 1/20 of the frame height. White blobs centred in the bottom
    ``caption_band`` fraction must be at least twice that: caption letters are white too. With
    ``gate`` (default) only blobs that look drawn (:func:`outlined`) are kept.
    """
    H, W = img.shape[:2]
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if gate else None
    min_side = min_side or max(6, H // 20)
    # Kernel scaled to the frame so text strokes (≈ H/180 px) vanish at any resolution.
    k = max(3, int(round(H / 72)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    out: list[Detection] = []
    masks = colour_masks(img)
    kept = np.zeros((H, W), np.uint8) if gate else None
    for colour, mask in masks.items():
        if not mask.any():
            continue
        raw = mask
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            clipped = x <= 1 or y <= 1 or x + w >= W - 1 or y + h >= H - 1
            # An object sliding in from an edge shows as a thin sliver first; accept it early
            # (clipped) so entry times are not late by the time it takes to show a full side.
            if clipped:
                if max(w, h) < min_side // 2 or min(w, h) < 3:
                    continue
            elif max(w, h) < min_side or min(w, h) < min_side // 2:
                continue
            area = float(cv2.contourArea(c))
            if area < (0.1 if clipped else 0.3) * min_side * min_side:
                continue
            hull = float(cv2.contourArea(cv2.convexHull(c)))
            if hull <= 0 or area / hull < 0.85:
                continue  # concave: text, texture fragments, or two blobs merged
            if colour == "white" and y + h / 2 > H * (1 - caption_band) and min(w, h) < 2 * min_side:
                continue
            if grey is not None:
                one = np.zeros_like(mask)
                cv2.drawContours(one, [c], -1, 255, -1)
                if not outlined(grey, one, (x, y, w, h)):
                    continue
                kept |= one
            # The opening rounds sharp corners (triangle tips); measure extent on the raw mask.
            x0, y0 = max(0, x - k), max(0, y - k)
            ys, xs = np.nonzero(raw[y0 : y + h + k, x0 : x + w + k])
            if xs.size:
                x, y = x0 + int(xs.min()), y0 + int(ys.min())
                w, h = int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
            # The centre of the bounding box, not of mass: a triangle's nominal centre in the
            # event log is its bounding-box centre.
            out.append(
                Detection(
                    colour, _shape_of(c, *cv2.boundingRect(c)[2:], area), x + w / 2, y + h / 2, w, h, int(area), clipped
                )
            )
    if kept is not None and out and stray_vivid(masks, kept) > MAX_STRAY_VIVID:
        return []  # vivid colour all over the frame, not only in drawn shapes: natural footage
    out.sort(key=lambda d: (COLOUR_NAMES.index(d.colour), -d.area))
    return out


def stray_vivid(masks: dict[str, np.ndarray], kept: np.ndarray) -> float:
    """Fraction of the frame that is vivid colour outside the accepted (drawn) blobs."""
    vivid = np.zeros_like(kept)
    for name, m in masks.items():
        if name != "white":
            vivid |= m
    near = cv2.dilate(kept, np.ones((7, 7), np.uint8))
    return float(((vivid > 0) & (near == 0)).mean())


@dataclass
class Track:
    """One object followed through sampled frames: (t, detection) sightings in time order."""

    colour: str
    sightings: list[tuple[float, Detection]] = field(default_factory=list)

    @property
    def shape(self) -> str:
        full = [d.shape for _, d in self.sightings if not d.clipped] or [d.shape for _, d in self.sightings]
        # Ties go to the first-listed shape name so results are deterministic.
        counts = Counter(full)
        return max(SHAPE_NAMES, key=lambda s: (counts.get(s, 0), -SHAPE_NAMES.index(s)))

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def first(self) -> float:
        return self.sightings[0][0]

    @property
    def last(self) -> float:
        return self.sightings[-1][0]

    def at(self, t: float) -> Detection | None:
        for ts, d in self.sightings:
            if abs(ts - t) < 1e-6:
                return d
        return None

    @property
    def size(self) -> float:
        sizes = sorted(d.size for _, d in self.sightings if not d.clipped) or sorted(d.size for _, d in self.sightings)
        return sizes[len(sizes) // 2]


def track_objects(
    frames: list[tuple[float, list[Detection]]], max_speed: float = 400.0, max_gap: float = 3.0
) -> list[Track]:
    """Greedy tracking: each detection joins the nearest same-colour track seen within
    ``max_gap`` seconds and reachable at ``max_speed`` px/s (plus its size), else starts a new one.
    Tracks whose majority shapes coincide with another track of the same colour stay separate
    (two objects of one colour have different shapes by construction of the vocabulary)."""
    tracks: list[Track] = []
    for t, dets in sorted(frames, key=lambda f: f[0]):
        used: set[int] = set()
        for d in sorted(dets, key=lambda d: -d.area):
            best, best_dist = None, None
            for ti, tr in enumerate(tracks):
                if ti in used or tr.colour != d.colour:
                    continue
                lt, ld = tr.sightings[-1]
                dt = t - lt
                if dt <= 0 or dt > max_gap:
                    continue
                dist = float(np.hypot(d.x - ld.x, d.y - ld.y))
                if dist > max_speed * dt + max(d.w, d.h, ld.w, ld.h):
                    continue
                if not d.clipped and not ld.clipped and d.shape != ld.shape and tr.shape != d.shape:
                    # A different unclipped shape of the same colour is a different object,
                    # unless this track is still unsure of its own shape.
                    if sum(1 for _, x in tr.sightings if not x.clipped) >= 2:
                        continue
                if best_dist is None or dist < best_dist:
                    best, best_dist = ti, dist
            if best is None:
                tracks.append(Track(d.colour, [(t, d)]))
                used.add(len(tracks) - 1)
            else:
                tracks[best].sightings.append((t, d))
                used.add(best)
    tracks.sort(key=lambda tr: (tr.first, tr.colour))
    return tracks


class ShapesProvider:
    """M1-Synth's outlined solid shapes as a perception provider (gated; silent on natural frames)."""

    name = "shapes"
    kind = "frame"

    def observe(self, img: np.ndarray) -> list:
        from m1.tools.perception.notes import Note

        return [
            Note("shapes", d.name, 1.0, box=(int(d.x - d.w / 2), int(d.y - d.h / 2), int(d.x + d.w / 2),
                                             int(d.y + d.h / 2)), kind="object")
            for d in detect_objects(img)
        ]
