"""``m1 tools list`` and ``m1 tools run TOOL VIDEO --args '{...}'``: inspect and try the video tools."""

from __future__ import annotations

import argparse
import json

from cli.commands import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tools", help="List or run the video tools.", description="List or run the video tools.")
    tsub = p.add_subparsers(dest="tools_command", metavar="ACTION", required=True)
    ls = tsub.add_parser("list", help="Print each tool's name, description and arguments.")
    ls.add_argument("--json", action="store_true", help="Print the catalogue as JSON (with argument schemas).")
    ls.set_defaults(func=_list)
    run = tsub.add_parser(
        "run",
        help="Run one tool on one video and print its text rendering.",
        description="Run TOOL on VIDEO. Errors (bad video, bad arguments) are printed and give exit status 1.",
    )
    run.add_argument("tool")
    run.add_argument("video")
    run.add_argument("--args", default="{}", help="Tool arguments as a JSON object, e.g. '{\"n\": 8}'.")
    run.add_argument("--question", default=None, help="Question text the question-aware tools answer.")
    run.add_argument("--options", default=None, help="Multiple-choice options as a JSON list of strings.")
    run.add_argument("--json", action="store_true", help="Print the full ToolResult (payload included) as JSON.")
    add_config_args(run)
    run.set_defaults(func=_run)


def _list(args: argparse.Namespace) -> int:
    from m1.tools.registry import catalogue

    specs = catalogue()
    if args.json:
        print(json.dumps([s.model_dump() for s in specs], indent=2))
        return 0
    for s in specs:
        props = ", ".join(s.args_schema.get("properties", {}))
        print(f"{s.name:16s} {s.description}  args: {props or '-'}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from m1.errors import UserError
    from m1.schema import Question, TaskType, ToolCall
    from m1.tools.context import ToolContext, VideoStore
    from m1.tools.registry import execute

    cfg = config_from_args(args)
    try:
        tool_args = json.loads(args.args)
        options = json.loads(args.options) if args.options else []
    except json.JSONDecodeError as e:
        raise UserError(f"--args/--options must be JSON: {e}") from None
    if not isinstance(tool_args, dict):
        raise UserError(f"--args must be a JSON object, got {type(tool_args).__name__}")
    q = None
    if args.question:
        task = TaskType.MULTIPLE_CHOICE if options else TaskType.OPEN_ENDED
        q = Question(qid="cli", video=args.video, question=args.question, options=options, task_type=task)
    ctx = ToolContext(args.video, q, cfg.tools, VideoStore(cfg.video))
    res = execute(ToolCall(tool=args.tool, args=tool_args), ctx)
    print(res.model_dump_json(indent=2) if args.json else res.text)
    return 1 if res.error else 0
