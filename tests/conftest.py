"""Shared test set-up: one torch thread (2-core machines), deterministic hashing, markers."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Property tests must not fail on wall-clock deadlines: the suite runs on 2 shared cores, beside Ray.
settings.register_profile("m1", deadline=None)
settings.load_profile("m1")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
        torch.set_num_threads(1)
    except ImportError:
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


@pytest.fixture(autouse=True)
def _restore_float_mode():
    """Jobs run in-process (m1 run, jobs/marl.py) turn on torch's flush-to-zero for training; it is
    process-wide CPU state and would leak into later tests (hypothesis refuses to draw floats then)."""
    yield
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_flush_denormal(False)
