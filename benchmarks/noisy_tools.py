"""One call vs verify-and-revise: the reference solver with noisy tools on long M1-Synth videos.

Usage (figures in benchmarks/noisy_tools.md)::

    python benchmarks/noisy_tools.py --config configs/noisy_long.yaml --data /tmp/noisy_long \\
        --videos 8 --data-seed 7 --noise-seeds 0,1 --json /tmp/noisy_tools.json --out benchmarks/noisy_tools.md

Generates ``--videos`` held-out test videos with the config's ``synth`` section (skipped when
DATA/test already holds a split) and runs, on every question, the solver with the exact tools
(``tools.noise.enabled=false``, the reference), with one reading per call (``one_call``) and with
``verify`` (:mod:`m1.tools.solver`) — the two noisy ones once per noise seed. Scores: accuracy
(multiple choice), MRA (numeric), IoU (grounding); frames = distinct frames per question; the
1-fps column is a uniform 1-fps pass's frame count (= duration). ``verify - one_call`` gets a
paired bootstrap 95% interval per family (benchmarks/paired_compare.py) per seed and pooled over
seeds (questions x seeds as pairs). Perception of each frame is cached once per video, so the
reference and every noisy run share the decoding and detection cost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # this checkout's m1


def _row(q, cfg_tools, store, strategy: str) -> tuple[dict, float]:  # noqa: ANN001
    from m1.data.scoring import score_question
    from m1.tools.solver import solve

    t0 = time.perf_counter()
    s = solve(q, cfg_tools, store, strategy=strategy)
    metric = {"multiple_choice": "accuracy", "numeric": "MRA", "grounding": "mean IoU"}[q.task_type.value]
    return {"qid": q.qid, "family": q.family.value, "metric": metric, "category": q.category,
            "score": score_question(q, s.answer).score, "frames": s.frames_used,
            "uniform_frames": float(int(q.duration)), "seconds": s.seconds, "answer": s.answer,
            "errors": [r.error_kind.value for r in s.results if r.error_kind]}, time.perf_counter() - t0


def _table(rows_by_name: dict[str, list[dict]]) -> str:
    from m1.evaluation.summary import summarise

    names = list(rows_by_name)
    first = rows_by_name[names[0]]
    keys = [f"{r['family']}/{r['metric']}" for r in first]
    per = {n: summarise(keys, [{k: r[k] for k in ("score", "frames", "seconds", "uniform_frames")}
                               for r in rows_by_name[n]]) for n in names}
    head = "| family / metric | n | " + " | ".join(f"{n} score | frames/q | s/q" for n in names) + " | 1-fps frames/q |"
    out = [head, "|" + "---|" * (3 + 3 * len(names))]
    for key, v in per[names[0]].items():
        cells = " | ".join(f"{per[n][key]['score']:.3f} | {per[n][key]['frames']:.1f} | {per[n][key]['seconds']:.2f}"
                           for n in names)
        out.append(f"| {key} | {v['n']} | {cells} | {v['uniform_frames']:.1f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/noisy_long.yaml")
    ap.add_argument("--set", nargs="*", default=[], help="Extra KEY=VALUE config overrides.")
    ap.add_argument("--data", required=True, help="Directory of the generated split (DATA/test).")
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--data-seed", type=int, default=7)
    ap.add_argument("--noise-seeds", default="0", help="Comma-separated tools.noise.seed values.")
    ap.add_argument("--limit", type=int, default=None, help="First N questions only (a quick look).")
    ap.add_argument("--json", default=None, help="Write every system's per-question rows here.")
    ap.add_argument("--out", default=None, help="Write the markdown tables here.")
    ap.add_argument("--from-json", default=None, help="Only write the report of a saved --json (e.g. a run cut short: "
                    "it is saved after every video).")
    a = ap.parse_args(argv)
    if a.from_json:
        data = json.loads(Path(a.from_json).read_text())
        return _report(data["systems"], data["walls"], data["seeds"], data["head"], a.out)

    import torch

    torch.set_num_threads(1)
    from m1.config import load_config
    from m1.synth import generate_split, read_split
    from m1.tools.context import VideoStore

    cfg = load_config(a.config, overrides=a.set)
    split = Path(a.data) / "test"
    t0 = time.perf_counter()
    if not (split / "questions.jsonl").is_file():
        generate_split(cfg.synth, a.data, "test", a.videos, seed=a.data_seed, workers=1, progress=False)
    gen_s = time.perf_counter() - t0
    qs = sorted(read_split(split), key=lambda q: (q.video, q.qid))[: a.limit]
    store = VideoStore(max_videos=2)
    exact_cfg = cfg.tools.model_copy(update={"noise": cfg.tools.noise.model_copy(update={"enabled": False})})
    seeds = [int(s) for s in a.noise_seeds.split(",")]
    runs = {"exact": (exact_cfg, "one_call")}
    for seed in seeds:
        ncfg = cfg.tools.model_copy(update={"noise": cfg.tools.noise.model_copy(update={"seed": seed})})
        runs |= {f"{st}@{seed}": (ncfg, st) for st in ("one_call", "verify")}
    systems: dict[str, list[dict]] = {k: [] for k in runs}
    walls = dict.fromkeys(runs, 0.0)
    head = f"generation {gen_s:.0f} s"
    for i, q in enumerate(qs):  # every system on a question in turn: the video's perception stays cached
        for name, (tcfg, st) in runs.items():
            row, wall = _row(q, tcfg, store, st)
            systems[name].append(row | {"video": Path(q.video).name, "duration": q.duration})
            walls[name] += wall
        if a.json and (i + 1 == len(qs) or qs[i + 1].video != q.video):  # a checkpoint after every video
            saved = {"systems": systems, "walls": walls, "seeds": seeds, "head": head}
            Path(a.json).write_text(json.dumps(saved) + "\n")
            print(f"{i + 1}/{len(qs)}: " + ", ".join(f"{k} {sum(r['score'] for r in v) / len(v):.3f}"
                                                       for k, v in systems.items()), flush=True)
    return _report(systems, walls, seeds, head, a.out)


def _report(systems: dict[str, list[dict]], walls: dict[str, float], seeds: list[int], head: str,
            out: str | None) -> int:
    from paired_compare import compare, markdown

    from m1.evaluation.stats import paired_bootstrap

    first = systems["exact"]
    videos = {r["video"]: r["duration"] for r in first}
    parts = [f"{len(first)} questions on {len(videos)} videos ({sum(videos.values()) / 60:.1f} min of video); "
             f"{head}; wall per system: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items())]
    for seed in seeds:
        parts.append(f"\n### noise seed {seed}\n\n" + _table({k: systems[k] for k in ("exact", f"one_call@{seed}",
                                                                                      f"verify@{seed}")}))
        base = {r["qid"]: r for r in systems[f"one_call@{seed}"]}
        new = {r["qid"]: r for r in systems[f"verify@{seed}"]}
        parts.append(f"\nverify - one_call, noise seed {seed} (paired bootstrap, 5000 resamples):\n\n"
                     + markdown(compare(base, new), "one_call", "verify"))
    if len(seeds) > 1:
        # per question, the score averaged over noise seeds; the bootstrap resamples questions
        rows = ["| family / metric | n | one_call | verify | difference | 95% CI | frames/q one_call | "
                "frames/q verify | 1-fps frames/q |", "|---|---|---|---|---|---|---|---|---|"]
        keys = [f"{r['family']}/{r['metric']}" for r in first]
        for key in [*sorted(set(keys)), "all"]:
            idx = [i for i, k in enumerate(keys) if key in (k, "all")]

            def mean(name: str, field: str, idx: list[int] = idx) -> list[float]:
                return [sum(systems[f"{name}@{s}"][i][field] for s in seeds) / len(seeds) for i in idx]

            a_, b_ = mean("one_call", "score"), mean("verify", "score")
            d, lo, hi = paired_bootstrap(a_, b_, n_resamples=5000, seed=0)
            fa, fb = mean("one_call", "frames"), mean("verify", "frames")
            rows.append(f"| {key} | {len(idx)} | {sum(a_) / len(idx):.3f} | {sum(b_) / len(idx):.3f} | {d:+.3f} | "
                        f"[{lo:+.3f}, {hi:+.3f}] | {sum(fa) / len(idx):.1f} | {sum(fb) / len(idx):.1f} | "
                        f"{sum(first[i]['uniform_frames'] for i in idx) / len(idx):.1f} |")
        parts.append(f"\nPooled over noise seeds {seeds}: each question's score averaged over the seeds, "
                     "paired bootstrap over questions (5000 resamples):\n\n" + "\n".join(rows))
        cats = sorted({f"{r['family']}/{r['category']}" for r in first})
        rows = ["| family/subtype | n | exact | one_call | verify |", "|---|---|---|---|---|"]
        for c in cats:
            idx = [i for i, r in enumerate(first) if f"{r['family']}/{r['category']}" == c]
            sc = {n: sum(systems[f"{n}@{s}"][i]["score"] for s in seeds for i in idx) / (len(idx) * len(seeds))
                  for n in ("one_call", "verify")}
            ex = sum(first[i]["score"] for i in idx) / len(idx)
            rows.append(f"| {c} | {len(idx)} | {ex:.3f} | {sc['one_call']:.3f} | {sc['verify']:.3f} |")
        parts.append(f"\nPer subtype, mean over noise seeds {seeds} (no intervals: a few questions each):\n\n"
                     + "\n".join(rows))
    text = "\n".join(parts)
    print(text)
    if out:
        Path(out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
