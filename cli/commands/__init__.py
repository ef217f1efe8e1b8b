"""Subcommands of the ``m1`` CLI, one module each (see :mod:`cli`)."""

from __future__ import annotations

import argparse

from m1.config import M1Config, load_config


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """The two ways every command takes settings: a YAML file and dotted overrides."""
    parser.add_argument(
        "--config", "-c", default=None, metavar="YAML", help="YAML file with any subset of the settings."
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="Dotted overrides applied after the YAML file, e.g. synth.fps=8 seed=3; a value may interpolate "
        "another key: 'sft.out_dir=${output_dir}/lora'.",
    )


def config_from_args(args: argparse.Namespace) -> M1Config:
    return load_config(args.config, args.overrides)
