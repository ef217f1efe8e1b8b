"""``m1 config show``: print the effective configuration (defaults ← YAML ← overrides)."""

from __future__ import annotations

import argparse
import json

from cli.commands import add_config_args, config_from_args
from m1.config import M1Config, to_yaml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="Inspect settings.", description="Inspect settings.")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = csub.add_parser(
        "show",
        help="Print the effective configuration as YAML.",
        description="Validate and print the effective configuration: defaults, then --config, then "
        "KEY=VALUE overrides, with ${...} interpolations resolved. An unknown key, a bad value or an "
        "interpolation of a missing key is an error naming the key and the value.",
    )
    add_config_args(show)
    show.add_argument("--json", action="store_true", help="Print JSON instead of YAML.")
    show.add_argument("--schema", action="store_true", help="Print the JSON schema of all settings.")
    show.set_defaults(func=_show)


def _show(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(M1Config.model_json_schema(), indent=2))
        return 0
    cfg = config_from_args(args)
    print(json.dumps(cfg.model_dump(mode="json"), indent=2) if args.json else to_yaml(cfg), end="")
    return 0
