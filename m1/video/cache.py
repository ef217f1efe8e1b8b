"""Frame accounting and the decoded-frame cache.

:class:`FrameCounter` counts, per query, the frames the decoder produced (``decoded``), the
distinct frames handed to perception (``delivered``, the paper's frames-per-query metric) and
cache hits. :class:`FrameCache` is a byte-bounded LRU keyed by
``(video content hash, frame presentation time, output size)`` so a frame is decoded once per
size however many tools ask for it. Neither knows how frames are decoded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

CacheKey = tuple[str, float, tuple[int, int]]


@dataclass
class FrameCounter:
    """Running totals; :meth:`snapshot` / :meth:`since` measure one call or one query."""

    decoded: int = 0
    delivered: int = 0
    cache_hits: int = 0
    seeks: int = 0

    def snapshot(self) -> dict[str, int]:
        return {
            "decoded": self.decoded,
            "delivered": self.delivered,
            "cache_hits": self.cache_hits,
            "seeks": self.seeks,
        }

    def since(self, before: dict[str, int]) -> dict[str, int]:
        now = self.snapshot()
        return {k: now[k] - before.get(k, 0) for k in now}


@dataclass
class FrameCache:
    """LRU over decoded RGB frames with a byte budget (0 disables caching)."""

    max_bytes: int
    _items: OrderedDict[CacheKey, np.ndarray] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: CacheKey) -> np.ndarray | None:
        with self._lock:
            img = self._items.get(key)
            if img is not None:
                self._items.move_to_end(key)
            return img

    def put(self, key: CacheKey, img: np.ndarray) -> None:
        if img.nbytes > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key).nbytes
            # Cached arrays are shared between callers; make them read-only so no tool can
            # corrupt another tool's view of the video.
            img.setflags(write=False)
            self._items[key] = img
            self._bytes += img.nbytes
            while self._bytes > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes
