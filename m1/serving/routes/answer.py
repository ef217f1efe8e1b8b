"""``POST /v1/answer`` (one question about one video: JSON with a path/URL/sample, or multipart with
an upload; plain or as server-sent events) and ``GET /v1/samples`` (the sample videos it accepts)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from m1.schema import Question, TaskType
from m1.serving.episodes import ERRORS, EpisodesDep, sse
from m1.serving.errors import ApiError
from m1.serving.inputs import RequestFiles
from m1.serving.types import AnswerRequest, AnswerResponse

router = APIRouter()

# the two request bodies /v1/answer reads by hand (its signature takes the raw Request)
ANSWER_BODY = {"requestBody": {"content": {
    "application/json": {"schema": AnswerRequest.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "required": ["question"], "properties": {
        "video": {"type": "string", "format": "binary"}, "video_path": {"type": "string"},
        "video_url": {"type": "string"}, "sample": {"type": "string"}, "question": {"type": "string"},
        "options": {"type": "array", "items": {"type": "string"}},
        "task_type": {"type": "string", "enum": [t.value for t in TaskType]}, "seed": {"type": "integer"},
        "stream": {"type": "boolean"}}}}}, "required": True}}


@router.get("/v1/samples", response_model=list[str])
async def samples(ep: EpisodesDep) -> list[str]:
    return ep.samples()


async def _read_body(request: Request) -> tuple[AnswerRequest, Any, bool]:
    """The request's fields, its uploaded file (or None) and whether it asks for a stream."""
    ctype = request.headers.get("content-type", "")
    upload, want_stream = None, request.query_params.get("stream", "").lower() in ("1", "true")
    try:
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=32)
            upload = form.get("video") if hasattr(form.get("video"), "read") else None
            opts = [str(o) for o in form.getlist("options") if str(o).strip()]
            if len(opts) == 1 and opts[0].lstrip().startswith("["):
                opts = json.loads(opts[0])
            raw: dict[str, Any] = {k: str(form[k]) for k in ("question", "video_path", "video_url", "sample",
                                                             "task_type", "seed") if form.get(k) not in (None, "")}
            body = AnswerRequest.model_validate(raw | {"options": opts})
            want_stream = want_stream or str(form.get("stream", "")).lower() in ("1", "true", "on")
        elif ctype.startswith("application/json"):
            body = AnswerRequest.model_validate_json(await request.body())
        else:
            raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")
    except ValidationError as e:
        probs = "; ".join(f"{'.'.join(str(p) for p in x['loc']) or 'body'}: {x['msg']}" for x in e.errors())
        raise ApiError(422, "invalid_request", f"invalid request: {probs}") from None
    except (json.JSONDecodeError, TypeError) as e:
        raise ApiError(400, "bad_options", f"options must be repeated fields or a JSON list: {e}") from None
    except RecursionError:  # json.loads of "[[[[..." thousands deep
        raise ApiError(400, "bad_options", "options must be repeated fields or a flat JSON list of strings "
                       "(nested too deeply)") from None
    return body, upload, want_stream


@router.post("/v1/answer", response_model=AnswerResponse, responses=ERRORS, openapi_extra=ANSWER_BODY)
async def answer(request: Request, ep: EpisodesDep) -> Any:
    """Ask the team one question about one video. JSON (video by path/URL/sample) or multipart (upload).
    With ``stream=true`` (form field or query) the answer comes as server-sent events: ``progress``
    events while the team works, then one ``result`` (or ``error``) event."""
    body, upload, want_stream = await _read_body(request)
    files = RequestFiles(ep.cfg)

    async def prepare(deadline: float) -> tuple[Question, str, float]:
        path, name = await ep.resolve_video(files, upload=upload, path=body.video_path, url=body.video_url,
                                            sample=body.sample, deadline=deadline)
        duration = await ep.probe(path)
        return ep.make_question(path, body.question, body.options, body.task_type, body.seed, duration), name, duration

    if want_stream:
        def finish(ev: dict[str, Any] | None, result: Any) -> str:
            return sse("progress", ev) if ev is not None else sse("result", result[0].model_dump(mode="json"))

        return ep.stream(prepare, finish, files)
    try:
        resp, _ = await ep.answer(prepare)
        return resp
    finally:
        files.cleanup()
