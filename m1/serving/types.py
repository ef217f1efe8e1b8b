"""Request and response models of the HTTP API (they are the published OpenAPI schema).

The project's own types travel inside them unchanged: a trace is an :class:`m1.team.trace.Episode`,
a task type a :class:`m1.schema.TaskType`. The chat models cover the part of OpenAI's
chat-completions API this server implements (text and ``video_url`` content parts, as vLLM
accepts video input; optional streaming); unknown fields are ignored, as OpenAI-style
servers do, so clients that send extra sampling options keep working.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from m1.schema import TaskType
from m1.team.trace import Episode


def _check_text(value: Any) -> None:
    """Raise ValueError if any string in ``value`` (nested lists/dicts) is not valid Unicode: JSON's
    ``\\ud800`` escapes decode to lone surrogates that no tokenizer, log or response can encode."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text must be valid Unicode (a lone surrogate such as \\ud800 is not)") from None
        elif isinstance(v, dict):
            stack += [*v.keys(), *v.values()]
        elif isinstance(v, list | tuple):
            stack += v


class TextRequest(BaseModel):
    """A request body whose every string must be valid Unicode (422 otherwise, before any work)."""

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, data: Any) -> Any:
        _check_text(data)
        return data


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer."""

    error: ErrorDetail


class AnswerRequest(TextRequest):
    """``POST /v1/answer`` as JSON (a video named by path or URL; uploads use multipart)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000)
    video_path: str | None = Field(None, description="A file inside the server's allowed roots.")
    video_url: str | None = Field(None, description="An http(s) URL (only if the server allows URLs).")
    sample: str | None = Field(None, description="Name of one of the server's sample videos.")
    options: list[str] = Field(default_factory=list, max_length=10, description="Multiple-choice option texts.")
    task_type: TaskType | None = Field(None, description="Default: multiple_choice with options, else open_ended.")
    seed: int = Field(0, ge=0)


class Keyframe(BaseModel):
    """A frame a tool looked at: its time, which memory entry (agent, tool) it belongs to, and the
    index of its thumbnail (``GET /v1/traces/{id}/frames/{thumbnail}``) when one was kept."""

    t: float
    entry: int
    agent: int
    tool: str
    thumbnail: int | None = None


class AgentSummary(BaseModel):
    agent: int
    name: str
    plans: list[str] = Field(description="The plan, then each revision that replaced it.")
    steps: list[str] = Field(description="Executed tool calls, rendered.")
    answer: str | None


class AnswerResponse(BaseModel):
    trace_id: str
    answer: str | None = Field(description="The team's answer (an option letter for multiple choice).")
    answer_text: str | None = Field(None, description="The chosen option's text, for multiple choice.")
    aggregation: str
    votes: dict[str, int]
    agents: list[AgentSummary]
    frames_used: int
    tool_calls: int
    seconds: float = Field(description="Wall time of the episode.")
    video_seconds: float = Field(description="Duration of the video.")


class TraceRecord(BaseModel):
    """``GET /v1/traces/{id}``: the full episode plus what the demo shows beside it."""

    trace_id: str
    created: float
    video_name: str
    video_seconds: float
    episode: Episode
    keyframes: list[Keyframe]


class Health(BaseModel):
    status: Literal["ok"]
    team: list[str]
    backends: Literal["ray", "local"]
    traces: int


# ------------------------------------------------------------------------------ chat


class VideoURL(BaseModel):
    url: str


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "video_url", "image_url", "input_text"]
    text: str | None = None
    video_url: VideoURL | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


class M1Options(BaseModel):
    """Project extension of a chat request (``extra_body={"m1": {...}}`` in the openai client)."""

    model_config = ConfigDict(extra="forbid")

    options: list[str] = Field(default_factory=list, max_length=10)
    task_type: TaskType | None = None
    seed: int = Field(0, ge=0)


class ChatCompletionRequest(TextRequest):
    model_config = ConfigDict(extra="ignore")

    model: str = Field("videochat-m1", description="Ignored: the server serves one team.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    m1: M1Options | None = None


class ChatResponseMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None


class ChatChoice(BaseModel):
    index: int = 0
    message: ChatResponseMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    m1: dict[str, Any] = Field(default_factory=dict, description="trace_id, frames_used, seconds, votes.")
