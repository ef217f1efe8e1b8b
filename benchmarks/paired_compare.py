"""Compare two systems evaluated on the same questions: per-family scores, frames per query and
a paired bootstrap 95% interval of the score difference.

    python benchmarks/paired_compare.py BASE.json NEW.json [--base NAME] [--new NAME] [--intersect] [--out FILE.md]

Each JSON file is what ``benchmarks/sft_eval.py --json`` writes (``{system: [per-question
results]}``); ``--base``/``--new`` pick a system when a file holds several. Questions are paired
by ``qid``; a question missing from either side is an error (the comparison must be paired),
unless ``--intersect`` restricts both to the questions they share.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def load_results(path: str, name: str | None) -> tuple[str, dict[str, dict]]:
    data = json.loads(Path(path).read_text())
    if name is None:
        if len(data) != 1:
            raise SystemExit(f"{path} holds systems {sorted(data)}: pick one with --base/--new")
        name = next(iter(data))
    if name not in data:
        raise SystemExit(f"{path} has no system {name!r} (has {sorted(data)})")
    return name, {r["qid"]: r for r in data[name]}


def compare(base: dict[str, dict], new: dict[str, dict], seed: int = 0, resamples: int = 5000) -> list[dict]:
    from m1.evaluation.stats import paired_bootstrap
    from m1.evaluation.summary import summarise

    if set(base) != set(new):
        only_b, only_n = sorted(set(base) - set(new)), sorted(set(new) - set(base))
        raise SystemExit(f"unpaired questions: {len(only_b)} only in base (e.g. {only_b[:3]}), "
                         f"{len(only_n)} only in new (e.g. {only_n[:3]})")
    qids = sorted(base)
    keys = [f"{base[q]['family']}/{base[q]['metric']}" for q in qids]
    fields = ("score", "frames", "uniform_frames")
    per_base = summarise(keys, [{f: base[q][f] for f in fields} for q in qids])
    per_new = summarise(keys, [{f: new[q][f] for f in fields} for q in qids])
    rows = []
    for key, b in per_base.items():
        members = [q for q, k in zip(qids, keys, strict=True) if key in (k, "all")]
        diff, lo, hi = paired_bootstrap([base[q]["score"] for q in members], [new[q]["score"] for q in members],
                                        n_resamples=resamples, seed=seed)
        rows.append({"group": key, "n": b["n"], "base": b["score"], "new": per_new[key]["score"],
                     "diff": diff, "lo": lo, "hi": hi, "base_frames": b["frames"],
                     "new_frames": per_new[key]["frames"], "uniform_frames": b["uniform_frames"]})
    return rows


def markdown(rows: list[dict], base_name: str, new_name: str) -> str:
    head = (f"| family / metric | n | {base_name} | {new_name} | difference | 95% CI | frames/q {base_name} "
            f"| frames/q {new_name} | 1-fps frames/q |\n|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['group']} | {r['n']} | {r['base']:.3f} | {r['new']:.3f} | {r['diff']:+.3f} | "
        f"[{r['lo']:+.3f}, {r['hi']:+.3f}] | {r['base_frames']:.1f} | {r['new_frames']:.1f} | "
        f"{r['uniform_frames']:.1f} |\n" for r in rows)
    return head + body


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base_json", help="Per-question results of the baseline (sft_eval.py --json).")
    ap.add_argument("new_json", help="Per-question results of the system compared against it.")
    ap.add_argument("--base", default=None, help="System name inside BASE.json (if it holds several).")
    ap.add_argument("--new", default=None, help="System name inside NEW.json (if it holds several).")
    ap.add_argument("--seed", type=int, default=0, help="Bootstrap seed.")
    ap.add_argument("--resamples", type=int, default=5000, help="Bootstrap resamples.")
    ap.add_argument("--out", default=None, help="Also write the Markdown table here.")
    ap.add_argument("--intersect", action="store_true",
                    help="Compare on the questions both files hold (e.g. a full run against a --n subset run).")
    args = ap.parse_args(argv)
    bname, base = load_results(args.base_json, args.base)
    nname, new = load_results(args.new_json, args.new)
    if args.intersect:
        common = set(base) & set(new)
        if not common:
            raise SystemExit("the two files share no question")
        base = {q: r for q, r in base.items() if q in common}
        new = {q: r for q, r in new.items() if q in common}
    rows = compare(base, new, seed=args.seed, resamples=args.resamples)
    text = markdown(rows, bname, nname)
    overall = rows[-1]
    verdict = ("excludes 0" if overall["lo"] > 0 or overall["hi"] < 0 else "includes 0")
    text += (f"\nOverall: {nname} - {bname} = {overall['diff']:+.3f}, paired bootstrap 95% CI "
             f"[{overall['lo']:+.3f}, {overall['hi']:+.3f}] ({args.resamples} resamples, seed {args.seed}): "
             f"the interval {verdict}.\n")
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
