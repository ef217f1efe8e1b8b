"""``m1 run``: the main job on embedded defaults.

At this stage of the project the main job builds the data the team trains and is evaluated
on: it generates M1-Synth train and test splits under ``<output_dir>/data``, describes them,
and scores the answer-prior (no-video) baseline that any trained team must beat. It grows
into the tiny-team SFT + multi-agent GRPO job as those stages land.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from m1.commands import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="Run the main job on embedded defaults (currently: build and describe M1-Synth data).",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n-train", type=int, default=12, help="Train videos to generate (default: 12).")
    p.add_argument("--n-test", type=int, default=6, help="Test videos to generate (default: 6).")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="Rendering processes.")
    add_config_args(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from m1.synth import generate_split, read_split
    from m1.synth.baseline import evaluate_prior, fit_prior
    from m1.synth.generate import split_questions

    cfg = config_from_args(args)
    out = Path(cfg.output_dir)
    data = out / "data"
    print(f"m1 run: output in {out.resolve()}")
    summaries = {}
    for split, n in (("train", args.n_train), ("test", args.n_test)):
        s = generate_split(cfg.synth, data, split, n, seed=cfg.seed, workers=args.workers)
        summaries[split] = s
        print(f"  {split}: {s.videos} videos, {s.video_seconds:.0f} s of video, {s.questions} questions "
              f"({s.video_seconds_per_second:.1f} s of video generated per second)")
    test = read_split(data / "test")
    print("\n  test questions per family / subtype:")
    for fam, k in sorted(summaries["test"].per_family.items()):
        subs = ", ".join(f"{st.split('/')[1]}={v}" for st, v in sorted(summaries["test"].per_subtype.items())
                         if st.startswith(fam + "/"))
        print(f"    {fam:<11} {k:>3}  ({subs})")
    example = test[0]
    print(f"\n  example ({example.family.value}/{example.category}): {example.question}")
    for opt in example.lettered_options():
        print(f"      {opt}")
    print(f"    answer: {example.answer}   video: {example.video}")
    # The prior is fitted on many more train questions than we render: questions depend only on the
    # event logs, so they are generated without video (same seeds as the rendered split).
    prior = fit_prior(split_questions(cfg.synth, "train", max(args.n_train, 400), seed=cfg.seed))
    report = evaluate_prior(prior, test)
    print("\n  answer-prior baseline on the test split (no video; what a trained team must beat):")
    for fam, r in report.items():
        print("    " + f"{fam:<11} " + "  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in r.items()))
    (out / "run_summary.json").write_text(json.dumps({
        "splits": {k: {"videos": v.videos, "questions": v.questions, "per_family": v.per_family}
                   for k, v in summaries.items()},
        "answer_prior": report,
    }, indent=1))
    print(f"\n  summary written to {out / 'run_summary.json'}")
    return 0
