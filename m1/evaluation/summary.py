"""A small evaluation helper, and the project's one per-family summary.

:func:`summarise` is the per-family summary every table uses — MARL's evaluation
(:func:`m1.train.marl.family_metrics`), the pipeline's table (``jobs/pipeline.py``), the SFT record
(:func:`markdown_table`) and ``benchmarks/`` — built on :func:`m1.data.metrics.group_means`, the
grouping the official reports of :func:`m1.data.score` (``m1 eval``'s ``by_family``) use;
:func:`headline` flattens one into a results-table row.

The helper runs a team's CPP loop (or the reference solver) on labelled questions and scores each
with the project's one scorer (:func:`m1.data.scoring.score_question`: multiple-choice accuracy,
numeric MRA, grounding IoU, open-ended item F1), next to parse rates, tool calls and frames per query and what uniform
1-fps sampling of the same videos would decode. It is deliberately small (used by the SFT record in
``benchmarks/``); it does not load benchmarks, sample topologies or write reports beyond a Markdown
table, and imports neither torch nor Ray.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from m1.data.metrics import group_means
from m1.data.scoring import open_metric, score_question
from m1.evaluation.harness import question_seed
from m1.schema import Question, TaskType, ToolSpec
from m1.team.cpp import run_episode
from m1.team.memory import SharedMemory
from m1.team.topology import complete_topology
from m1.team.trace import Episode

# the per-question fields the SFT record's table averages, in its column order
RESULT_FIELDS = ("score", "plan_parse", "answer_parse", "tool_calls", "steps_per_agent", "frames", "uniform_frames")


class QuestionResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    qid: str
    family: str
    category: str
    metric: str
    score: float
    answer: str | None
    frames: int
    tool_calls: int
    steps_per_agent: float
    plan_parse: float  # share of agents whose plan parsed
    answer_parse: float  # share of agents whose answer parsed
    uniform_frames: int  # what uniform 1-fps sampling of the video decodes


def family_of(q: Question) -> str:
    """The name a summary groups ``q`` under: its family, ``none`` for a question of no family."""
    return q.family.value if q.family else "none"


def metric_name(q: Question) -> str:
    if open_metric(q) is not None:
        return "item F1"
    return {TaskType.NUMERIC: "MRA", TaskType.GROUNDING: "mIoU"}.get(q.task_type, "accuracy")


def uniform_frames(q: Question, fps: float = 1.0) -> int:
    """Frames a single pass of uniform sampling at ``fps`` decodes (needs ``question.duration``)."""
    if q.duration is None:
        raise ValueError(f"question {q.qid!r} has no duration: uniform-sampling frames are unknown")
    return max(1, round(q.duration * fps))


def with_durations(questions: Sequence[Question]) -> list[Question]:
    """``questions`` with ``duration`` read from the video where the benchmark's format does not carry
    it (VSI-Bench and Charades-STA rows, so M1-Synth's spatial and grounding questions as
    ``m1 eval`` loads them): each distinct video is opened once. A 1-fps cost must never count a
    missing duration as zero."""
    from m1.video import VideoReader  # noqa: PLC0415

    known: dict[str, float] = {}
    out = []
    for q in questions:
        if q.duration is None:
            if q.video not in known:
                with VideoReader(q.video) as reader:
                    known[q.video] = reader.info.duration
            q = q.model_copy(update={"duration": known[q.video]})
        out.append(q)
    return out


def result_from_episode(ep: Episode) -> QuestionResult:
    q = ep.question
    n = max(1, len(ep.agents))
    plans = sum(1 for a in ep.agents if a.turns and a.turns[0].kind == "plan" and a.turns[0].parsed is not None)
    answers = sum(1 for a in ep.agents if a.answer is not None)
    return QuestionResult(
        qid=q.qid, family=family_of(q), category=q.category, metric=metric_name(q),
        score=score_question(q, ep.final_answer).score, answer=ep.final_answer, frames=ep.frames_used,
        tool_calls=ep.tool_calls, steps_per_agent=sum(len(a.steps) for a in ep.agents) / n, plan_parse=plans / n,
        answer_parse=answers / n, uniform_frames=uniform_frames(q))


def evaluate_team(questions: Sequence[Question], team: Any, tools: Any, catalogue: Sequence[ToolSpec],
                  cpp_cfg: Any, seed: int = 0, progress: bool = False,
                  sampling: Any = None) -> tuple[list[QuestionResult], list[Episode]]:
    """One CPP episode per question (complete topology, sampling with ``sampling``: the caller's
    ``sampling.eval``; None: greedy) and its result."""

    it: Any = questions
    if progress:
        from tqdm import tqdm  # noqa: PLC0415

        it = tqdm(questions, desc="eval", unit="q")
    # a seed per question (as `m1 eval` has): with one seed for all, a sampled evaluation would give every
    # question the same random stream per (agent, phase, round); greedy results do not depend on it
    episodes = [run_episode(q, team, tools, complete_topology(len(team.names)), catalogue, cpp_cfg, sampling,
                            seed=question_seed(seed, q.qid), memory=SharedMemory()) for q in it]
    return [result_from_episode(ep) for ep in episodes], episodes


def evaluate_solver(questions: Sequence[Question], tools_cfg: Any = None) -> list[QuestionResult]:
    """The reference solver (the oracle teacher's fixed plans) on the same questions."""
    from m1.tools.solver import plan_for, solve  # noqa: PLC0415

    out = []
    for q in questions:
        s = solve(q, tools_cfg)
        out.append(QuestionResult(
            qid=q.qid, family=family_of(q), category=q.category, metric=metric_name(q),
            score=score_question(q, s.answer).score, answer=s.answer, frames=s.frames_used, tool_calls=len(plan_for(q)),
            steps_per_agent=len(plan_for(q)), plan_parse=1.0, answer_parse=1.0 if s.answer else 0.0,
            uniform_frames=uniform_frames(q)))
    return out


def summarise(groups: Sequence[str], rows: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """The per-family summary: for each group (sorted) and over everything (``all``, last), ``n``
    and the mean of every field of ``rows`` (one row per question, aligned with ``groups``; every
    row has the fields of the first). Empty input, empty summary."""
    if len(groups) != len(rows):
        raise ValueError(f"{len(groups)} groups but {len(rows)} rows")
    if not rows:
        return {}
    keys = [*groups, *["all"] * len(rows)]
    means = {f: group_means([r[f] for r in rows] * 2, keys) for f in rows[0]}
    counts = Counter(keys)
    return {k: {"n": counts[k], **{f: m[k] for f, m in means.items()}}
            for k in sorted(counts, key=lambda k: (k == "all", k))}


def headline(summary: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """A :func:`summarise` of ``score``/``frames``/``tool_calls`` rows as one row of a results table:
    ``accuracy`` (the mean score: MC accuracy, numeric MRA and grounding IoU together),
    ``frames_per_query``, ``tool_calls_per_query`` and ``score/<group>``; all 0 for no questions."""
    total = summary.get("all")
    out = {"accuracy": total["score"] if total else 0.0, "frames_per_query": total["frames"] if total else 0.0,
           "tool_calls_per_query": total["tool_calls"] if total else 0.0}
    out.update({f"score/{k}": v["score"] for k, v in summary.items() if k != "all"})
    return out


def markdown_table(named: dict[str, Sequence[QuestionResult]]) -> str:
    """One row per (system, family/metric): score, parse rates, tool calls, frames vs 1-fps."""
    head = ("| system | family / metric | n | score | plan parse | answer parse | tool calls/q | steps/agent "
            "| frames/q | 1-fps frames/q |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for name, results in named.items():
        by_group = summarise([f"{r.family}/{r.metric}" for r in results],
                             [{f: getattr(r, f) for f in RESULT_FIELDS} for r in results])
        for key, s in by_group.items():
            rows.append(f"| {name} | {key} | {s['n']:.0f} | {s['score']:.3f} | {s['plan_parse']:.2f} | "
                        f"{s['answer_parse']:.2f} | {s['tool_calls']:.2f} | {s['steps_per_agent']:.2f} | "
                        f"{s['frames']:.1f} | {s['uniform_frames']:.1f} |")
    return "\n".join(rows)
