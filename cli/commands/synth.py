"""``m1 synth``: generate M1-Synth splits (videos + questions with exact answers)."""

from __future__ import annotations

import argparse
import os

from cli.commands import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="Generate the procedural M1-Synth video-QA benchmark.",
        description="Generate M1-Synth: real H.264 videos of moving coloured shapes, shot cuts and "
        "captions, with questions of four families (long-video QA, reasoning, spatial, temporal "
        "grounding) whose answers are exact, written in the LongVideoBench / Charades-STA / "
        "VSI-Bench formats; synth.open_ended=true adds an open-ended family (free-text lists scored "
        "by item F1). Same arguments -> identical files. Difficulty knobs are the synth.* "
        "settings (see `m1 config show`), given as KEY=VALUE, e.g. synth.objects_per_scene=[2,4].",
        epilog="example: m1 synth --out data/m1synth --split train --n 200 --seed 0 --workers 2",
    )
    p.add_argument("--out", required=True, help="Output directory; the split goes to OUT/SPLIT/.")
    p.add_argument(
        "--split", default="test",
        help="train, val or test, or a comma-separated list (default: test). Splits never share seeds.",
    )
    p.add_argument("--n", type=int, default=20, help="Number of videos per split (default: 20).")
    p.add_argument("--seed", type=int, default=None, help="Global seed (default: the config's seed).")
    p.add_argument(
        "--workers", type=int, default=min(2, os.cpu_count() or 1),
        help="Processes rendering videos in parallel (default: min(2, cores)).",
    )
    p.add_argument("--long-video", action="store_true", help="3-6 minute videos (sets synth.long_video=true).")
    p.add_argument("--fps", type=int, default=None, help="Shortcut for synth.fps.")
    p.add_argument("--resolution", default=None, metavar="WxH", help="Shortcut for synth.width/height, e.g. 320x180.")
    p.add_argument("--no-progress", action="store_true", help="No progress bar.")
    add_config_args(p)
    p.set_defaults(func=_run)


def shortcut_overrides(args: argparse.Namespace) -> list[str]:
    out = []
    if args.long_video:
        out.append("synth.long_video=true")
    if args.fps is not None:
        out.append(f"synth.fps={args.fps}")
    if args.resolution:
        from m1.errors import UserError

        try:
            w, h = (int(v) for v in args.resolution.lower().split("x"))
        except ValueError:
            raise UserError(f"--resolution must look like 640x360, got {args.resolution!r}") from None
        out += [f"synth.width={w}", f"synth.height={h}"]
    return out


def _run(args: argparse.Namespace) -> int:
    from m1.errors import UserError
    from m1.synth import SPLITS, generate_split

    args.overrides = shortcut_overrides(args) + list(args.overrides)
    cfg = config_from_args(args)
    splits = [s.strip() for s in args.split.split(",") if s.strip()]
    bad = [s for s in splits if s not in SPLITS]
    if bad or not splits:
        raise UserError(f"--split must be among {', '.join(SPLITS)}, got {args.split!r}")
    if args.n < 1:
        raise UserError(f"--n must be >= 1, got {args.n}")
    seed = cfg.seed if args.seed is None else args.seed
    for split in splits:
        s = generate_split(cfg.synth, args.out, split, args.n, seed=seed, workers=args.workers,
                           progress=not args.no_progress)
        print(f"{split}: {s.videos} videos ({s.video_seconds:.0f} s of video) and {s.questions} questions "
              f"in {s.wall_seconds:.1f} s ({s.video_seconds_per_second:.1f} s of video per s) -> {s.split_dir}")
        for fam, k in sorted(s.per_family.items()):
            subs = ", ".join(f"{st.split('/')[1]}={v}" for st, v in sorted(s.per_subtype.items())
                             if st.startswith(fam + "/"))
            print(f"  {fam:<11} {k:>4}  ({subs})")
    return 0
