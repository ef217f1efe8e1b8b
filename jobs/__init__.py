"""Ray job entrypoints: each module has ``main(cfg)`` and runs as ``python jobs/<name>.py [overrides]``
or under ``ray job submit --working-dir . -- python jobs/<name>.py``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any


def run_cli(main: Callable[[Any], Any], doc: str | None, argv: list[str] | None = None,
            defaults: Sequence[str] = ()) -> int:
    """The command line every job shares: ``[--config YAML] [KEY=VALUE ...]`` → ``main(cfg)``.
    ``defaults`` (the pipeline's embedded sizes) sit below the YAML file and the overrides."""
    from m1.config import load_config

    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    ap.add_argument("--config", "-c", default=None, help="YAML with any subset of the settings.")
    ap.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    args = ap.parse_args(argv)
    from m1.config import ConfigError
    from m1.errors import UserError

    try:
        main(load_config(args.config, list(args.overrides), defaults=list(defaults)))
    except (ConfigError, UserError) as e:  # expected failures: one line and what to do, no traceback
        print(f"{ap.prog}: error: {e}", file=sys.stderr)
        return 2
    return 0
