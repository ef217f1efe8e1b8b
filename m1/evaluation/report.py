"""Reports of an evaluation run: ``metrics.json``, ``report.md`` and ``report.png`` for one or several
systems side by side (see :mod:`m1.evaluation.harness` for how predictions and metrics are made).

``report.md`` has a summary table (official overall score, unparseable and missing answers, frames
and seconds per query as in the paper's efficiency accounting, tool calls), one table per
breakdown the benchmark publishes (per category, per duration group, per family, grounding
recalls ...), the team's per-agent scores, and the load report. ``report.png`` plots the score per
category and the distributions of frames and seconds per query. This module computes nothing
that the metrics do not hold; it only lays them out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from m1.data import LoadReport
from m1.evaluation.harness import METRICS
from m1.evaluation.predictions import Prediction
from m1.schema import Question

REPORT_MD = "report.md"
REPORT_PNG = "report.png"


def _fmt(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(head))]
    return ["| " + " | ".join(head) + " |", "| " + " | ".join(align) + " |",
            *("| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows)]


def summary_rows(metrics: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    rows = []
    for name, m in metrics.items():
        s, e = m["score"], m["efficiency"]
        rows.append([name, s["n"], s["overall"], s["unparseable"], s["missing"], e["frames_per_query"]["mean"],
                     e["frames_per_query"]["median"], e["seconds_per_query"]["mean"], e["seconds_per_query"]["median"],
                     e["tool_calls_per_query"]])
    return rows


SUMMARY_HEAD = ["system", "n", "overall (%)", "unparseable", "missing", "frames/q mean", "frames/q median",
                "s/q mean", "s/q median", "tool calls/q"]


def render_markdown(
    benchmark: str,
    split: str,
    questions: Sequence[Question],
    metrics: Mapping[str, Mapping[str, Any]],
    load_report: LoadReport | None = None,
    command: str | None = None,
    notes: Sequence[str] = (),
    plot: str | None = REPORT_PNG,
) -> str:
    """The Markdown report (layout in the module docstring)."""
    names = list(metrics)
    lines = [f"# m1 eval: {benchmark} ({split})", ""]
    if command:
        lines += ["Command:", "", "```bash", command, "```", ""]
    labelled = [q for q in questions if q.answer is not None]
    lines += [f"{len(questions)} questions ({len(labelled)} labelled), systems: {', '.join(names)}. "
              "Scores in percent by the benchmark's official rules (multiple choice: accuracy; numeric: MRA; "
              "grounding: IoU; M1-Synth open-ended: item F1). Frames: distinct frames decoded per question; "
              "seconds: wall time per question.", ""]
    lines += ["## Summary", "", *_table(SUMMARY_HEAD, summary_rows(metrics)), ""]
    if plot:
        lines += [f"![score per category, frames and seconds per query]({plot})", ""]
    per_cat = Counter(q.category for q in labelled)
    breakdowns = _breakdown_keys(metrics)
    for key in breakdowns:
        groups = sorted({g for m in metrics.values() for g in m["score"].get(key, {})})
        rows = []
        for g in groups:
            n = per_cat.get(g) if key == "by_category" else None
            rows.append([g, *([n] if key == "by_category" else []),
                         *(m["score"].get(key, {}).get(g) for m in metrics.values())])
        head = [key.removeprefix("by_").replace("_", " "), *(["n"] if key == "by_category" else []), *names]
        lines += [f"## {key.replace('_', ' ')}", "", *_table(head, rows), ""]
    teams = {n: m["per_agent"] for n, m in metrics.items() if m.get("per_agent")}
    if teams:
        lines += ["## Each agent's own answer, scored alone (overall %)", "",
                  "The team's aggregate against what each member would have scored by itself.", ""]
        agents = sorted({a for pa in teams.values() for a in pa})
        rows = [[n, metrics[n]["score"]["overall"], *(pa.get(a, {}).get("overall") for a in agents)]
                for n, pa in teams.items()]
        lines += [*_table(["system", "team", *agents], rows), ""]
    parse = [[n, m.get("plan_parse"), m.get("answer_parse"), m.get("with_tool_errors")] for n, m in metrics.items()]
    lines += ["## Parse rates and tool errors", "",
              *_table(["system", "plans parsed (share)", "answers parsed (share)", "questions with a tool error"],
                      [[r[0], _fmt(r[1], 2), _fmt(r[2], 2), r[3]] for r in parse]), ""]
    eff = [[n, *(m["efficiency"]["frames_per_query"][k] for k in ("mean", "median", "p90", "max")),
            *(m["efficiency"]["seconds_per_query"][k] for k in ("mean", "median", "p90", "max"))]
           for n, m in metrics.items()]
    lines += ["## Efficiency (per query)", "",
              *_table(["system", "frames mean", "median", "p90", "max", "seconds mean", "median", "p90", "max"],
                      eff), ""]
    if load_report is not None:
        lines += ["## Load report", "", "```", load_report.summary(max_listed=5), "```", ""]
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines)


def _breakdown_keys(metrics: Mapping[str, Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for m in metrics.values():
        for k, v in m["score"].items():
            if isinstance(v, dict) and v and k not in keys:
                keys.append(k)
    return keys


def plot_report(
    path: str | Path,
    metrics: Mapping[str, Mapping[str, Any]],
    predictions: Mapping[str, Sequence[Prediction]],
    title: str,
) -> Path:
    """Three panels: score per category (bars per system), frames per query, seconds per query."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(metrics)
    cats = sorted({c for m in metrics.values() for c in m["score"]["by_category"]})
    height = min(24.0, max(4.0, 0.18 * len(cats) * max(1, min(len(names), 4)) + 1.5))
    fig, axes = plt.subplots(1, 3, figsize=(16, height), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    ax = axes[0]
    width = 0.8 / max(1, len(names))
    for i, n in enumerate(names):
        vals = [metrics[n]["score"]["by_category"].get(c, 0.0) for c in cats]
        ys = [y + (i - (len(names) - 1) / 2) * width for y in range(len(cats))]
        ax.barh(ys, vals, height=width, label=n)
        for y, v in zip(ys, vals, strict=True):  # a 0 bar is invisible: print every value
            ax.text(v + 1, y, f"{v:.0f}", va="center", fontsize=6)
    ax.set_yticks(range(len(cats)), [c or "(none)" for c in cats], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 110)  # room for the value printed after a 100 bar
    ax.set_xlabel("score per category (%)")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(names), frameon=False)
    for ax, key, label in ((axes[1], "frames", "frames per query"), (axes[2], "seconds", "seconds per query")):
        data = [[float(getattr(p, key)) for p in predictions[n]] or [0.0] for n in names]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, fontsize=8)
        ax.set_ylabel(label)
        flat = [v for d in data for v in d if v > 0]
        if key == "seconds" and flat and max(flat) / min(flat) > 50:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(
    out_dir: str | Path,
    benchmark: str,
    split: str,
    questions: Sequence[Question],
    metrics: Mapping[str, Mapping[str, Any]],
    predictions: Mapping[str, Sequence[Prediction]],
    load_report: LoadReport | None = None,
    command: str | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Path]:
    """Write ``metrics.json`` (every system), ``report.md`` and ``report.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": out / METRICS, "markdown": out / REPORT_MD, "plot": out / REPORT_PNG}
    payload = {"benchmark": benchmark, "split": split, "questions": len(questions), "systems": dict(metrics)}
    paths["metrics"].write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
    plot_report(paths["plot"], metrics, predictions, f"{benchmark} ({split}): {len(questions)} questions")
    paths["markdown"].write_text(render_markdown(benchmark, split, questions, metrics, load_report, command, notes))
    return paths
