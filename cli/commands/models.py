"""``m1 models init``: train the project tokenizer and write the tiny heterogeneous team as
Hugging Face checkpoint directories (one per agent; agents with ``path`` are left as they are)."""

from __future__ import annotations

import argparse

from cli.commands import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="Build and inspect the policy models.", description="Build the policy models.")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    init = msub.add_parser(
        "init",
        help="Train the tokenizer and write the team (safetensors + config + tokenizer per agent).",
        description="Train the byte-level BPE tokenizer on the plan language, tool catalogue and question "
        "corpus, then build every agent of team.agents from config and save it under --out/<name>.",
    )
    init.add_argument("--out", required=True, help="Directory to write the team into.")
    add_config_args(init)
    init.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    import torch  # noqa: PLC0415

    from m1.checkpoint import count_parameters, load_agent  # noqa: PLC0415
    from m1.models import init_team  # noqa: PLC0415

    torch.set_num_threads(1)
    cfg = config_from_args(args)
    dirs = init_team(cfg.team, args.out, seed=cfg.seed)
    for spec in cfg.team.agents:
        model, tok = load_agent(dirs[spec.name])
        print(
            f"{spec.name:16s} {type(model).__name__:18s} params={count_parameters(model):>10,d} "
            f"vocab={len(tok)} -> {dirs[spec.name]}"
        )
    return 0
