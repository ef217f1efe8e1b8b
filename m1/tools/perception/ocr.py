"""Text reading with rapidocr-onnxruntime (its ONNX models ship inside the wheel).

Full detection + recognition costs ~0.5 s per 640-wide frame on one core, so captions are read
the cheap way: locate bright text with a dark outline in the caption band (bottom of the frame)
with pixel statistics, crop it, and run recognition only (~15 ms). :func:`read_text` with
``full=True`` runs the detector for arbitrary text anywhere (real footage). The engine loads
once per process. Handwriting, rotated text and non-Latin scripts are not targeted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

_ENGINE = None
_LOCK = threading.Lock()


def engine():  # noqa: ANN201 - third-party type
    global _ENGINE
    with _LOCK:
        if _ENGINE is None:
            from rapidocr_onnxruntime import RapidOCR

            _ENGINE = RapidOCR()
        return _ENGINE


@dataclass(frozen=True)
class TextRead:
    text: str
    score: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


def caption_box(img: np.ndarray, band: float = 0.18) -> tuple[int, int, int, int] | None:
    """Bounding box of outlined bright text in the bottom ``band`` of an RGB frame, or None."""
    H, W = img.shape[:2]
    y0 = int(H * (1 - band))
    roi = img[y0:]
    grey = cv2.cvtColor(roi, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(roi, cv2.COLOR_RGB2HSV)
    bright = (grey > 215) & (hsv[..., 1] < 50)
    dark = (grey < 45).astype(np.uint8)
    near_dark = cv2.dilate(dark, np.ones((5, 5), np.uint8)) > 0
    text = (bright & near_dark).astype(np.uint8)
    # Rows/columns with enough text pixels; a caption is a wide, short run.
    cols = np.where(text.sum(axis=0) > 0)[0]
    rows = np.where(text.sum(axis=1) > 0)[0]
    if text.sum() < max(12, W * H // 8000) or cols.size == 0:
        return None
    x0, x1, r0, r1 = int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])
    if (r1 - r0) < 4 or (x1 - x0) < (r1 - r0):
        return None
    pad = max(4, (r1 - r0) // 2)
    return (max(0, x0 - pad), max(0, y0 + r0 - pad), min(W, x1 + pad), min(H, y0 + r1 + pad))


def read_caption(img: np.ndarray, band: float = 0.18) -> TextRead | None:
    """The caption in the bottom band (recognition only on the located crop), or None."""
    box = caption_box(img, band)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    res, _ = engine()(np.ascontiguousarray(img[y0:y1, x0:x1, ::-1]), use_det=False, use_cls=False, use_rec=True)
    if not res:
        return None
    text, score = res[0][0].strip(), float(res[0][1])
    # Single glyphs and low scores come from shape outlines passing through the band.
    if len(text) < 2 or score < 0.6:
        return None
    return TextRead(text.upper(), score, box)


def read_text(img: np.ndarray, min_score: float = 0.5) -> list[TextRead]:
    """All text lines anywhere in the frame (detector + recogniser; slow)."""
    res, _ = engine()(np.ascontiguousarray(img[..., ::-1]))
    out = []
    for box, text, score in res or []:
        if float(score) < min_score or not str(text).strip():
            continue
        xs, ys = [p[0] for p in box], [p[1] for p in box]
        out.append(TextRead(str(text).strip(), float(score), (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys)))))
    return out


def similarity(a: str, b: str) -> float:
    """Normalised edit similarity of two strings (1 = equal), case- and space-insensitive."""
    a, b = "".join(a.upper().split()), "".join(b.upper().split())
    if not a and not b:
        return 1.0
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return 1.0 - prev[-1] / max(len(a), len(b))


class OCRProvider:
    """Text anywhere in a frame (rapidocr detector + recogniser), one note per line read."""

    name = "ocr"
    kind = "frame"

    def observe(self, img: np.ndarray) -> list:
        from m1.tools.perception.notes import Note

        return [Note("ocr", r.text, r.score, box=r.box, kind="line") for r in read_text(img)]
