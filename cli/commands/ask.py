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
                   help="Team directory (m1 models init / a trained team). Default: <output_dir>/team, "
                   "created untrained if missing.")
    p.add_argument("--ray", action="store_true", help="Run the agents, tools and memory as Ray actors.")
    p.add_argument("--seed", type=int, default=0, help="Episode seed (sampling, when sampling.eval.temperature > 0).")
    p.add_argument("--json", action="store_true", help="Print the full trace as JSON.")
    p.add_argument("--html", default=None, metavar="FILE", help="Also write an HTML rendering of the trace.")
    add_config_args(p)
    p.set_defaults(func=_run)


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
    from m1.tools.registry import catalogue

    team_dir = ensure_team(cfg, args.team)
    cfg = with_team_summariser(cfg, team_dir)
    b = build_backends(cfg, team_dir, use_ray=args.ray)
    ep = run_episode(q, b.team, b.tools, complete_topology(len(b.team.names)), catalogue(), cfg.cpp, cfg.sampling.eval,
                     seed=args.seed, memory=b.memory)
    print(ep.model_dump_json(indent=1) if args.json else render_text(ep))
    if args.html:
        Path(args.html).write_text(render_html(ep))
        print(f"HTML trace written to {args.html}", file=sys.stderr)
    return 0
