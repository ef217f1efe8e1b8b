"""Settings of the Collaborative Policy Planning loop (:mod:`m1.team.cpp`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from m1.config.base import StrictModel


class CPPConfig(StrictModel):
    """How one episode runs: budgets, revision, aggregation, completion lengths per phase. How the
    agents sample is not here: the caller hands :func:`m1.team.cpp.run_episode` ``sampling.train``
    or ``sampling.eval`` (:mod:`m1.config.sampling`)."""

    max_steps: int = Field(5, ge=1, le=20, description="Most tool calls one agent makes in an episode.")
    max_rounds: int = Field(6, ge=1, le=40, description="Most execute/communicate rounds per episode.")
    revise: bool = Field(True, description="Let agents read the shared memory and revise after each step.")
    summariser: str | None = Field(
        None,
        description="Agent (name) that writes open-ended and grounding answers from the whole memory and "
        "wins vote ties; default: the team's choice stored by `m1 models choose-summariser` (its best agent "
        "on a validation split, as in the paper), else the last agent of the team.",
    )
    numeric_aggregation: Literal["median", "summariser"] = Field(
        "median",
        description="How numeric answers are combined: the median of the agents' answers, or the summariser's.",
    )
    open_ended_aggregation: Literal["summariser", "item_vote"] = Field(
        "item_vote",
        description="How aggregation=vote combines open-ended answers: item_vote votes a list answer with a "
        "structured reference (M1-Synth's open-ended family) item by item over the agents' answers "
        "(m1.team.answers.vote_items), free-text questions keep the summariser's; summariser is the paper's rule "
        "for every open-ended answer. item_vote is a departure from the paper, the default because it scores "
        "+0.087 and +0.070 item F1 above it on two held-out question sets (benchmarks/collaboration.md, stop 40).",
    )
    aggregation: Literal["vote", "summariser", "top_score"] = Field(
        "vote",
        description="Team answer: vote (majority for multiple choice, numeric median, the summariser for spans and "
        "text), summariser (agent decision, every type) or top_score (the answer with the highest mean token "
        "log-prob).",
    )
    plan_tokens: int = Field(96, ge=8, description="max_new_tokens of a plan.")
    revision_tokens: int = Field(64, ge=4, description="max_new_tokens of a revision.")
    answer_tokens: int = Field(16, ge=2, description="max_new_tokens of an answer.")
    constrain_answers: bool = Field(
        True, description="Decode answers under m1.team.answers.answer_pattern: an option letter, a value of the "
        "task's form, or the label of a shown line with a candidate, so no agent cites a line that is not there. "
        "Open-ended answers stay free text. Off: answers are only parsed (the format reward then also judges answers).",
    )
    entry_tokens: int = Field(48, ge=8, description="Each evidence line in a prompt is clipped to this many tokens.")
    generate_timeout: float = Field(120.0, gt=0, description="Seconds to wait for one batch of generations (Ray).")
    tool_timeout: float = Field(90.0, gt=0, description="Seconds to wait for one tool call, retries excluded (Ray).")
    tool_retries: int = Field(2, ge=0, le=10, description="Retries of a tool call whose worker died or hung (Ray).")
