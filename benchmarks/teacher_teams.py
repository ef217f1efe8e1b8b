"""What each SFT teacher does as a team on held-out questions: the oracle against the verifying oracle.

Usage (figures in benchmarks/collaboration.md, "A verifying teacher")::

    python benchmarks/teacher_teams.py --config configs/noisy.yaml --data-dir /tmp/collab --split test \\
        --team /tmp/v20_s0/sft/team --json /tmp/teacher_teams.json --out /tmp/teacher_teams.md

A student imitates its teacher, so the teacher's own team is the ceiling of what SFT can teach.
Each teacher (``--teachers``, default ``oracle,verify``) runs the real CPP loop as a team of the
config's agents (complete topology, ``cpp`` settings, the episode seed ``seed``) — exactly as
annotation does, but on questions no training saw — with the config's tools (noisy ones under
``configs/noisy.yaml``). ``--team`` supplies only the tokenizers and context limits the prompts are
rendered with (the teachers read the evidence as structure, never the weights). Reported per
family: score (accuracy / MRA / IoU), distinct frames per question, tool calls, and each later
teacher minus the first with a paired bootstrap 95% interval (5000 resamples, seed 0). The
questions are run video by video, all teachers on a question in turn, so the decoded frames and
detections are shared; seconds per question are therefore not comparable between teachers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # this checkout's m1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/noisy.yaml")
    ap.add_argument("--set", nargs="*", default=[], help="Extra KEY=VALUE config overrides.")
    ap.add_argument("--benchmark", default="m1_synth")
    ap.add_argument("--data-dir", required=True, help="The benchmark directory (as for m1 eval).")
    ap.add_argument("--split", default="test")
    ap.add_argument("--team", required=True, help="A team directory: its agents' tokenizers render the prompts.")
    ap.add_argument("--teachers", default="oracle,verify", help="Comma-separated sft.teacher values (not llm).")
    ap.add_argument("--limit", type=int, default=None, help="First N questions (in video order) only.")
    ap.add_argument("--json", default=None, help="Write every teacher's per-question rows here.")
    ap.add_argument("--out", default=None, help="Write the markdown report here.")
    a = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from tqdm import tqdm

    from m1.checkpoint import agent_dir, load_tokenizer
    from m1.config import load_config
    from m1.data import load_benchmark
    from m1.data.scoring import score_question
    from m1.evaluation.summary import with_durations
    from m1.team.cpp import ToolRunner, run_episode
    from m1.team.memory import SharedMemory
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue
    from m1.train.teachers import TeacherTeam, build_teacher

    cfg = load_config(a.config, overrides=a.set)
    names = a.teachers.split(",")
    if "llm" in names:
        raise SystemExit("--teachers: the llm teacher needs an endpoint; compare it with jobs/annotate.py")
    # the questions as m1 eval loads them (same qids, so collaboration.py pairs them with its systems)
    qs = sorted(with_durations(load_benchmark(a.benchmark, a.data_dir, a.split).questions),
                key=lambda q: (q.video, q.qid))[: a.limit]
    agents = cfg.team.agents
    toks = [load_tokenizer(agent_dir(a.team, x)) for x in agents]
    teams = {}
    for name in names:
        teacher = build_teacher(cfg.sft.model_copy(update={"teacher": name}), seed=cfg.seed)
        teams[name] = TeacherTeam(teacher, [x.name for x in agents], toks, [x.max_context for x in agents],
                                  cfg.team.labels)
    tools = ToolRunner(cfg.tools, cfg.video)
    rows: dict[str, list[dict]] = {n: [] for n in names}
    walls = dict.fromkeys(names, 0.0)
    for q in tqdm(qs, desc="teacher teams", unit="q"):
        for name, team in teams.items():
            t0 = time.perf_counter()
            ep = run_episode(q, team, tools, complete_topology(len(agents)), catalogue(), cfg.cpp, seed=cfg.seed,
                             memory=SharedMemory())
            walls[name] += time.perf_counter() - t0
            metric = {"multiple_choice": "accuracy", "numeric": "MRA", "grounding": "mean IoU",
                      "open_ended": "F1"}.get(q.task_type.value, "score")
            rows[name].append({
                "qid": q.qid, "family": q.family.value if q.family else "none", "metric": metric,
                "category": q.category, "score": score_question(q, ep.final_answer).score,
                "frames": float(ep.frames_used), "uniform_frames": float(int(q.duration)),
                "tool_calls": ep.tool_calls, "revisions": sum(t.revisions for t in ep.agents),
                "seconds": time.perf_counter() - t0,
                "answer": ep.final_answer,
            })
    if a.json:
        Path(a.json).write_text(json.dumps({"systems": rows, "walls": walls}) + "\n")
    return report(rows, walls, a.out)


def report(rows: dict[str, list[dict]], walls: dict[str, float], out: str | None) -> int:
    from paired_compare import compare, markdown

    names = list(rows)
    first = names[0]
    n = len(rows[first])
    lines = [f"{n} questions; wall per teacher team: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()),
             "", "| teacher team | score | frames/q | tool calls/q | plan changes/q (DONE or new steps) "
             "| 1-fps frames/q |",
             "|---|---|---|---|---|---|"]
    for name in names:
        rs = rows[name]
        lines.append(f"| {name} | {sum(r['score'] for r in rs) / n:.3f} | {sum(r['frames'] for r in rs) / n:.1f} | "
                     f"{sum(r['tool_calls'] for r in rs) / n:.2f} | {sum(r['revisions'] for r in rs) / n:.2f} | "
                     f"{sum(r['uniform_frames'] for r in rs) / n:.1f} |")
    base = {r["qid"]: r for r in rows[first]}
    for name in names[1:]:
        lines += ["", f"{name} - {first} (paired bootstrap, 5000 resamples, seed 0):", "",
                  markdown(compare(base, {r["qid"]: r for r in rows[name]}), first, name)]
    text = "\n".join(lines)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
