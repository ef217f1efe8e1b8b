"""``POST /v1/chat/completions``: the OpenAI-compatible endpoint (one ``video_url`` part and the
question in the user messages, see :mod:`m1.serving.chat`), plain or as SSE chunks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from m1.schema import Question
from m1.serving import chat
from m1.serving.episodes import ERRORS, EpisodesDep
from m1.serving.inputs import RequestFiles
from m1.serving.types import ChatCompletion, ChatCompletionRequest

router = APIRouter()


@router.post("/v1/chat/completions", response_model=ChatCompletion, responses=ERRORS)
async def chat_completions(req: ChatCompletionRequest, ep: EpisodesDep) -> Any:
    """OpenAI-compatible: one ``video_url`` part and the question in the user messages (see
    :mod:`m1.serving.chat`); ``stream: true`` streams the team's progress as SSE chunks."""
    cq = chat.to_question(req)
    files = RequestFiles(ep.cfg)

    async def prepare(deadline: float) -> tuple[Question, str, float]:
        path, name = await ep.resolve_video(files, url=cq.video_url, deadline=deadline)
        duration = await ep.probe(path)
        return ep.make_question(path, cq.question, cq.options, cq.task_type, cq.seed, duration), name, duration

    if req.stream:
        started: list[str] = []

        def finish(ev: dict[str, Any] | None, result: Any) -> str:
            if ev is not None:
                if ev["kind"] == "start":
                    started.append(ev["trace_id"])
                    return chat.chunk(ev["trace_id"], req.model, {"role": "assistant", "content": ""})
                return chat.chunk(started[0], req.model, {"reasoning_content": chat.progress_line(ev)})
            resp, record = result
            tid = resp.trace_id
            return (chat.chunk(tid, req.model, {"content": chat.answer_content(record.episode)})
                    + chat.chunk(tid, req.model, {}, "stop", chat.extension(tid, record.episode))
                    + "data: [DONE]\n\n")

        return ep.stream(prepare, finish, files)
    try:
        resp, record = await ep.answer(prepare)
        return chat.completion(req, resp.trace_id, record.episode)
    finally:
        files.cleanup()
