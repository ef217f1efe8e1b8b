"""The ``m1`` command line (entry point ``m1 = cli:main``; also ``python -m cli``).

The CLI sits beside ``actors/`` and ``jobs/``, above the library: its commands may start Ray actors
and jobs, which the library ``m1`` never imports. Each subcommand is a module in ``cli/commands/``.
"""

from cli.main import build_parser, main

__all__ = ["build_parser", "main"]
