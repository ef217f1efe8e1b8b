"""Audit the per-agent rewards a team earns: run sampled CPP episodes on an M1-Synth split and tally,
per question family, R_res / R_format / R_col and why the collaboration judge said no.

    python benchmarks/reward_audit.py --split DIR --team DIR [--n N] [--samples K] [--config YAML] \
        [--topology complete|marl] [--greedy] [--json FILE] [KEY=VALUE ...]

Episodes run as in a MARL rollout: sampling with ``sampling.train`` (``--greedy``: ``sampling.eval``),
a seed per question and sample derived from ``seed``, and the complete topology or, with
``--topology marl``, the topology MARL samples for that rollout (Agent Dropout over a random DAG,
``m1.train.marl.rollout_topology``; complete when ``grpo.agent_dropout`` is off). The tally also
counts the turns that parse and why the others did not (turn kind, format error kind), which is
what R_format reads. Use it to see what a reward
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
            "collaboration": 0.0, "reasons": Counter(), "wrong_kind_tools": Counter(), "turns": 0,
            "turns_parsed": 0, "turn_errors": Counter()}


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
            t["turns"] += len(a.turns)
            t["turns_parsed"] += sum(turn.error is None for turn in a.turns)
            t["turn_errors"].update(f"{turn.kind}: {turn.error_kind}" for turn in a.turns if turn.error is not None)
            t["wrong_kind_only"] += r.judge_reasons == (WRONG_KIND,)  # judge 1 before the kind check
            if WRONG_KIND in r.judge_reasons:
                t["wrong_kind_tools"].update(entries[s.memory_id].tool for s in a.steps
                                             if entries[s.memory_id].candidate is not None)


def markdown(tally: dict[str, dict[str, Any]]) -> str:
    """One row per family (``all`` last): judge rate, mean reward components, the share of turns that
    parse, the judge's reasons and the turns' format errors (turn kind: error kind)."""
    rows = ["| family | agent trajectories | judge 1 | judge 1 without the kind check | mean R_res | mean R_format "
            "| mean R_col | turns parsed | why the judge said 0 | format errors |", "|---" * 10 + "|"]
    for fam in sorted(tally, key=lambda f: (f == "all", f)):
        t = tally[fam]
        n = t["trajectories"]
        why = "; ".join(f"{k} ({v})" for k, v in t["reasons"].most_common())
        if t["wrong_kind_tools"]:
            why += " — wrong-kind candidates from " + ", ".join(f"{k} ({v})" for k, v in t["wrong_kind_tools"].items())
        errors = "; ".join(f"{k} ({v})" for k, v in t["turn_errors"].most_common())
        rows.append(f"| {fam} | {n} | {t['judge_ok'] / n:.2f} | {(t['judge_ok'] + t['wrong_kind_only']) / n:.2f} "
                    f"| {t['outcome'] / n:+.3f} | {t['format'] / n:+.3f} "
                    f"| {t['collaboration'] / n:+.3f} | {t['turns_parsed'] / max(t['turns'], 1):.2f} "
                    f"| {why or '-'} | {errors or '-'} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", required=True, help="An M1-Synth split directory (m1 synth --out).")
    ap.add_argument("--team", required=True, help="Team directory (m1 models init, jobs/sft.py, jobs/marl.py).")
    ap.add_argument("--n", type=int, default=None, help="First N questions only (after --families).")
    ap.add_argument("--families", default=None, metavar="LIST",
                    help="Comma-separated question families to audit (e.g. open_ended), as marl.families. Default all.")
    ap.add_argument("--samples", type=int, default=1, help="Sampled episodes per question.")
    ap.add_argument("--config", "-c", default=None, metavar="YAML", help="Settings file; overrides apply after it.")
    ap.add_argument("--topology", choices=("complete", "marl"), default="complete",
                    help="complete: every agent reads every other (as m1 eval); marl: the topology MARL samples for "
                    "the rollout (Agent Dropout over a random DAG when grpo.agent_dropout is on). Default complete.")
    ap.add_argument("--greedy", action="store_true",
                    help="Decode with sampling.eval (greedy by default) instead of sampling.train, to separate what "
                    "the rollout temperature does from what the topology does.")
    ap.add_argument("--json", default=None, help="Write the per-family tallies here.")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    if args.samples < 1:
        ap.error("--samples must be at least 1")

    import torch

    torch.set_num_threads(1)
    from tqdm import tqdm

    from m1.config import ConfigError, load_config
    from m1.errors import UserError
    from m1.schema import Family
    from m1.seeding import derive_seed
    from m1.synth import of_families, read_split
    from m1.team.cpp import LocalTeam, ToolRunner, run_episode
    from m1.team.memory import SharedMemory
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue
    from m1.train.marl import rollout_topology

    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as e:
        ap.error(str(e))
    try:
        families = [Family(f) for f in args.families.split(",")] if args.families else None
        questions = of_families(read_split(args.split), families, "--families", args.split)[: args.n]
    except (ValueError, UserError) as e:
        ap.error(str(e))
    team = LocalTeam.from_dir(args.team, cfg.team)
    tools, cat = ToolRunner(cfg.tools, cfg.video), catalogue()
    tally: dict[str, dict[str, Any]] = {}
    sampling = cfg.sampling.eval if args.greedy else cfg.sampling.train
    n_agents = len(team.names)
    with tqdm(total=len(questions) * args.samples, desc="audit", unit="ep") as bar:
        for qi, q in enumerate(questions):
            for k in range(args.samples):
                # its own seed per (question, sample), as MARL rollouts have: one seed for all would give
                # every question the same random stream per (agent, phase, round)
                topology = (rollout_topology(cfg, n_agents, 0, qi, k) if args.topology == "marl"
                            else complete_topology(n_agents))
                ep = run_episode(q, team, tools, topology, cat, cfg.cpp, sampling,
                                 seed=derive_seed(cfg.seed, "audit", q.qid, k) % (2**62), memory=SharedMemory())
                add_episode(tally, ep, cfg.rewards)
                bar.update()

    t = sampling.temperature
    print(f"team {args.team}, {len(questions)} questions x {args.samples} samples, T={t}, "
          f"topology {args.topology}\n")
    print(markdown(tally), end="")
    if args.json:
        out = {f: {**{k: v for k, v in t.items() if not isinstance(v, Counter)},
                   "reasons": dict(t["reasons"]), "wrong_kind_tools": dict(t["wrong_kind_tools"]),
                   "turn_errors": dict(t["turn_errors"])}
               for f, t in tally.items()}
        Path(args.json).write_text(json.dumps({"team": args.team, "questions": len(questions),
                                               "samples": args.samples, "temperature": t,
                                               "topology": args.topology,
                                               "families": out}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
