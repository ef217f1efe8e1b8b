"""``m1 run``: the main job on embedded defaults — the tiny end-to-end pipeline.

Synthetic data (M1-Synth train and test splits) → oracle-teacher annotation through the CPP loop
and the paper's filter → SFT of the 4-agent team (one Ray task per agent) → multi-agent GRPO
(rollout actors, learner actor, weight sync) → evaluation on the held-out split, printed as one
table next to the no-video answer prior and the reference solver. Everything is written under
``output_dir`` (default ``runs/pipeline``); rerunning continues an interrupted run. The embedded
defaults (``jobs/pipeline.py::PIPELINE_DEFAULTS``) keep it to roughly 20-30 minutes on 2 cores;
a ``--config`` YAML file overrides them, and any KEY=VALUE overrides both (e.g.
``marl.steps=50 sft.train_videos=60``).
"""

from __future__ import annotations

import argparse

from cli.commands import add_config_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="Run the main job: data -> annotation -> SFT -> MARL -> evaluation table (tiny team, local Ray).",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config_args(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from jobs.pipeline import PIPELINE_DEFAULTS, main
    from m1.config import load_config

    main(load_config(args.config, list(args.overrides), defaults=PIPELINE_DEFAULTS))
    return 0
