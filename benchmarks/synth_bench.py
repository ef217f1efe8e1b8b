"""M1-Synth benchmark: generation speed and the answer-prior (no-video) baseline per family.

    .venv/bin/python benchmarks/synth_bench.py [--videos 12] [--train 1500] [--test 1000] [--out FILE.json]

Speed: renders and encodes ``--videos`` default-knob videos (640x360, 10 fps, 20-60 s) with 1 and
with 2 worker processes, reporting seconds of video generated per wall second.
Prior: fits the answer-prior guessers on ``--train`` train videos' questions and scores them on
``--test`` test videos' questions (questions only — identical to what `m1 synth` writes, since
questions depend only on the event log), next to chance.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time

from m1.config import SynthConfig
from m1.synth.baseline import evaluate_prior, fit_prior
from m1.synth.generate import generate_split, split_questions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=12)
    ap.add_argument("--train", type=int, default=1500)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--out", default=None, help="Also write the figures as JSON here.")
    args = ap.parse_args()
    cfg = SynthConfig()
    results: dict = {"machine": f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores"}

    speed = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            s = generate_split(cfg, d, "val", args.videos, seed=11, workers=workers, progress=False)
        speed[workers] = {"video_seconds": s.video_seconds, "wall_seconds": round(s.wall_seconds, 2),
                          "video_s_per_s": round(s.video_seconds_per_second, 1)}
        print(f"generation, {workers} worker(s): {s.video_seconds:.0f} s of video in {s.wall_seconds:.1f} s "
              f"= {s.video_seconds_per_second:.1f} s of video per second")
    results["generation"] = speed

    t0 = time.perf_counter()
    train, test = split_questions(cfg, "train", args.train), split_questions(cfg, "test", args.test)
    report = evaluate_prior(fit_prior(train), test)
    results["prior"] = {"train_questions": len(train), "test_questions": len(test), "per_family": report}
    print(f"\nanswer-prior baseline (no video): fitted on {len(train)} train questions, scored on {len(test)} "
          f"test questions ({time.perf_counter() - t0:.1f} s)")
    print(f"{'family':<11} {'n':>5} {'chance':>7} {'letter':>7} {'opt-text':>8}  other")
    for fam, r in report.items():
        other = "  ".join(f"{k}={v:.3f}" for k, v in r.items() if k not in ("n", "chance", "letter", "option_text"))
        cols = [f"{r[k]:.3f}" if k in r else "-" for k in ("chance", "letter", "option_text")]
        print(f"{fam:<11} {r['n']:>5} {cols[0]:>7} {cols[1]:>7} {cols[2]:>8}  {other}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
