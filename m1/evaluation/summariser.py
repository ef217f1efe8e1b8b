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
from m1.evaluation.harness import EvalError, run_system, system_metrics, team_systems
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


def pick(scores: dict[str, float]) -> str:
    """The best-scoring agent; a tie goes to the later one (``scores`` in team order)."""
    if not scores:
        raise EvalError("no agent was scored")
    best = max(scores.values())
    return [name for name, s in scores.items() if s == best][-1]


def choose_summariser(backends: Any, cfg: Any, team_dir: str | Path, benchmark: str, split: str,
                      questions: Sequence[Question], data_dir: str | Path, out_dir: str | Path,
                      progress: bool = False) -> dict[str, Any]:
    """Score every agent alone, pick the best and store the choice in ``team_dir``'s manifest.
    Returns the stored record."""
    if not questions:
        raise EvalError(f"{benchmark}/{split}: no questions to choose a summariser on")
    manifest = {"benchmark": benchmark, "split": split, "data_dir": str(Path(data_dir).resolve()),
                "tools": cfg.tools.model_dump(mode="json")}
    scores = score_agents_alone(backends, cfg, team_dir, benchmark, questions, out_dir, manifest, progress)
    choice = {"agent": pick(scores), "scores": scores, "benchmark": benchmark, "split": split,
              "questions": len(questions), "data_dir": manifest["data_dir"], "predictions": str(Path(out_dir)),
              "seed": cfg.seed, "method": "each agent alone: the CPP loop with tools, only that agent active",
              "chosen_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    TeamDir(team_dir).write_summariser_choice(choice)
    return choice
