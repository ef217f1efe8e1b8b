"""Digest of ``m1 eval`` predictions without their timings: equal digests mean equal predictions.

Used to show that a change of structure changes no behaviour (``benchmarks/behaviour_pin.md``):
every field of every prediction counts except wall-clock seconds, which differ run to run.

    python benchmarks/predictions_digest.py RUN_DIR/predictions.jsonl [...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

TIMING_KEYS = {"seconds", "wall_seconds", "tool_seconds"}


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in sorted(obj.items()) if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def digest(path: Path) -> tuple[str, int]:
    """sha256 over the predictions in file order, each serialised with sorted keys, timings removed."""
    h = hashlib.sha256()
    n = 0
    for line in path.read_text().splitlines():
        if line.strip():
            h.update(json.dumps(_strip(json.loads(line)), sort_keys=True).encode() + b"\n")
            n += 1
    return h.hexdigest(), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, help="predictions.jsonl files written by m1 eval")
    for f in ap.parse_args().files:
        d, n = digest(f)
        print(f"{d}  {n:5d} predictions  {f}")


if __name__ == "__main__":
    main()
