"""The complete, serialisable record of one CPP episode.

An :class:`Episode` holds everything GRPO and a person need: every prompt and completion with
token ids and per-token log-probs, parse outcomes (format errors by kind), plans and revisions
(rendered, and as steps with their indices), tool calls with their results (failures by kind),
the shared-memory log and what each agent read of it, the topology, per-agent answers, the
aggregated answer, frames and seconds. It round-trips through
JSON exactly (``Episode.model_validate_json(ep.model_dump_json()) == ep``); JSON written before
a field existed still loads (its default, or for plan steps, read from the rendered plans).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from m1.schema import Question, ToolCall
from m1.team.memory import MemoryEntry
from m1.team.plan import PlanStep
from m1.team.topology import Topology


class Turn(BaseModel):
    """One generation by one agent."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["plan", "revision", "answer"]
    round: int = Field(ge=-1, description="0 for the plan, k for the revision after round k, -1 for the answer.")
    prompt: str
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str
    parsed: str | None = Field(None, description="Canonical rendering of what was parsed (plan/KEEP/DONE/answer).")
    error: str | None = None
    error_kind: str | None = Field(None, description="A m1.team.plan.FormatErrorKind value when parsing failed.")
    memory_seen: list[int] = Field(default_factory=list, description="Ids of shared-memory entries in the prompt.")


class ToolStep(BaseModel):
    """One executed step of an agent's plan."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1)
    round: int = Field(ge=1)
    call: ToolCall = Field(description="The call as executed (references resolved).")
    memory_id: int = Field(ge=0)
    cached: bool = Field(False, description="Served from the episode's tool cache (an identical earlier call).")
    ref_error: str | None = Field(None, description="A reference that could not be resolved (format error).")


class AgentTrace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: int
    name: str
    turns: list[Turn] = Field(default_factory=list)
    steps: list[ToolStep] = Field(default_factory=list)
    plans: list[str] = Field(default_factory=list, description="The plan, then each replacement, rendered.")
    plan_steps: list[list[PlanStep]] = Field(
        default_factory=list, description="The plan, then each replacement, as steps (one list per entry of plans).")
    answer: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _legacy_plan_steps(cls, data: Any) -> Any:
        """Traces written before ``plan_steps`` existed: the steps from the canonical renderings."""
        if isinstance(data, dict) and "plan_steps" not in data and data.get("plans"):
            return {**data, "plan_steps": [_rendered_steps(p) for p in data["plans"]]}
        return data

    @property
    def format_errors(self) -> list[str]:
        kinds = [t.error_kind for t in self.turns if t.error_kind]
        return kinds + ["dangling_ref" for s in self.steps if s.ref_error]

    @property
    def revisions(self) -> int:
        return len(self.plans) - 1 if self.plans else 0


_RENDERED_STEP = re.compile(r"^(\d+)\. (\S+) (\{.*\})$")


def _rendered_steps(text: str) -> list[PlanStep]:
    """Steps of a plan as :meth:`m1.team.plan.Plan.render` wrote it (``DONE`` is recorded as "")."""
    out = []
    for line in text.splitlines():
        m = _RENDERED_STEP.match(line)
        if m:
            out.append(PlanStep(index=int(m.group(1)), tool=m.group(2), args=json.loads(m.group(3))))
    return out


class Episode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    episode_id: str
    seed: int
    question: Question
    team: list[str] = Field(description="Agent names, by index.")
    topology: Topology
    agents: list[AgentTrace] = Field(description="One per active agent, in index order.")
    memory: list[MemoryEntry]
    final_answer: str | None
    aggregation: Literal["vote", "median", "summariser", "top_score", "item_vote", "none"]
    votes: dict[str, int] = Field(default_factory=dict)
    summariser: int | None = None
    frames_used: int = Field(ge=0, description="Distinct frames decoded for this episode, all agents together.")
    tool_calls: int = Field(ge=0, description="Tool calls executed (cache hits excluded).")
    tool_seconds: float = Field(ge=0.0)
    wall_seconds: float = Field(ge=0.0)

    def agent(self, index: int) -> AgentTrace:
        for a in self.agents:
            if a.agent == index:
                return a
        raise KeyError(index)
