"""Evaluate teams (before/after SFT) and the oracle on an M1-Synth split; write a Markdown table.

    python benchmarks/sft_eval.py --split DIR --team untrained=DIR --team sft-full=DIR ... \
        [--oracle] [--n N] [--offset K] [--agents NAME,NAME] [--config YAML] [--out FILE.md] [--json FILE] \
        [KEY=VALUE ...]

Each team runs the in-process CPP loop (greedy, complete topology, the config's cpp section) on
the first N questions of the split; see m1.evaluation.summary for the metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", required=True, help="An M1-Synth split directory (m1 synth --out).")
    ap.add_argument("--team", action="append", default=[], metavar="NAME=DIR", help="A team to evaluate.")
    ap.add_argument("--oracle", action="store_true", help="Also run the reference solver (oracle teacher).")
    ap.add_argument("--n", type=int, default=None, help="First N questions only (after --offset).")
    ap.add_argument("--offset", type=int, default=0,
                    help="Skip the first OFFSET questions: shards of one split run in parallel processes.")
    ap.add_argument("--agents", default=None, metavar="NAME,NAME",
                    help="Run only these agents of each team (team.use: configured order, the last is the summariser; "
                    "each keeps its citation label), "
                    "e.g. for the number-of-agents ablation.")
    ap.add_argument("--config", "-c", default=None, metavar="YAML",
                    help="Settings file (e.g. configs/ablations/homogeneous.yaml); overrides apply after it.")
    ap.add_argument("--out", default=None, help="Write the Markdown table here.")
    ap.add_argument("--json", default=None, help="Write per-question results here.")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from m1.config import ConfigError, load_config
    from m1.evaluation.summary import evaluate_solver, evaluate_team, markdown_table
    from m1.synth import read_split
    from m1.team.cpp import LocalTeam, ToolRunner
    from m1.tools.registry import catalogue

    names = [a.strip() for a in (args.agents or "").split(",") if a.strip()]
    try:  # team.use keeps each agent's citation label from the full team, and refuses unknown names
        cfg = load_config(args.config, [*args.overrides, *([f"team.use=[{','.join(names)}]"] if names else [])])
    except ConfigError as e:
        ap.error(str(e))
    questions = read_split(args.split)[args.offset :]
    questions = questions[: args.n]
    results, seconds = {}, {}
    for item in args.team:
        name, _, path = item.partition("=")
        t0 = time.perf_counter()
        team = LocalTeam.from_dir(path, cfg.team)
        results[name], _ = evaluate_team(questions, team, ToolRunner(cfg.tools, cfg.video), catalogue(), cfg.cpp,
                                         seed=cfg.seed, progress=True, sampling=cfg.sampling.eval)
        seconds[name] = time.perf_counter() - t0
    if args.oracle:
        t0 = time.perf_counter()
        results["oracle (solver)"] = evaluate_solver(questions, cfg.tools)
        seconds["oracle (solver)"] = time.perf_counter() - t0
    table = markdown_table(results)
    timing = "\n".join(f"- {k}: {v:.0f} s for {len(questions)} questions" for k, v in seconds.items())
    text = f"{table}\n\nWall time (shared 2-core machine):\n{timing}\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({k: [r.model_dump() for r in v] for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
