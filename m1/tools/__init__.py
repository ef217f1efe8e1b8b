"""Video tools for the agent team: a registry of seven tools over shared perception.

Entry points: :func:`m1.tools.registry.catalogue`, :func:`m1.tools.registry.execute`,
:class:`m1.tools.context.ToolContext`. See :mod:`m1.tools.builtin` for each tool's semantics.
Imports nothing heavy at package import (no torch, no OCR models until first use).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

FINGERPRINTED = ("tools", "video")  # the m1 subpackages whose code turns a tool call into its result


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A short hash of the code that turns a tool call into a result (``m1/tools`` and ``m1/video``).

    The tools config says *which* errors the noisy tools make; this says *how*: a change here (e.g. a
    new field in the noise key) makes the same call under the same config read other errors, so two
    evaluations with different fingerprints are not paired question by question. ``m1 eval`` records it
    in ``run.json`` (``tools_code``) and refuses to resume across it; ``benchmarks/collaboration.py``
    refuses to pair across it. Any edit to these files changes it, comments included: conservative."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for sub in FINGERPRINTED:
        for f in sorted((root / sub).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]
