"""Collects the figures of ``scripts/gpu_check.sh`` into ``figures.json`` and ``figures.md``.

    python scripts/gpu_figures.py OUT_DIR

Reads ``OUT_DIR/tests_figures.json`` (tests/gpu, ``M1_GPU_FIGURES``), ``OUT_DIR/plan.json``
(``m1 plan-resources --json``: the planner's GB per GPU), ``OUT_DIR/run/marl/metrics.jsonl`` (the MARL
step: rollout tokens/s, learner seconds, weight-sync seconds per agent) and ``OUT_DIR/gpu_mem.csv``
(``nvidia-smi`` samples: index, used MiB). Missing inputs are reported as missing, not invented.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path


def collect(out: Path) -> dict:
    figs: dict = {"missing": []}

    def read_json(name: str):
        p = out / name
        if not p.is_file():
            figs["missing"].append(name)
            return None
        return json.loads(p.read_text())

    figs["tests"] = read_json("tests_figures.json")
    figs["env"] = read_json("env.json")
    plan = read_json("plan.json")
    metrics = out / "run" / "marl" / "metrics.jsonl"
    if metrics.is_file():
        recs = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]
        last = recs[-1]
        figs["marl_step"] = {k: v for k, v in last.items() if k.startswith(("time_", "tokens_per_s", "reward",
                                                                            "ratio_mean", "clip_frac", "kl"))}
    else:
        figs["missing"].append("run/marl/metrics.jsonl")
    mem = out / "gpu_mem.csv"
    if mem.is_file():
        peak: dict[int, float] = {}
        for row in csv.reader(mem.open()):
            if len(row) >= 2 and row[0].strip().isdigit():
                i, used = int(row[0]), float(row[1].strip().split()[0]) * 2**20 / 1e9
                peak[i] = max(peak.get(i, 0.0), used)
        planned = {g["gpu"]: g["used_gb"] for g in plan["gpus"]} if plan else {}
        figs["memory_gb"] = [{"gpu": i, "peak_measured": round(v, 2), "planned": planned.get(i)}
                             for i, v in sorted(peak.items())]
    else:
        figs["missing"].append("gpu_mem.csv")
    return figs


def markdown(figs: dict) -> str:
    lines = ["# gpu_check figures", ""]
    if figs.get("env"):
        lines += [f"- machine: {figs['env']}"]
    for k, v in (figs.get("tests") or {}).items():
        lines.append(f"- tests/gpu {k}: {v:.4g}" if isinstance(v, float) else f"- tests/gpu {k}: {v}")
    for k, v in (figs.get("marl_step") or {}).items():
        lines.append(f"- MARL step {k}: {v:.4g}" if isinstance(v, float) else f"- MARL step {k}: {v}")
    for m in figs.get("memory_gb", []):
        lines.append(f"- GPU {m['gpu']}: peak {m['peak_measured']} GB measured, planner {m['planned']} GB")
    if figs["missing"]:
        lines.append(f"- missing (that part did not run or failed): {', '.join(figs['missing'])}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1])
    figs = collect(out)
    (out / "figures.json").write_text(json.dumps(figs, indent=2))
    (out / "figures.md").write_text(markdown(figs))
    print(markdown(figs))
