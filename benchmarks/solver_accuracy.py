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

import torch

from m1.data.scoring import score_question
from m1.evaluation.summary import summarise
from m1.synth import read_split
from m1.tools.solver import solve


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("split_dir")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    qs = read_split(a.split_dir)
    groups, sub_groups, rows = [], [], []
    t0 = time.time()
    for q in qs:
        s = solve(q)
        # grouped by task type (the table's order), shown as its metric
        groups.append(f"{q.family.value}/{q.task_type.value}")
        sub_groups.append(f"{q.family.value}/{q.category}/{q.task_type.value}")
        rows.append({"score": score_question(q, s.answer).score, "frames": s.frames_used, "duration": q.duration,
                     "seconds": s.seconds})
    wall = time.time() - t0
    metric = {"multiple_choice": "accuracy", "numeric": "MRA", "grounding": "mean IoU"}

    def cells(key: str) -> str:
        *names, task_type = key.split("/")
        return " | ".join([*names, metric[task_type]])

    lines = [
        "| family | subtype | metric | n | score | frames/q | 1-fps frames/q | s/q |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, v in summarise(sub_groups, rows).items():
        if key != "all":
            lines.append(f"| {cells(key)} | {v['n']} | {v['score']:.3f} | {v['frames']:.1f} | "
                         f"{v['duration']:.1f} | {v['seconds']:.2f} |")
    lines += ["", "| family | metric | n | score | frames/q | 1-fps frames/q |", "|---|---|---|---|---|---|"]
    per_family = summarise(groups, rows)
    for key, v in per_family.items():
        if key != "all":
            lines.append(f"| {cells(key)} | {v['n']} | {v['score']:.3f} | {v['frames']:.1f} | {v['duration']:.1f} |")
    total = per_family["all"]
    lines.append(
        f"\nAll {total['n']} questions: {total['frames']:.1f} frames/question vs "
        f"{total['duration']:.1f} at 1 fps; wall {wall:.0f} s on 1 thread."
    )
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(
                "# Reference solver on M1-Synth\n\nCommand:\n\n```\n.venv/bin/python -m cli synth --out "
                "/tmp/m1s --split test --n 30 --seed 0\n.venv/bin/python benchmarks/solver_accuracy.py "
                "/tmp/m1s/test --out benchmarks/solver_accuracy.md\n```\n\n" + text + "\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
