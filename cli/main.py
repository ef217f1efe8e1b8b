"""The ``m1`` command line. Each subcommand lives in ``cli/commands/<name>.py`` and exposes
``register(subparsers)``; heavy imports happen inside the command, so ``m1 --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from m1 import __version__
from m1.config import ConfigError
from m1.errors import UserError

# Order is the order of `m1 --help`. Add a module here to add a subcommand.
COMMAND_MODULES = [
    "cli.commands.run",
    "cli.commands.ask",
    "cli.commands.config",
    "cli.commands.synth",
    "cli.commands.models",
    "cli.commands.tools",
    "cli.commands.eval",
    "cli.commands.resources",
]

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="m1",
        description="videochat-m1: a team of LLM agents that answers questions about videos by "
        "planning, executing and revising video-tool calls together (Collaborative Policy "
        "Planning), trained with SFT and multi-agent GRPO on Ray.",
        epilog="Every subcommand has --help. Settings: `m1 config show` prints all of them; "
        "override any with dotted key=value pairs, e.g. `m1 synth ... synth.fps=8`.",
    )
    parser.add_argument("--version", action="version", version=f"videochat-m1 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # KEY=VALUE overrides may come after options (`m1 ask v.mp4 "q" --task mc cpp.max_steps=3`), which
    # argparse cannot give to a positional declared before them: collect such leftovers here.
    args, extra = parser.parse_known_args(argv)
    stray = [x for x in extra if x.startswith("-") or "=" not in x]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = list(args.overrides) + extra
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ConfigError, UserError) as e:
        print(f"m1 {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

