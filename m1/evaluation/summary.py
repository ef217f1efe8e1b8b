"""A small evaluation helper: run a team's CPP loop (or the reference solver) on labelled
questions and summarise per family — the official metric (multiple-choice accuracy, numeric MRA,
grounding mean IoU), parse rates, tool calls and frames per query, next to what uniform 1-fps
sampling of the same videos would decode.

It is deliberately small (used by the SFT record in ``benchmarks/``); it does not load benchmarks,
sample topologies or write reports beyond a Markdown table.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from m1.schema import Question, TaskType, ToolSpec
from m1.team.trace import Episode
from m1.train.annotation import score_answer


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


def metric_name(q: Question) -> str:
    return {TaskType.NUMERIC: "MRA", TaskType.GROUNDING: "mIoU"}.get(q.task_type, "accuracy")


def uniform_frames(q: Question, fps: float = 1.0) -> int:
    """Frames a single pass of uniform sampling at ``fps`` decodes (needs ``question.duration``)."""
    if q.duration is None:
        raise ValueError(f"question {q.qid!r} has no duration: uniform-sampling frames are unknown")
    return max(1, round(q.duration * fps))


def result_from_episode(ep: Episode) -> QuestionResult:
    q = ep.question
    n = max(1, len(ep.agents))
    plans = sum(1 for a in ep.agents if a.turns and a.turns[0].kind == "plan" and a.turns[0].parsed is not None)
    answers = sum(1 for a in ep.agents if a.answer is not None)
    return QuestionResult(
        qid=q.qid, family=q.family.value if q.family else "none", category=q.category, metric=metric_name(q),
        score=score_answer(q, ep.final_answer), answer=ep.final_answer, frames=ep.frames_used,
        tool_calls=ep.tool_calls, steps_per_agent=sum(len(a.steps) for a in ep.agents) / n, plan_parse=plans / n,
        answer_parse=answers / n, uniform_frames=uniform_frames(q))


def evaluate_team(questions: Sequence[Question], team: Any, tools: Any, catalogue: Sequence[ToolSpec],
                  cpp_cfg: Any, seed: int = 0, progress: bool = False,
                  sampling: Any = None) -> tuple[list[QuestionResult], list[Episode]]:
    """One CPP episode per question (complete topology, sampling with ``sampling``: the caller's
    ``sampling.eval``; None: greedy) and its result."""
    from m1.evaluation.harness import question_seed  # noqa: PLC0415
    from m1.team.cpp import run_episode  # noqa: PLC0415
    from m1.team.memory import SharedMemory  # noqa: PLC0415
    from m1.team.topology import complete_topology  # noqa: PLC0415

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
            qid=q.qid, family=q.family.value if q.family else "none", category=q.category, metric=metric_name(q),
            score=score_answer(q, s.answer), answer=s.answer, frames=s.frames_used, tool_calls=len(plan_for(q)),
            steps_per_agent=len(plan_for(q)), plan_parse=1.0, answer_parse=1.0 if s.answer else 0.0,
            uniform_frames=uniform_frames(q)))
    return out


def summarise(results: Sequence[QuestionResult]) -> dict[str, dict[str, float]]:
    """Means per ``family/metric`` and over everything (``all``: score is the plain mean of scores)."""
    groups: dict[str, list[QuestionResult]] = defaultdict(list)
    for r in results:
        groups[f"{r.family}/{r.metric}"].append(r)
        groups["all"].append(r)
    out = {}
    for key in sorted(groups, key=lambda k: (k == "all", k)):
        rs = groups[key]
        out[key] = {
            "n": len(rs), "score": statistics.fmean(r.score for r in rs),
            "plan_parse": statistics.fmean(r.plan_parse for r in rs),
            "answer_parse": statistics.fmean(r.answer_parse for r in rs),
            "tool_calls": statistics.fmean(r.tool_calls for r in rs),
            "steps_per_agent": statistics.fmean(r.steps_per_agent for r in rs),
            "frames": statistics.fmean(r.frames for r in rs),
            "uniform_frames": statistics.fmean(r.uniform_frames for r in rs),
        }
    return out


def markdown_table(named: dict[str, Sequence[QuestionResult]]) -> str:
    """One row per (system, family/metric): score, parse rates, tool calls, frames vs 1-fps."""
    head = ("| system | family / metric | n | score | plan parse | answer parse | tool calls/q | steps/agent "
            "| frames/q | 1-fps frames/q |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for name, results in named.items():
        for key, s in summarise(results).items():
            rows.append(f"| {name} | {key} | {s['n']:.0f} | {s['score']:.3f} | {s['plan_parse']:.2f} | "
                        f"{s['answer_parse']:.2f} | {s['tool_calls']:.2f} | {s['steps_per_agent']:.2f} | "
                        f"{s['frames']:.1f} | {s['uniform_frames']:.1f} |")
    return "\n".join(rows)
