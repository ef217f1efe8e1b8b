"""Choosing a team's summariser: its best agent on a validation split, as the paper uses its best
model to summarise (``m1 models choose-summariser``).

Each agent is scored **alone**: the CPP loop with tools on a topology where only that agent is
active (no one else plans, calls tools, communicates or votes — ``m1 eval``'s ``solo`` system,
:func:`m1.evaluation.harness.solo_topology`), in the
summariser's role (``cpp.summariser`` set to it, so for grounding and open-ended questions it
answers as the summariser does). That is the closest to how the paper ranks its models: each
policy model running the task on its own, with the same tools. ``no_tools`` (one agent, uniformly
sampled frame descriptions) would rank agents by answering, not by planning, which is half of the
summariser's job. Every run goes through :func:`m1.evaluation.harness.run_system`, so it streams
its predictions and resumes; it is scored with the benchmark's official metric.

``by="team"`` (a departure from the paper) scores each agent **in the role itself**: the team runs
once on the split, and its recorded answers are aggregated again with each agent as the summariser
(:func:`m1.evaluation.harness.reaggregate`: exact, since aggregation runs after every agent has
answered, and in the team's complete topology every agent reads the whole memory the summariser
reads, through the same answer prompt). The best agent alone need not be the best summariser of
the team: on M1-Synth with noisy tools the agent that scores best alone (qwen3-small, 0.753 on val)
lowered the team's test score by 0.031 as its summariser against the default last agent
(``benchmarks/collaboration.md``, stop 33).
``m1 eval``'s ``solo`` system runs the stored summariser alone, so for "team against its best single
agent" the choice by ``"alone"`` is the one to compare with.

The choice is the agent with the highest overall score; a tie goes to the later agent in the team
(the default summariser is the last, the largest in the paper's teams). It is stored in the team's
manifest (:meth:`m1.checkpoint.TeamDir.write_summariser_choice`) with every agent's score, and
:func:`m1.team.cpp.summariser_index` applies it: explicit ``cpp.summariser`` > the stored choice >
the last agent. Majority vote for multiple choice is unchanged; the summariser only breaks ties.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from m1.checkpoint import TeamDir
from m1.evaluation.harness import (
    reaggregate,
    records_team_answers,
    run_system,
    system_metrics,
    team_systems,
)
from m1.evaluation.predictions import EvalError
from m1.schema import Question


def score_agents_alone(backends: Any, cfg: Any, team_dir: str | Path, benchmark: str, questions: Sequence[Question],
                       out_dir: str | Path, manifest: dict[str, Any], progress: bool = False) -> dict[str, float]:
    """Each agent's overall official score (percent) answering ``questions`` alone (module docstring);
    predictions go to ``out_dir/<agent>/``, resumable."""
    scores: dict[str, float] = {}
    for name in backends.team.names:
        system = team_systems(["solo"], backends, cfg, str(team_dir), agent=name)["solo"]
        res = run_system(system, questions, Path(out_dir) / name, manifest, progress=progress)
        scores[name] = float(system_metrics(benchmark, questions, res.predictions)["score"]["overall"])
    return scores


def score_agents_as_summariser(backends: Any, cfg: Any, team_dir: str | Path, benchmark: str,
                               questions: Sequence[Question], out_dir: str | Path, manifest: dict[str, Any],
                               progress: bool = False) -> dict[str, float]:
    """Each agent's overall official score (percent) as the team's summariser: the team answers
    ``questions`` once (predictions in ``out_dir/team/``, resumable) and its agents' recorded answers
    are aggregated again with each agent as the summariser. A question whose episode failed (no
    answers recorded), or a one-agent team's, keeps its answer under every summariser."""
    names = list(backends.team.names)
    system = team_systems(["team"], backends, cfg, str(team_dir))["team"]
    res = run_system(system, questions, Path(out_dir) / "team", manifest, progress=progress)
    by_qid = {q.qid: q for q in questions}
    scores: dict[str, float] = {}
    for name in names:
        cpp = cfg.cpp.model_copy(update={"summariser": name})
        preds = {qid: reaggregate(p, by_qid[qid], names, cpp) if records_team_answers(p) else p
                 for qid, p in res.predictions.items()}
        scores[name] = float(system_metrics(benchmark, questions, preds)["score"]["overall"])
    return scores


METHODS = {"alone": (score_agents_alone, "each agent alone: the CPP loop with tools, only that agent active"),
           "team": (score_agents_as_summariser,
                    "each agent as the team's summariser: one team run, its recorded answers aggregated again")}


def unchosen_agent_note(systems: Sequence[str], agent: str | None, summariser: str | None,
                        names: Sequence[str], team_dir: str | Path) -> str | None:
    """What to tell a user whose ``solo`` or ``no_tools`` run will not answer with the team's best
    agent: no ``--agent`` given, no ``cpp.summariser`` set and no choice stored in ``team_dir``
    (``summariser`` is the resolved one, :func:`m1.team.cpp.team_summariser`), so the single agent is
    the default summariser, the last one, whatever it scores alone (stops 42-44 of
    ``benchmarks/collaboration.md`` reported such a run as "the best agent alone"). None otherwise."""
    single = [s for s in systems if s in ("solo", "no_tools")]
    if not single or agent is not None or summariser is not None:
        return None
    verb = "answers" if len(single) == 1 else "answer"
    return (f"note: {team_dir} stores no summariser choice, so {' and '.join(single)} {verb} with the last agent, "
            f"{names[-1]!r}, not the team's best agent. `m1 models choose-summariser --team {team_dir} --data-dir "
            "DIR --split val` stores the best agent on a validation split; --agent NAME names one.")


def pick(scores: dict[str, float]) -> str:
    """The best-scoring agent; a tie goes to the later one (``scores`` in team order)."""
    if not scores:
        raise EvalError("no agent was scored")
    best = max(scores.values())
    return [name for name, s in scores.items() if s == best][-1]


def choose_summariser(backends: Any, cfg: Any, team_dir: str | Path, benchmark: str, split: str,
                      questions: Sequence[Question], data_dir: str | Path, out_dir: str | Path,
                      progress: bool = False, by: str = "alone") -> dict[str, Any]:
    """Score every agent (``by``: ``"alone"`` or ``"team"``, module docstring), pick the best and store
    the choice in ``team_dir``'s manifest. Returns the stored record."""
    if by not in METHODS:
        raise EvalError(f"unknown way to score the agents {by!r}: choose from {sorted(METHODS)}")
    if not questions:
        raise EvalError(f"{benchmark}/{split}: no questions to choose a summariser on")
    manifest = {"benchmark": benchmark, "split": split, "data_dir": str(Path(data_dir).resolve()),
                "tools": cfg.tools.model_dump(mode="json")}
    score_agents, method = METHODS[by]
    scores = score_agents(backends, cfg, team_dir, benchmark, questions, out_dir, manifest, progress)
    choice = {"agent": pick(scores), "scores": scores, "benchmark": benchmark, "split": split,
              "questions": len(questions), "data_dir": manifest["data_dir"], "predictions": str(Path(out_dir)),
              "seed": cfg.seed, "by": by, "method": method,
              "chosen_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    TeamDir(team_dir).write_summariser_choice(choice)
    return choice
