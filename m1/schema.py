"""The types that cross boundaries (process, actor, file): questions, tool calls and results.

Every type here is a pydantic model, picklable and JSON-serialisable, so that one object
travels unchanged between the CPP loop, Ray actors, rollout logs and the HTTP API. Later
layers add their own types here (plans, memory entries, topologies, episode traces).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TaskType(StrEnum):
    """How a question is answered and scored."""

    MULTIPLE_CHOICE = "multiple_choice"  # answer: option letter "A".."F"; accuracy
    NUMERIC = "numeric"  # answer: a number (as text); Mean Relative Accuracy
    OPEN_ENDED = "open_ended"  # answer: free text; normalised string match or a judge
    GROUNDING = "grounding"  # answer: [start, end] seconds; IoU


class Family(StrEnum):
    """The four task families of the paper (and of M1-Synth), and M1-Synth's open-ended family."""

    LONG_VIDEO = "long_video"  # LongVideoBench-style long-video QA
    REASONING = "reasoning"  # Video-Holmes / VideoMMMU-style multi-hop reasoning
    SPATIAL = "spatial"  # VSI-Bench-style spatial intelligence
    GROUNDING = "grounding"  # Charades-STA-style temporal grounding
    OPEN_ENDED = "open_ended"  # M1-Synth free-text answers with a structured reference (synth.open_ended)


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


class ToolErrorKind(StrEnum):
    """Why a tool call failed: what code decides on (rewards, retries, reports) instead of the
    wording of ``ToolResult.error``, which stays free text for people and prompts."""

    UNKNOWN_TOOL = "unknown_tool"  # no tool of that name (m1.tools.registry)
    BAD_ARGS = "bad_args"  # the arguments fail the tool's schema (m1.tools.registry)
    UNUSABLE_ARGS = "unusable_args"  # valid by the schema, meaningless here: start past the end, too many frames
    UNRESOLVED_REF = "unresolved_ref"  # a "$K.field" reference with no usable result (m1.team.cpp)
    TIMEOUT = "timeout"  # the call ran past tools.timeout (m1.tools.registry)
    VIDEO_ERROR = "video_error"  # the video is missing, unreadable, corrupt, empty or over a limit (m1.video.errors)
    INTERNAL = "internal"  # a bug inside a tool, reported with its exception type
    WORKER_FAILED = "worker_failed"  # the tool worker died or hung on every retry (actors/tools.py)


class ToolResult(BaseModel):
    """What a tool returns. ``error`` is set (and ``text`` explains it) when the call failed, with
    ``error_kind`` saying why; a failed call never raises across a boundary."""

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    text: str = Field("", description="Concise rendering for the LLM.")
    payload: dict[str, Any] = Field(default_factory=dict, description="Structured result.")
    candidate: str | None = Field(None, description="Candidate answer, for question-aware tools.")
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    frames_used: int = Field(0, ge=0, description="Frames decoded for this call (cache hits excluded).")
    seconds: float = Field(0.0, ge=0.0, description="Wall time of the call.")
    error: str | None = Field(None, description="What went wrong, for people and prompts (None: the call worked).")
    error_kind: ToolErrorKind | None = Field(None, description="Why the call failed; set exactly when error is.")

    @model_validator(mode="after")
    def _kind_with_error(self) -> ToolResult:
        if (self.error is None) != (self.error_kind is None):
            raise ValueError(f"error and error_kind go together: error={self.error!r}, "
                             f"error_kind={self.error_kind!r}")
        return self

    @classmethod
    def failure(cls, call: ToolCall, kind: ToolErrorKind, msg: str, frames: int = 0,
                seconds: float = 0.0) -> ToolResult:
        """The result of a failed ``call``: ``text`` is ``error: <msg>`` as agents read it."""
        return cls(tool=call.tool, args=call.args, text=f"error: {msg}", error=msg, error_kind=kind,
                   frames_used=frames, seconds=seconds)

    @property
    def ok(self) -> bool:
        return self.error is None
