"""The FastAPI app: ``/v1/answer``, ``/v1/chat/completions``, ``/v1/traces``, ``/healthz``,
``/metrics`` and the web demo (``/``), over a :class:`~m1.serving.service.TeamService`.

:func:`create_app` is the only entry point and only assembles: the routers of
:mod:`m1.serving.routes` (one per concern), the :class:`Guard` middleware (API key, body size,
request metrics), the JSON error handlers, and the shared state the routes reach through the
dependency :data:`m1.serving.episodes.EpisodesDep` (:class:`~m1.serving.episodes.Episodes`:
service, limits, metrics, episode pool). uvicorn serves the app in-process (tests, ``m1 serve
--local``) and a Ray Serve replica serves the same app (``jobs/serve.py``). Every refusal is an
:class:`~m1.serving.errors.ApiError` rendered as a JSON body with a 4xx status; an unexpected
failure of the back-ends is a 503/500 with a message, never a crash of the process. Episodes run
in a thread pool (the CPP loop blocks on generation and tools); the event loop only waits, with
``serve.request_timeout``. Each request's video files live in a :class:`~m1.serving.inputs.RequestFiles` spool
directory removed when the request (or its stream) ends, and a new app removes those of dead
processes (:func:`~m1.serving.inputs.sweep_orphans`). Under Ray Serve, failures that never reach
the app (a replica killed mid-request) are answered in the same JSON shape by the proxy
middleware of :mod:`m1.serving.proxy`.
"""

from __future__ import annotations

import hmac
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from m1.serving.episodes import Episodes
from m1.serving.errors import ApiError, server_failure
from m1.serving.inputs import max_bytes, sweep_orphans
from m1.serving.metrics import Metrics, endpoint_of
from m1.serving.routes import answer, completions, demo, health, traces
from m1.serving.service import TeamService

log = logging.getLogger(__name__)
__all__ = ["Guard", "create_app", "endpoint_of"]


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


# handlers registered with ``add_exception_handler`` (typed by the exception each one receives)
async def _api_error(request: Request, e: ApiError) -> JSONResponse:
    request.app.state.metrics.error(endpoint_of(request.url.path), e.code)
    return _error_response(e)


async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
    probs = "; ".join(f"{'.'.join(str(p) for p in x['loc'])}: {x['msg']}" for x in e.errors())
    return await _api_error(request, ApiError(422, "invalid_request", f"invalid request: {probs}"))


async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(e.status_code, "http_error")
    return await _api_error(request, ApiError(e.status_code, code, str(e.detail)))


async def _crash(request: Request, e: Exception) -> JSONResponse:
    return await _api_error(request, server_failure(500, "internal_error", "the request failed", e))


def create_app(service: TeamService) -> FastAPI:
    """The app over ``service`` (its ``cfg.serve`` sets limits and policies): the routers of
    :mod:`m1.serving.routes`, the :class:`Guard` middleware and the JSON error handlers."""
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
    app.state.episodes = Episodes(service, metrics, pool)
    app.add_middleware(Guard, cfg=cfg, metrics=metrics)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _crash)
    for router in (health.router, answer.router, completions.router, traces.router, demo.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=demo.STATIC), name="static")
    return app
