"""Reference-solver accuracy and frames per question on an M1-Synth split.

Usage: .venv/bin/python benchmarks/solver_accuracy.py SPLIT_DIR [--out benchmarks/solver_accuracy.md]
(make the split with `m1 synth --out DIR --split test --n 30 --seed 0`). Scores: accuracy for
multiple choice, MRA for numeric, IoU for grounding; frames = distinct frames looked at per
question, compared with uniform dense sampling at 1 fps (= duration in seconds).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import torch

from m1.data.metrics import mean_relative_accuracy, temporal_iou
from m1.schema import TaskType
from m1.synth import read_split
from m1.tools.solver import solve


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("split_dir")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    qs = read_split(a.split_dir)
    rows = defaultdict(list)
    t0 = time.time()
    for q in qs:
        s = solve(q)
        if q.task_type == TaskType.MULTIPLE_CHOICE:
            score = float(s.answer == q.answer)
        elif q.task_type == TaskType.NUMERIC:
            score = mean_relative_accuracy(float(s.answer), float(q.answer)) if s.answer else 0.0
        else:
            score = temporal_iou(
                tuple(map(float, s.answer.split())) if s.answer else None, tuple(map(float, q.answer.split()))
            )
        rows[(q.family.value, q.category, q.task_type.value)].append((score, s.frames_used, q.duration, s.seconds))
    wall = time.time() - t0
    metric = {"multiple_choice": "accuracy", "numeric": "MRA", "grounding": "mean IoU"}
    lines = [
        "| family | subtype | metric | n | score | frames/q | 1-fps frames/q | s/q |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fam = defaultdict(list)
    for (f, c, t), v in sorted(rows.items()):
        n = len(v)
        lines.append(
            f"| {f} | {c} | {metric[t]} | {n} | {sum(x[0] for x in v) / n:.3f} | "
            f"{sum(x[1] for x in v) / n:.1f} | {sum(x[2] for x in v) / n:.1f} | {sum(x[3] for x in v) / n:.2f} |"
        )
        fam[(f, t)].extend(v)
    lines += ["", "| family | metric | n | score | frames/q | 1-fps frames/q |", "|---|---|---|---|---|---|"]
    for (f, t), v in sorted(fam.items()):
        n = len(v)
        lines.append(
            f"| {f} | {metric[t]} | {n} | {sum(x[0] for x in v) / n:.3f} | "
            f"{sum(x[1] for x in v) / n:.1f} | {sum(x[2] for x in v) / n:.1f} |"
        )
    allv = [x for v in rows.values() for x in v]
    lines.append(
        f"\nAll {len(allv)} questions: {sum(x[1] for x in allv) / len(allv):.1f} frames/question vs "
        f"{sum(x[2] for x in allv) / len(allv):.1f} at 1 fps; wall {wall:.0f} s on 1 thread."
    )
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(
                "# Reference solver on M1-Synth\n\nCommand:\n\n```\n.venv/bin/python -m m1.cli synth --out "
                "/tmp/m1s --split test --n 30 --seed 0\n.venv/bin/python benchmarks/solver_accuracy.py "
                "/tmp/m1s/test --out benchmarks/solver_accuracy.md\n```\n\n" + text + "\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
