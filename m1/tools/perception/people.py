"""Faces (OpenCV Haar cascade) and people (OpenCV HOG + linear SVM) for real footage.

Both models ship with ``opencv-python`` (``cv2.data.haarcascades`` and the built-in HOG people
detector). Frames are analysed at a bounded width for speed; boxes are returned in the input
frame's pixels. Not meant for the synthetic benchmark (no people there) and not a tracker.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

_LOCAL = threading.local()


def _face_cascade() -> cv2.CascadeClassifier:
    if not hasattr(_LOCAL, "faces"):
        _LOCAL.faces = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return _LOCAL.faces


def _hog() -> cv2.HOGDescriptor:
    if not hasattr(_LOCAL, "hog"):
        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        _LOCAL.hog = hog
    return _LOCAL.hog


Box = tuple[int, int, int, int]  # x, y, w, h


def _scaled(img: np.ndarray, width: int) -> tuple[np.ndarray, float]:
    H, W = img.shape[:2]
    if W <= width:
        return img, 1.0
    s = width / W
    return cv2.resize(img, (width, int(round(H * s))), interpolation=cv2.INTER_AREA), s


def detect_faces(img: np.ndarray, width: int = 480) -> list[Box]:
    small, s = _scaled(img, width)
    grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    found = _face_cascade().detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20))
    return sorted(tuple(int(round(v / s)) for v in box) for box in (found if len(found) else []))


HOG_WINDOW = (64, 128)  # width, height of the default people detector's window


def detect_people(img: np.ndarray, width: int = 480, min_score: float = 0.5) -> list[Box]:
    small, s = _scaled(img, width)
    if small.shape[1] < HOG_WINDOW[0] or small.shape[0] < HOG_WINDOW[1]:
        # Smaller than one detection window: no person fits, and OpenCV's HOG reads past the end of
        # such images (SIGSEGV on 192x108 frames, always once frames are compact copies).
        return []
    rects, weights = _hog().detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.05)
    keep = [r for r, w in zip(rects, np.ravel(weights), strict=False) if float(w) >= min_score]
    if keep:
        # Merge overlapping windows; groupRectangles needs duplicates to keep singletons.
        grouped, _ = cv2.groupRectangles([list(map(int, r)) for r in keep] * 2, 1, 0.3)
        keep = list(grouped)
    return sorted(tuple(int(round(v / s)) for v in r) for r in keep)


class PeopleProvider:
    """People (HOG) and faces (Haar) in a frame, one note per box. HOG runs at ``width`` pixels,
    upscaling smaller frames: its window is 64x128, so pedestrians ~60-100 px tall in a 640-wide
    frame (opencv-doc's vtest) are found at 960 (3-5 of ~7 per frame) and missed at 480 (0-1),
    for ~0.3 s a frame instead of ~0.07 s. Upscaling also finds 1-3 "people" in a butterfly
    photo and counts cartoon characters as people."""

    name = "people"
    kind = "frame"

    def __init__(self, width: int = 960):
        self.width = width

    def observe(self, img: np.ndarray) -> list:
        from m1.tools.perception.notes import Note

        H, W = img.shape[:2]
        s = self.width / W if W < self.width else 1.0
        big = cv2.resize(img, (self.width, int(round(H * s))), interpolation=cv2.INTER_CUBIC) if s > 1 else img
        boxes = [tuple(int(round(v / s)) for v in b) for b in detect_people(big, width=self.width)]
        out = [Note("people", "person", 1.0, box=(x, y, x + w, y + h), kind="person") for x, y, w, h in boxes]
        out += [Note("people", "face", 1.0, box=(x, y, x + w, y + h), kind="face") for x, y, w, h in detect_faces(img)]
        return out
