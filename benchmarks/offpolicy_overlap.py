"""One-step off-policy overlap (``marl.off_policy``) against the synchronous MARL loop on this machine.

Same seed, same data, same starting team, in one process (``marl.use_ray=false``: the rollouts of step
k+1 run in a thread beside the learner's update k). Reports the wall seconds per update (time between
consecutive step records, the first step excluded: it has nothing to overlap) and the reward curve of
each mode, and writes them as JSON.

    PYTHONPATH=. .venv/bin/python benchmarks/offpolicy_overlap.py --steps 5 --out /tmp/offpolicy.json [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch


def run_mode(cfg, qs, team_dir, out: Path, off_policy: bool) -> list[dict]:
    from actors.rollout import build_backends
    from m1.checkpoint import agent_dir
    from m1.team.rollout import RolloutDriver
    from m1.tools.registry import catalogue
    from m1.train.learner import TeamLearner
    from m1.train.marl import MARLTrainer

    cfg = cfg.model_copy(update={"marl": cfg.marl.model_copy(update={"off_policy": off_policy, "resume": False})})
    b = build_backends(cfg, team_dir, use_ray=False)
    learner = TeamLearner.from_dirs([agent_dir(team_dir, a) for a in cfg.team.agents], cfg.grpo, seed=cfg.seed)
    trainer = MARLTrainer(cfg, qs, RolloutDriver(b, catalogue(), cfg, cfg.sampling.train), learner, out)
    records, stamps = [], [time.perf_counter()]
    while trainer.step < cfg.marl.steps:
        records.append(trainer.train_step())
        stamps.append(time.perf_counter())
    for r, a, z in zip(records, stamps, stamps[1:], strict=False):
        r["wall_s"] = z - a
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", default="offpolicy_overlap.json")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from m1.config import load_config
    from m1.models import init_team
    from m1.synth import generate_split, read_split

    cfg = load_config(overrides=[f"marl.steps={args.steps}", "marl.use_ray=false", *args.overrides])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate_split(cfg.synth, root / "data", "train", 2, seed=cfg.seed, progress=False)
        init_team(cfg.team, root / "team", seed=cfg.seed)
        qs = read_split(root / "data" / "train")
        result = {"load_before": os.getloadavg()[0], "steps": args.steps, "overrides": args.overrides}
        for name, off in (("synchronous", False), ("off_policy", True)):
            recs = run_mode(cfg, qs, root / "team", root / name, off)
            later = [r["wall_s"] for r in recs[1:]]
            result[name] = {"seconds_per_update_median": statistics.median(later), "seconds_per_update": later,
                            "reward": [r["reward"] for r in recs], "staleness": [r["staleness"] for r in recs],
                            "time_learner": [r["time_learner"] for r in recs],
                            "time_rollout": [r["time_rollout"] for r in recs]}
        result["load_after"] = os.getloadavg()[0]
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
