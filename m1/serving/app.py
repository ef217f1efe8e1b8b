"""The FastAPI app: ``/v1/answer``, ``/v1/chat/completions``, ``/v1/traces``, ``/healthz``,
``/metrics`` and the web demo (``/``), over a :class:`~m1.serving.service.TeamService`.

:func:`create_app` is the only entry point; uvicorn serves it in-process (tests, ``m1 serve
--local``) and a Ray Serve replica serves the same app (``jobs/serve.py``). Every refusal is an
:class:`~m1.serving.errors.ApiError` rendered as a JSON body with a 4xx status; an unexpected
failure of the back-ends is a 503/500 with a message, never a crash of the process. Episodes run
in a thread pool (the CPP loop blocks on generation and tools); the event loop only waits, with
``serve.request_timeout``. Each request's video files live in a :class:`RequestFiles` spool
directory removed when the request (or its stream) ends, and a new app removes those of dead
processes (:func:`~m1.serving.inputs.sweep_orphans`). Under Ray Serve, failures that never reach
the app (a replica killed mid-request) are answered in the same JSON shape by the proxy
middleware of :mod:`m1.serving.proxy`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from m1.schema import Question, TaskType
from m1.serving import chat
from m1.serving.errors import ApiError
from m1.serving.inputs import RequestFiles, max_bytes, probe_video, resolve_local, sweep_orphans
from m1.serving.metrics import Metrics
from m1.serving.service import TeamService
from m1.serving.types import (
    AnswerRequest,
    AnswerResponse,
    ChatCompletion,
    ChatCompletionRequest,
    ErrorBody,
    Health,
    TraceRecord,
)

STATIC = Path(__file__).parent / "static"
VIDEO_SUFFIXES = {".mp4", ".webm", ".avi", ".mkv", ".mov"}
log = logging.getLogger(__name__)
_ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 401, 403, 404, 413, 422, 504)}


def endpoint_of(path: str) -> str:
    """The metrics label of a request path (bounded: ids never become labels)."""
    for p in ("/v1/answer", "/v1/chat/completions", "/v1/traces", "/v1/samples", "/healthz", "/metrics"):
        if path == p or path.startswith(p + "/"):
            return p
    return "demo" if path == "/" or path.startswith("/static/") else "other"


def _error_response(e: ApiError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


class Guard:
    """ASGI middleware: API-key check (``/v1/*``, and ``/metrics`` unless ``serve.metrics_public``) and
    body-size limit for ``/v1/*``; request metrics for all."""

    def __init__(self, app: Any, cfg: Any, metrics: Metrics):
        self.app, self.cfg, self.metrics = app, cfg, metrics
        # a data: URL inflates a video by 4/3; multipart adds a few headers
        self.body_limit = int(max_bytes(cfg) * 4 / 3) + 2**20

    def _refusal(self, scope: dict[str, Any], check_size: bool = True) -> ApiError | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.cfg.api_key:
            given = headers.get("x-api-key") or ""
            auth = headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                given = given or auth[7:].strip()
            if not hmac.compare_digest(given.encode(), self.cfg.api_key.encode()):
                return ApiError(401, "invalid_api_key", "missing or wrong API key: send 'Authorization: Bearer KEY' "
                                "or 'X-API-Key: KEY'")
        length = headers.get("content-length", "")
        if check_size and length.isdigit() and int(length) > self.body_limit:
            return ApiError(413, "request_too_large", f"the request body ({int(length)} bytes) exceeds the limit "
                            f"for serve.max_upload_mb={self.cfg.max_upload_mb:g}")
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0, endpoint, status = time.perf_counter(), endpoint_of(scope["path"]), [500]

        async def send_status(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)

        self.metrics.in_flight += 1
        try:
            api = scope["path"].startswith("/v1/")
            if api or (scope["path"] == "/metrics" and not self.cfg.metrics_public):
                refusal = self._refusal(scope, check_size=api)
                if refusal is not None:
                    self.metrics.error(endpoint, refusal.code)
                    await _error_response(refusal)(scope, receive, send_status)
                    return
            if api:
                receive = self._counting(receive)
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight -= 1
            self.metrics.request(endpoint, status[0], time.perf_counter() - t0)

    def _counting(self, receive: Any) -> Any:
        total = [0]

        async def wrapped() -> dict[str, Any]:
            msg = await receive()
            if msg["type"] == "http.request":
                total[0] += len(msg.get("body", b""))
                if total[0] > self.body_limit:  # chunked uploads carry no Content-Length
                    raise ApiError(413, "request_too_large", f"the request body exceeds the limit for "
                                   f"serve.max_upload_mb={self.cfg.max_upload_mb:g}")
            return msg

        return wrapped


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def create_app(service: TeamService) -> FastAPI:
    """The app over ``service`` (its ``cfg.serve`` sets limits and policies)."""
    cfg = service.cfg.serve
    # a replica that replaces a killed one removes the spool files the dead one left behind
    if swept := sweep_orphans(cfg):
        log.warning("removed %d spool directories of processes that are gone: %s", len(swept),
                    ", ".join(p.name for p in swept))
    metrics = Metrics()
    pool = ThreadPoolExecutor(max_workers=cfg.concurrency if service.on_ray else 1, thread_name_prefix="m1-episode")
    app = FastAPI(title="videochat-m1", version="0.1.0", description="A team of small LLM agents answers questions "
                  "about videos by Collaborative Policy Planning. OpenAI-compatible chat completions with video_url "
                  "content parts; traces of every answer; a web demo at /.")
    app.state.service, app.state.metrics, app.state.pool = service, metrics, pool
    app.add_middleware(Guard, cfg=cfg, metrics=metrics)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, e: ApiError) -> JSONResponse:
        metrics.error(endpoint_of(request.url.path), e.code)
        return _error_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        probs = "; ".join(f"{'.'.join(str(p) for p in x['loc'])}: {x['msg']}" for x in e.errors())
        return await _api_error(request, ApiError(422, "invalid_request", f"invalid request: {probs}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(e.status_code, "http_error")
        return await _api_error(request, ApiError(e.status_code, code, str(e.detail)))

    @app.exception_handler(Exception)
    async def _crash(request: Request, e: Exception) -> JSONResponse:
        return await _api_error(request, ApiError(500, "internal_error", f"{type(e).__name__}: {e}"))

    # ---------------------------------------------------------------- running an episode
    async def resolve_video(files: RequestFiles, *, upload: Any = None, path: str | None = None,
                            url: str | None = None, sample: str | None = None) -> tuple[Path, str]:
        given = [x for x in (upload, path, url, sample) if x]
        if len(given) != 1:
            raise ApiError(400, "video_required", "give exactly one of: an uploaded video file, video_path, "
                           f"video_url, sample (got {len(given)})")
        if upload is not None:
            return await files.save_upload(upload), Path(getattr(upload, "filename", "") or "upload").name
        if sample:
            return _sample(sample), sample
        if url and url.startswith("data:"):
            return await asyncio.to_thread(files.save_data_url, url), "inline video"
        if url and url.startswith("file://"):
            url, path = None, url[7:]
        if url and "://" in url:
            return await asyncio.to_thread(files.fetch_url, url), url.rsplit("/", 1)[-1][:120] or url
        real = resolve_local(path or url or "", cfg)
        return real, real.name

    def _sample(name: str) -> Path:
        if not cfg.samples_dir:
            raise ApiError(404, "no_samples", "this server has no sample videos (serve.samples_dir)")
        if name not in _samples():
            raise ApiError(404, "sample_not_found", f"no sample named {name!r}")
        return Path(cfg.samples_dir).resolve() / name

    def _samples() -> list[str]:
        d = Path(cfg.samples_dir) if cfg.samples_dir else None
        if d is None or not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)

    def make_question(video: Path, text: str, options: list[str], task: TaskType | None, seed: int,
                      duration: float) -> Question:
        if len(options) > 10 or any(len(o) > 300 or not o.strip() for o in options):
            raise ApiError(400, "bad_options", "at most 10 options, each 1-300 characters")
        task = task or (TaskType.MULTIPLE_CHOICE if options else TaskType.OPEN_ENDED)
        if task == TaskType.MULTIPLE_CHOICE and len(options) < 2:
            raise ApiError(400, "options_required", "a multiple-choice question needs at least two options")
        return Question(qid="request", video=str(video), question=text, options=options, task_type=task,
                        duration=duration, meta={"seed": seed})

    async def run(q: Question, name: str, duration: float, emit: Any = None) -> tuple[AnswerResponse, TraceRecord]:
        fut = pool.submit(service.answer, q, name, duration, emit)
        try:
            out = await asyncio.wait_for(asyncio.wrap_future(fut), cfg.request_timeout)
        except TimeoutError:
            raise ApiError(504, "timeout", f"the team did not answer within serve.request_timeout="
                           f"{cfg.request_timeout:g} s") from None
        except ApiError:
            raise
        except Exception as e:  # noqa: BLE001 - a dead actor or a back-end timeout is a 503, not a crash
            raise ApiError(503, "backend_unavailable", f"the team's back-ends failed: {type(e).__name__}: {e}") from e
        metrics.episode(out[0].frames_used, out[0].seconds)
        return out

    def stream(prepare: Any, finish: Any, files: RequestFiles) -> StreamingResponse:
        """SSE of progress events; ``prepare()`` → (question, name, duration); ``finish(result)`` → last events."""

        async def events() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

            def emit(ev: dict[str, Any]) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, ev)

            try:
                q, name, duration = await prepare()
                task = asyncio.ensure_future(run(q, name, duration, emit))
                task.add_done_callback(lambda _: queue.put_nowait(None))
                while (ev := await queue.get()) is not None:
                    yield finish(ev, None)
                while not queue.empty():  # events emitted just before the episode returned
                    ev = queue.get_nowait()
                    if ev is not None:
                        yield finish(ev, None)
                yield finish(None, task.result())
            except ApiError as e:
                metrics.error(endpoint_of("/v1/answer"), e.code)
                yield _sse("error", e.body() | {"status": e.status})
            finally:
                files.cleanup()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # ---------------------------------------------------------------- endpoints
    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        count = await asyncio.to_thread(service.store.count)
        return Health(status="ok", team=service.names, backends="ray" if service.on_ray else "local", traces=count)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/v1/samples", response_model=list[str])
    async def samples() -> list[str]:
        return _samples()

    answer_body = {"requestBody": {"content": {
        "application/json": {"schema": AnswerRequest.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["question"], "properties": {
            "video": {"type": "string", "format": "binary"}, "video_path": {"type": "string"},
            "video_url": {"type": "string"}, "sample": {"type": "string"}, "question": {"type": "string"},
            "options": {"type": "array", "items": {"type": "string"}},
            "task_type": {"type": "string", "enum": [t.value for t in TaskType]}, "seed": {"type": "integer"},
            "stream": {"type": "boolean"}}}}}, "required": True}}

    @app.post("/v1/answer", response_model=AnswerResponse, responses=_ERRORS, openapi_extra=answer_body)
    async def answer(request: Request) -> Any:
        """Ask the team one question about one video. JSON (video by path/URL/sample) or multipart (upload).
        With ``stream=true`` (form field or query) the answer comes as server-sent events: ``progress``
        events while the team works, then one ``result`` (or ``error``) event."""
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
        files = RequestFiles(cfg)

        async def prepare() -> tuple[Question, str, float]:
            path, name = await resolve_video(files, upload=upload, path=body.video_path, url=body.video_url,
                                             sample=body.sample)
            duration = await asyncio.to_thread(probe_video, path, cfg, service.cfg.video)
            return make_question(path, body.question, body.options, body.task_type, body.seed, duration), name, duration

        if want_stream:
            def finish(ev: dict[str, Any] | None, result: Any) -> str:
                return _sse("progress", ev) if ev is not None else _sse("result", result[0].model_dump(mode="json"))

            return stream(prepare, finish, files)
        try:
            q, name, duration = await prepare()
            resp, _ = await run(q, name, duration)
            return resp
        finally:
            files.cleanup()

    @app.post("/v1/chat/completions", response_model=ChatCompletion, responses=_ERRORS)
    async def chat_completions(req: ChatCompletionRequest) -> Any:
        """OpenAI-compatible: one ``video_url`` part and the question in the user messages (see
        :mod:`m1.serving.chat`); ``stream: true`` streams the team's progress as SSE chunks."""
        cq = chat.to_question(req)
        files = RequestFiles(cfg)

        async def prepare() -> tuple[Question, str, float]:
            path, name = await resolve_video(files, url=cq.video_url)
            duration = await asyncio.to_thread(probe_video, path, cfg, service.cfg.video)
            return make_question(path, cq.question, cq.options, cq.task_type, cq.seed, duration), name, duration

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

            return stream(prepare, finish, files)
        try:
            q, name, duration = await prepare()
            resp, record = await run(q, name, duration)
            return chat.completion(req, resp.trace_id, record.episode)
        finally:
            files.cleanup()

    @app.get("/v1/traces/{trace_id}", response_model=TraceRecord, responses=_ERRORS)
    async def trace(trace_id: str) -> Response:
        found = await asyncio.to_thread(service.store.get, trace_id) if len(trace_id) <= 64 else None
        if found is None:
            raise ApiError(404, "trace_not_found", f"no trace {trace_id!r} (unknown, or dropped after "
                           f"serve.max_traces={cfg.max_traces} newer ones)")
        return Response(found, media_type="application/json")

    @app.get("/v1/traces/{trace_id}/frames/{index}", responses={200: {"content": {"image/jpeg": {}}}, **_ERRORS})
    async def frame(trace_id: str, index: int) -> Response:
        jpg = await asyncio.to_thread(service.store.thumbnail, trace_id, index) if len(trace_id) <= 64 else None
        if not jpg:
            raise ApiError(404, "frame_not_found", f"no thumbnail {index} in trace {trace_id!r}")
        return Response(jpg, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/", include_in_schema=False)
    async def demo() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
