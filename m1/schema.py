"""The types that cross boundaries (process, actor, file): questions, tool calls and results.

Every type here is a pydantic model, picklable and JSON-serialisable, so that one object
travels unchanged between the CPP loop, Ray actors, rollout logs and the HTTP API. Later
layers add their own types here (plans, memory entries, topologies, episode traces).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskType(StrEnum):
    """How a question is answered and scored."""

    MULTIPLE_CHOICE = "multiple_choice"  # answer: option letter "A".."F"; accuracy
    NUMERIC = "numeric"  # answer: a number (as text); Mean Relative Accuracy
    OPEN_ENDED = "open_ended"  # answer: free text; normalised string match or a judge
    GROUNDING = "grounding"  # answer: [start, end] seconds; IoU


class Family(StrEnum):
    """The four task families of the paper (and of M1-Synth)."""

    LONG_VIDEO = "long_video"  # LongVideoBench-style long-video QA
    REASONING = "reasoning"  # Video-Holmes / VideoMMMU-style multi-hop reasoning
    SPATIAL = "spatial"  # VSI-Bench-style spatial intelligence
    GROUNDING = "grounding"  # Charades-STA-style temporal grounding


OPTION_LETTERS = "ABCDEFGHIJ"


class Question(BaseModel):
    """One question about one video, in the project's neutral form (loaders convert into it)."""

    model_config = ConfigDict(extra="forbid")

    qid: str = Field(description="Unique id within its benchmark.")
    video: str = Field(description="Path of the video file (absolute, or relative to the data dir).")
    question: str
    options: list[str] = Field(default_factory=list, description="Option texts, without letters.")
    answer: str | None = Field(
        None,
        description="Ground truth: a letter (MC), a number as text (numeric), "
        "'start end' in seconds (grounding), free text (open-ended); None when unlabelled.",
    )
    task_type: TaskType
    family: Family | None = None
    category: str = Field("", description="Benchmark-specific sub-type (question_type, task_type, ...).")
    duration: float | None = Field(None, ge=0, description="Video duration in seconds, if known.")
    meta: dict[str, Any] = Field(default_factory=dict, description="Benchmark-specific extras.")

    def lettered_options(self) -> list[str]:
        return [f"{OPTION_LETTERS[i]}. {o}" for i, o in enumerate(self.options)]


class ToolSpec(BaseModel):
    """What an agent is told about a tool: its name, one line of purpose, its argument schema."""

    name: str
    description: str
    args_schema: dict[str, Any] = Field(description="JSON schema of the arguments.")


class ToolCall(BaseModel):
    """One requested tool invocation."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class ToolResult(BaseModel):
    """What a tool returns. ``error`` is set (and ``text`` explains it) when the call failed;
    a failed call never raises across a boundary."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    text: str = Field("", description="Concise rendering for the LLM.")
    payload: dict[str, Any] = Field(default_factory=dict, description="Structured result.")
    candidate: str | None = Field(None, description="Candidate answer, for question-aware tools.")
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    frames_used: int = Field(0, ge=0, description="Frames decoded for this call (cache hits excluded).")
    seconds: float = Field(0.0, ge=0.0, description="Wall time of the call.")
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
