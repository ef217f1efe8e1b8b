"""``m1 ask``: one question about one video, answered by the team (in-process or on Ray)."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from cli.commands import add_config_args, config_from_args

_OVERRIDE = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*=")
TASKS = {"mc": "multiple_choice", "numeric": "numeric", "grounding": "grounding", "open": "open_ended"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ask",
        help="Ask the team a question about a video.",
        description="Run one Collaborative Policy Planning episode: every agent plans tool calls, runs them, "
        "reads the shared memory and revises, then the team answers (majority vote for multiple choice, "
        "the summariser for grounding/open-ended). Prints each agent's plan, steps, revisions and answer, "
        "and the frames/seconds used. Works on any video PyAV can read.",
        epilog='example: m1 ask clip.mp4 "What colour is the first object?" --options red green blue cyan',
    )
    p.add_argument("video", help="Path of the video file.")
    p.add_argument("question", help="The question (for grounding: the event to locate).")
    p.add_argument("--options", nargs="+", default=None, metavar="OPT", help="Options of a multiple-choice question.")
    p.add_argument("--task", choices=sorted(TASKS), default=None,
                   help="Answer type (default: mc with --options, else open).")
    p.add_argument("--team", default=None, metavar="DIR",
                   help="Team directory (m1 models init / a trained team). Default: the newest trained (SFT/MARL) "
                   "team under <output_dir>; without one, the tools alone answer (the reference solver).")
    p.add_argument("--ray", action="store_true", help="Run the agents, tools and memory as Ray actors.")
    p.add_argument("--seed", type=int, default=0, help="Episode seed (sampling, when sampling.eval.temperature > 0).")
    p.add_argument("--json", action="store_true", help="Print the full trace as JSON.")
    p.add_argument("--html", default=None, metavar="FILE", help="Also write an HTML rendering of the trace.")
    add_config_args(p)
    p.set_defaults(func=_run)


def newest_trained_team(output_dir: str | Path) -> Path | None:
    """The most recently written team under ``output_dir`` whose manifest says SFT or MARL trained it."""
    import json

    from m1.checkpoint import TEAM_MANIFEST

    found = []
    for m in Path(output_dir).glob(f"**/{TEAM_MANIFEST}"):
        try:
            body = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        if "sft" in body or "marl" in body:
            found.append((m.stat().st_mtime, m.parent))
    return max(found)[1] if found else None


def _tools_alone(q, cfg, args: argparse.Namespace) -> int:  # noqa: ANN001
    """Answer with the reference solver and show what every tool saw."""
    import html
    import json

    from m1.tools.solver import solve

    sol = solve(q, cfg.tools)
    if args.json:
        print(json.dumps({"answer": sol.answer, "confidence": sol.confidence, "frames_used": sol.frames_used,
                          "seconds": sol.seconds, "results": [r.model_dump(mode="json") for r in sol.results]},
                         indent=1))
    else:
        for r in sol.results:
            print(f"── {r.tool} {json.dumps(r.args)} ({r.seconds:.1f} s, {r.frames_used} frames)")
            print(r.error or r.text)
        print(f"answer: {sol.answer} (confidence {sol.confidence:.2f}; {sol.frames_used} frames, {sol.seconds:.1f} s)")
    if args.html:
        body = "".join(f"<h3>{html.escape(r.tool)} {html.escape(json.dumps(r.args))}</h3><pre>"
                       f"{html.escape(r.error or r.text)}</pre>" for r in sol.results)
        Path(args.html).write_text(f"<!doctype html><meta charset=utf-8><title>m1 ask</title>"
                                   f"<h2>{html.escape(q.question)}</h2>{body}<p>answer: "
                                   f"{html.escape(str(sol.answer))} (confidence {sol.confidence:.2f})</p>")
        print(f"HTML trace written to {args.html}", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from m1.errors import UserError
    from m1.schema import Question, TaskType

    if args.options:  # `--options a b c k.x=1`: nargs="+" swallows trailing overrides; hand them back
        keep = [o for o in args.options if not _OVERRIDE.match(o)]
        args.overrides = [o for o in args.options if _OVERRIDE.match(o)] + list(args.overrides)
        args.options = keep
    cfg = config_from_args(args)
    video = Path(args.video)
    if not video.is_file():
        raise UserError(f"video {args.video!r} does not exist")
    task = TASKS[args.task] if args.task else ("multiple_choice" if args.options else "open_ended")
    if task == "multiple_choice" and not args.options:
        raise UserError("--task mc needs --options")
    q = Question(qid="ask", video=str(video.resolve()), question=args.question, options=args.options or [],
                 task_type=TaskType(task))

    import torch

    torch.set_num_threads(1)
    from actors.rollout import build_backends
    from m1.models import ensure_team, with_team_summariser
    from m1.team.cpp import run_episode
    from m1.team.topology import complete_topology
    from m1.team.trace_view import render_html, render_text

    team = args.team
    if team is None:
        trained = newest_trained_team(cfg.output_dir)
        if trained is None:
            print(f"note: no trained team under {cfg.output_dir}: answering with the tools alone (the reference "
                  "solver); pass --team DIR to use a team", file=sys.stderr)
            return _tools_alone(q, cfg, args)
        print(f"note: using the newest trained team {trained}", file=sys.stderr)
        team = str(trained)
    team_dir = ensure_team(cfg, team)
    cfg = with_team_summariser(cfg, team_dir)
    b = build_backends(cfg, team_dir, use_ray=args.ray)
    ep = run_episode(q, b.team, b.tools, complete_topology(len(b.team.names)), b.tool_catalogue(), cfg.cpp,
                     cfg.sampling.eval, seed=args.seed, memory=b.memory)
    print(ep.model_dump_json(indent=1) if args.json else render_text(ep))
    if args.html:
        Path(args.html).write_text(render_html(ep))
        print(f"HTML trace written to {args.html}", file=sys.stderr)
    return 0
