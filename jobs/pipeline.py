"""The tiny end-to-end pipeline: synthetic data → teacher annotation → SFT → multi-agent GRPO →
evaluation, printing one table. What ``m1 run`` runs.

    python jobs/pipeline.py [--config YAML] [KEY=VALUE ...]

Stages reuse what an earlier run left under ``output_dir`` (splits, dataset, checkpoints), so an
interrupted pipeline continues where it stopped. The table compares, on the held-out M1-Synth
split: the answer prior (no video), the reference solver (the oracle teacher), the team after
SFT, and the team after SFT + MARL — score per family and frames per query.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from m1.checkpoint import TeamDir
from m1.config import M1Config

# What `m1 run` uses unless the user says otherwise: small enough for ~20-30 minutes on 2 cores.
PIPELINE_DEFAULTS = [
    "output_dir=runs/pipeline",
    "sft.train_videos=24",
    "marl.steps=8",
    "marl.questions_per_step=4",
    "marl.eval_videos=6",
    "marl.checkpoint_every=4",
    "grpo.group_size=4",
]


def solver_metrics(questions) -> dict[str, float]:  # noqa: ANN001
    """The reference solver's row of the table: scored and summarised per family like the teams' rows."""
    from m1.evaluation.summary import evaluate_solver, headline, summarise

    results = evaluate_solver(questions)
    return headline(summarise([r.family for r in results],
                              [{"score": r.score, "frames": r.frames, "tool_calls": r.tool_calls} for r in results]))


def prior_metrics(cfg: M1Config, test) -> dict[str, float]:  # noqa: ANN001
    from m1.synth.baseline import evaluate_prior, fit_prior
    from m1.synth.generate import split_questions

    report = evaluate_prior(fit_prior(split_questions(cfg.synth, "train", 400, seed=cfg.seed)), test)
    out = {"frames_per_query": 0.0}
    for fam, r in report.items():
        out[f"score/{fam}"] = r.get("option_text", r.get("numeric_median_mra", r.get(
            "mean_span_iou", r.get("most_common_f1", 0.0))))
    return out


def format_table(rows: dict[str, dict[str, float]]) -> str:
    fams = sorted({k.split("/", 1)[1] for r in rows.values() for k in r if k.startswith("score/")})
    head = "| system | " + " | ".join(fams) + " | overall | frames/query |"
    lines = [head, "|" + "---|" * (len(fams) + 3)]
    for name, r in rows.items():
        per = [r.get(f"score/{f}") for f in fams]
        overall = r.get("accuracy", sum(v for v in per if v is not None) / max(1, sum(v is not None for v in per)))
        cells = ["-" if v is None else f"{v:.3f}" for v in per]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {overall:.3f} | {r.get('frames_per_query', 0):.1f} |")
    return "\n".join(lines)


def main(cfg: M1Config) -> dict:
    import torch

    torch.set_num_threads(1)
    import jobs.annotate as annotate
    import jobs.marl as marl
    import jobs.sft as sft
    from m1.synth import read_split

    t0 = time.perf_counter()
    root = Path(cfg.output_dir)
    timings: dict[str, float] = {}
    stage = time.perf_counter()
    p = annotate.sft_paths(cfg)
    if not (p["dataset"] / "examples.jsonl").is_file():
        annotate.main(cfg)
    timings["data+annotation"] = time.perf_counter() - stage
    stage = time.perf_counter()
    if not TeamDir(p["team_out"]).exists():
        sft.main(cfg)
    timings["sft"] = time.perf_counter() - stage
    stage = time.perf_counter()
    summary = marl.main(cfg)  # evaluates the SFT team before and the MARL team after, on the test split
    timings["marl+eval"] = time.perf_counter() - stage
    test = read_split(marl.marl_paths(cfg)["eval"])[: cfg.marl.eval_questions]
    stage = time.perf_counter()
    rows = {
        "answer prior (no video)": prior_metrics(cfg, test),
        "reference solver (oracle)": solver_metrics(test),
        "team after SFT": summary["before"] or {},
        "team after SFT + MARL": summary["after"],
    }
    timings["baselines"] = time.perf_counter() - stage
    table = format_table(rows)
    total = time.perf_counter() - t0
    out = {"table": rows, "timings_s": {k: round(v, 1) for k, v in timings.items()}, "total_s": round(total, 1),
           "test_questions": len(test)}
    (root / "pipeline_summary.json").write_text(json.dumps(out, indent=1))
    (root / "pipeline_table.md").write_text(table + "\n")
    print(f"\n{len(test)} held-out M1-Synth questions (MC accuracy, numeric MRA, grounding mIoU):\n{table}")
    print(f"\ntotal {total / 60:.1f} min ({', '.join(f'{k} {v / 60:.1f}' for k, v in timings.items())}); "
          f"written to {root / 'pipeline_summary.json'}")
    return out


def cli(argv: list[str] | None = None) -> int:
    from jobs import run_cli

    return run_cli(main, __doc__, argv, defaults=PIPELINE_DEFAULTS)


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(cli())
