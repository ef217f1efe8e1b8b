"""Audit the per-agent rewards a team earns: run sampled CPP episodes on an M1-Synth split and tally,
per question family, R_res / R_format / R_col and why the collaboration judge said no.

    python benchmarks/reward_audit.py --split DIR --team DIR [--n N] [--samples K] [--config YAML] \
        [--json FILE] [KEY=VALUE ...]

Episodes run as in a MARL rollout (complete topology, sampling with ``sampling.train``, a seed per
question and sample derived from ``seed``). Use it to see what a reward
teaches before spending a MARL run on it: e.g. ``inappropriate: only candidates of the wrong kind``
counts trajectories whose only question-aware call returned an answer of the wrong type (a
grounding span for a size question), which the rule judge rewarded before that check existed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def new_tally() -> dict[str, Any]:
    return {"trajectories": 0, "judge_ok": 0, "wrong_kind_only": 0, "outcome": 0.0, "format": 0.0,
            "collaboration": 0.0, "reasons": Counter(), "wrong_kind_tools": Counter()}


def add_episode(tally: dict[str, dict[str, Any]], ep: Any, rewards_cfg: Any = None) -> None:
    """Score every agent of ``ep`` (m1.train.rewards, rule judge) into ``tally[family]`` and ``tally["all"]``."""
    from m1.train.rewards import WRONG_KIND, agent_rewards

    q = ep.question
    entries = {e.id: e for e in ep.memory}
    for a, r in zip(ep.agents, agent_rewards(ep, rewards_cfg), strict=True):
        for fam in (q.family.value if q.family else "none", "all"):
            t = tally.setdefault(fam, new_tally())
            t["trajectories"] += 1
            t["judge_ok"] += r.judge_ok
            t["outcome"] += r.outcome
            t["format"] += r.format
            t["collaboration"] += r.collaboration
            t["reasons"].update(r.judge_reasons)
            t["wrong_kind_only"] += r.judge_reasons == (WRONG_KIND,)  # judge 1 before the kind check
            if WRONG_KIND in r.judge_reasons:
                t["wrong_kind_tools"].update(entries[s.memory_id].tool for s in a.steps
                                             if entries[s.memory_id].candidate is not None)


def markdown(tally: dict[str, dict[str, Any]]) -> str:
    """One row per family (``all`` last): judge rate, mean reward components, the judge's reasons."""
    rows = ["| family | agent trajectories | judge 1 | judge 1 without the kind check | mean R_res | mean R_format "
            "| mean R_col | why the judge said 0 |", "|---|---|---|---|---|---|---|---|"]
    for fam in sorted(tally, key=lambda f: (f == "all", f)):
        t = tally[fam]
        n = t["trajectories"]
        why = "; ".join(f"{k} ({v})" for k, v in t["reasons"].most_common())
        if t["wrong_kind_tools"]:
            why += " — wrong-kind candidates from " + ", ".join(f"{k} ({v})" for k, v in t["wrong_kind_tools"].items())
        rows.append(f"| {fam} | {n} | {t['judge_ok'] / n:.2f} | {(t['judge_ok'] + t['wrong_kind_only']) / n:.2f} "
                    f"| {t['outcome'] / n:+.3f} | {t['format'] / n:+.3f} "
                    f"| {t['collaboration'] / n:+.3f} | {why or '-'} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", required=True, help="An M1-Synth split directory (m1 synth --out).")
    ap.add_argument("--team", required=True, help="Team directory (m1 models init, jobs/sft.py, jobs/marl.py).")
    ap.add_argument("--n", type=int, default=None, help="First N questions only.")
    ap.add_argument("--samples", type=int, default=1, help="Sampled episodes per question.")
    ap.add_argument("--config", "-c", default=None, metavar="YAML", help="Settings file; overrides apply after it.")
    ap.add_argument("--json", default=None, help="Write the per-family tallies here.")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if args.samples < 1:
        ap.error("--samples must be at least 1")

    import torch

    torch.set_num_threads(1)
    from tqdm import tqdm

    from m1.config import ConfigError, load_config
    from m1.seeding import derive_seed
    from m1.synth import read_split
    from m1.team.cpp import LocalTeam, ToolRunner, run_episode
    from m1.team.memory import SharedMemory
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        ap.error(str(e))
    questions = read_split(args.split)[: args.n]
    team = LocalTeam.from_dir(args.team, cfg.team)
    tools, cat = ToolRunner(cfg.tools, cfg.video), catalogue()
    tally: dict[str, dict[str, Any]] = {}
    with tqdm(total=len(questions) * args.samples, desc="audit", unit="ep") as bar:
        for q in questions:
            for k in range(args.samples):
                # its own seed per (question, sample), as MARL rollouts have: one seed for all would give
                # every question the same random stream per (agent, phase, round)
                ep = run_episode(q, team, tools, complete_topology(len(team.names)), cat, cfg.cpp, cfg.sampling.train,
                                 seed=derive_seed(cfg.seed, "audit", q.qid, k) % (2**62), memory=SharedMemory())
                add_episode(tally, ep, cfg.rewards)
                bar.update()

    t = cfg.sampling.train.temperature
    print(f"team {args.team}, {len(questions)} questions x {args.samples} samples, T={t}\n")
    print(markdown(tally), end="")
    if args.json:
        out = {f: {**{k: v for k, v in t.items() if not isinstance(v, Counter)},
                   "reasons": dict(t["reasons"]), "wrong_kind_tools": dict(t["wrong_kind_tools"])}
               for f, t in tally.items()}
        Path(args.json).write_text(json.dumps({"team": args.team, "questions": len(questions),
                                               "samples": args.samples, "temperature": t,
                                               "families": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
