"""The converted Gemma-3-270m for the tests: converted once (≈2.5 min, 0.54 GB) into
``$M1_CACHE_DIR`` (CI sets it to its cache) or else the checkout's ``.cache/m1`` (git-ignored), never
``~``; every later test run and every test in the run reuse it (a second call is a stamp check)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_cache_dir() -> Path:
    return Path(os.environ.get("M1_CACHE_DIR") or ROOT / ".cache" / "m1")


test_cache_dir.__test__ = False  # a helper, not a test


def gemma_checkpoint() -> Path:
    """The converted checkpoint's directory; skips when the ``pretrained`` extra is not installed."""
    from m1.pretrained import PretrainedError, convert_pretrained

    try:
        return convert_pretrained("gemma3-270m", cache_dir=test_cache_dir(), log=lambda m: None)
    except PretrainedError as e:
        if "needs the Python packages" in str(e):
            pytest.skip(f"the pretrained extra is not installed: {e}")
        raise
