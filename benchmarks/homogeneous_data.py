"""The homogeneous-team ablation's SFT data: the default team's annotated examples with agent k's
renamed to the homogeneous team's agent k (same position, same citation label).

    python benchmarks/homogeneous_data.py SRC_DATASET DST_DATASET HOMOGENEOUS_CONFIG

Used by benchmarks/marl_ablations.sh and benchmarks/noisy_ablations.sh.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's m1

from m1.config import load_config  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        raise SystemExit(__doc__)
    src, dst, homo = Path(argv[0]), Path(argv[1]), argv[2]
    rename = dict(zip([a.name for a in load_config(None, []).team.agents],
                      [a.name for a in load_config(homo, []).team.agents], strict=True))
    dst.mkdir(parents=True, exist_ok=True)
    with open(src / "examples.jsonl") as fi, open(dst / "examples.jsonl", "w") as fo:
        for line in fi:
            e = json.loads(line)
            e["agent"] = rename[e["agent"]]
            fo.write(json.dumps(e) + "\n")
    shutil.copy(src / "manifest.json", dst / "manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
