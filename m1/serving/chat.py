"""OpenAI chat-completions ⇄ the team: messages → question, episode → completion or SSE chunks.

A request carries the video as a ``video_url`` content part, the convention vLLM uses::

    {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,..."}},
                                 {"type": "text", "text": "Which colour appears first?\\nA. red\\nB. blue"}]}

The URL may be a ``data:`` URL (an inline upload), an http(s) URL (if the server fetches URLs)
or a path / ``file://`` URL inside the allowed roots. Options are lettered lines of the text
(``A. red``) or ``m1.options`` in the request; with options the question is multiple choice.
Only user messages are read: the team answers one question, it does not hold a conversation.

Streaming: progress events (plans, tool steps, revisions, answers) are sent as
``delta.reasoning_content`` — the field OpenAI-compatible servers use for text that is not the
answer — and the answer as ``delta.content``, then ``data: [DONE]``.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from m1.schema import TaskType
from m1.serving.errors import ApiError
from m1.serving.types import ChatChoice, ChatCompletion, ChatCompletionRequest, ChatResponseMessage, Usage
from m1.team.trace import Episode

_OPTION = re.compile(r"^\s*\(?([A-J])[.):]\s+(\S.*)$")


@dataclass(frozen=True)
class ChatQuestion:
    video_url: str
    question: str
    options: list[str]
    task_type: TaskType
    seed: int


def split_options(text: str) -> tuple[str, list[str]]:
    """``"Q?\\nA. x\\nB. y"`` → ("Q?", ["x", "y"]); options must run A, B, C... in order."""
    lines, options, rest = text.splitlines(), [], []
    for line in lines:
        m = _OPTION.match(line)
        if m and ord(m.group(1)) - ord("A") == len(options):
            options.append(m.group(2).strip())
        else:
            rest.append(line)
    if len(options) < 2:
        return text.strip(), []
    return "\n".join(rest).strip(), options


def to_question(req: ChatCompletionRequest) -> ChatQuestion:
    """The single video and the question of a chat request, or a 400 saying what is missing."""
    texts: list[str] = []
    videos: list[str] = []
    for m in req.messages:
        if m.role != "user" or m.content is None:
            continue
        if isinstance(m.content, str):
            texts.append(m.content)
            continue
        for p in m.content:
            if p.type in ("text", "input_text") and p.text:
                texts.append(p.text)
            elif p.type == "video_url" and p.video_url is not None:
                videos.append(p.video_url.url)
            elif p.type == "image_url":
                raise ApiError(400, "unsupported_content", "image_url parts are not supported: send the video as "
                               "a video_url part")
    if len(videos) != 1:
        raise ApiError(400, "video_required", f"a chat request needs exactly one video_url content part in the "
                       f"user messages, found {len(videos)}")
    text = "\n".join(t for t in texts if t.strip())
    question, options = split_options(text)
    ext = req.m1
    if ext is not None and ext.options:
        question, options = text.strip(), list(ext.options)
    if not question:
        raise ApiError(400, "question_required", "the user messages hold no question text")
    task = ext.task_type if ext is not None and ext.task_type is not None else None
    task = task or (TaskType.MULTIPLE_CHOICE if options else TaskType.OPEN_ENDED)
    if task == TaskType.MULTIPLE_CHOICE and len(options) < 2:
        raise ApiError(400, "options_required", "a multiple-choice question needs at least two options")
    return ChatQuestion(videos[0], question[:2000], options, task, ext.seed if ext is not None else 0)


def answer_content(ep: Episode) -> str:
    """The assistant message: the answer, with the option text for multiple choice."""
    if ep.final_answer is None:
        return "(no answer: no agent gave a parseable answer)"
    q = ep.question
    if q.task_type == TaskType.MULTIPLE_CHOICE and q.options:
        idx = ord(ep.final_answer[0]) - ord("A")
        if 0 <= idx < len(q.options):
            return f"{ep.final_answer}. {q.options[idx]}"
    return ep.final_answer


def _usage(ep: Episode) -> Usage:
    prompt = sum(len(t.prompt_ids) for a in ep.agents for t in a.turns)
    completion = sum(len(t.completion_ids) for a in ep.agents for t in a.turns)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def extension(trace_id: str, ep: Episode) -> dict[str, Any]:
    return {"trace_id": trace_id, "answer": ep.final_answer, "frames_used": ep.frames_used,
            "seconds": round(ep.wall_seconds, 3), "votes": ep.votes, "aggregation": ep.aggregation}


def completion(req: ChatCompletionRequest, trace_id: str, ep: Episode) -> ChatCompletion:
    return ChatCompletion(id=f"chatcmpl-{trace_id}", created=int(time.time()), model=req.model,
                          choices=[ChatChoice(message=ChatResponseMessage(content=answer_content(ep)))],
                          usage=_usage(ep), m1=extension(trace_id, ep))


def chunk(trace_id: str, model: str, delta: dict[str, Any], finish: str | None = None,
          extra: dict[str, Any] | None = None) -> str:
    """One SSE event of a ``chat.completion.chunk``."""
    body: dict[str, Any] = {"id": f"chatcmpl-{trace_id}", "object": "chat.completion.chunk",
                            "created": int(time.time()), "model": model,
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if extra:
        body["m1"] = extra
    return f"data: {json.dumps(body)}\n\n"


def progress_line(event: dict[str, Any]) -> str:
    """A progress event (see :mod:`m1.serving.service`) as one line of text."""
    kind = event["kind"]
    who = f"[{event.get('name', 'agent ' + str(event.get('agent')))}]"
    if kind == "step":
        res = event.get("error") or event.get("text", "")
        return f"{who} step {event['step']}: {event['tool']} {json.dumps(event['args'])} → {res[:160]}\n"
    if kind in ("plan", "revision", "answer"):
        return f"{who} {kind}: {(event.get('parsed') or 'unparseable: ' + (event.get('error') or ''))[:200]}\n"
    return f"{kind}\n"
