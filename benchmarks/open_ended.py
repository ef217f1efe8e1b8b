"""The reference solver on M1-Synth's open-ended family, next to two trivial baselines.

Usage (make the split first):
    .venv/bin/python -m cli synth --out /tmp/oe_synth --split test --n 20 --seed 0 synth.open_ended=true
    .venv/bin/python benchmarks/open_ended.py /tmp/oe_synth/test [--out benchmarks/open_ended.md]

Scores by the project's one scorer (item F1, :mod:`m1.data.metrics`); "exact" = share scoring 1.
Baselines, no video watched: ``empty`` (no answer) and ``most common`` (per subtype, the reference
most often given in the train split of the same knobs and seed, 200 videos, whose questions are
generated without rendering any video).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from m1.config.synth import SynthConfig
from m1.data.scoring import score_question
from m1.evaluation.summary import summarise
from m1.schema import Family
from m1.synth import read_split
from m1.synth.generate import split_questions
from m1.tools.solver import solve


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("split_dir", help="an M1-Synth split made with synth.open_ended=true")
    ap.add_argument("--train-videos", type=int, default=200)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    qs = [q for q in read_split(a.split_dir) if q.family == Family.OPEN_ENDED]
    manifest = json.loads((Path(a.split_dir) / "manifest.json").read_text())
    cfg = SynthConfig.model_validate(manifest["config"])
    train = [q for q in split_questions(cfg, "train", a.train_videos, seed=manifest["seed"])
             if q.family == Family.OPEN_ENDED]
    common = {cat: Counter(q.answer for q in train if q.category == cat).most_common(1)[0][0]
              for cat in {q.category for q in train}}
    groups, rows, lines_q = [], [], []
    t0 = time.time()
    for q in qs:
        s = solve(q)
        score = score_question(q, s.answer).score
        groups.append(q.category)
        rows.append({"score": score, "exact": float(score == 1.0), "frames": s.frames_used, "duration": q.duration,
                     "seconds": s.seconds, "empty": score_question(q, "").score,
                     "common": score_question(q, common.get(q.category, "")).score})
        lines_q.append(f"| {q.qid} | {q.question} | {q.answer} | {s.answer} | {score:.2f} |")
    wall = time.time() - t0
    lines = ["| subtype | n | solver item F1 | solver exact | most-common F1 | empty F1 | frames/q | 1-fps frames/q "
             "| s/q |", "|---|---|---|---|---|---|---|---|---|"]
    for key, v in summarise(groups, rows).items():
        lines.append(f"| {key} | {v['n']} | {v['score']:.3f} | {v['exact']:.3f} | {v['common']:.3f} | "
                     f"{v['empty']:.3f} | {v['frames']:.1f} | {v['duration']:.1f} | {v['seconds']:.2f} |")
    lines += ["", f"{len(qs)} questions, {len(train)} train questions for the most-common baseline; "
              f"wall {wall:.0f} s on 1 thread.", "", "| qid | question | reference | solver | F1 |",
              "|---|---|---|---|---|", *lines_q]
    text = "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(
            "# Reference solver on M1-Synth's open-ended family\n\nCommand:\n\n```\n"
            ".venv/bin/python -m cli synth --out /tmp/oe_synth --split test --n 20 --seed 0 synth.open_ended=true\n"
            ".venv/bin/python benchmarks/open_ended.py /tmp/oe_synth/test --out benchmarks/open_ended.md\n```\n\n"
            + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
