"""What every question-answering route shares: turning a request's video into a file, a question
into a :class:`~m1.schema.Question`, and running one episode (blocking, in a thread pool), plain or
as a server-sent event stream. One deadline, ``serve.request_timeout``, covers the whole request:
fetching or spooling the video, probing it, and the episode.

Blocking work runs in two pools of its own: episodes in ``pool`` and request inputs (URL fetches,
``data:`` URLs, probes) in ``inputs``, so that slow clients or slow video hosts cannot take the
threads that ``/healthz`` and the trace routes use (asyncio's default executor).

One :class:`Episodes` per app lives in ``app.state.episodes``; routes receive it through the
FastAPI dependency :func:`episodes` (:data:`EpisodesDep`). Not here: the routes themselves
(:mod:`m1.serving.routes`), the input policy (:mod:`m1.serving.inputs`), the team
(:mod:`m1.serving.service`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import StreamingResponse

from m1.config.serve import ServeConfig
from m1.schema import Question, TaskType
from m1.serving.errors import ApiError, server_failure
from m1.serving.inputs import RequestFiles, probe_video, resolve_local
from m1.serving.metrics import Metrics, endpoint_of
from m1.serving.service import TeamService
from m1.serving.types import AnswerResponse, ErrorBody, TraceRecord

VIDEO_SUFFIXES = {".mp4", ".webm", ".avi", ".mkv", ".mov"}
# the documented error statuses of the API routes (OpenAPI ``responses``)
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 401, 403, 404, 413, 422, 504)}


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


class Episodes:
    """The service, its limits, the request metrics and the episode thread pool of one app."""

    def __init__(self, service: TeamService, metrics: Metrics, pool: ThreadPoolExecutor):
        self.service, self.metrics, self.pool = service, metrics, pool
        self.cfg: ServeConfig = service.cfg.serve
        # more input threads than episode threads: a request fetches before it queues for an episode
        self.inputs = ThreadPoolExecutor(max_workers=2 * self.cfg.concurrency, thread_name_prefix="m1-input")

    async def _blocking(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.inputs, functools.partial(fn, *args, **kw))

    def _timeout(self) -> ApiError:
        return ApiError(504, "timeout", f"the team did not answer within serve.request_timeout="
                        f"{self.cfg.request_timeout:g} s")

    # ---------------------------------------------------------------- videos
    async def resolve_video(self, files: RequestFiles, *, upload: Any = None, path: str | None = None,
                            url: str | None = None, sample: str | None = None,
                            deadline: float | None = None) -> tuple[Path, str]:
        """The server-side file of the one video source given, and the name traces show for it; a
        fetch ends by ``deadline`` (``time.monotonic()``) at the latest."""
        given = [x for x in (upload, path, url, sample) if x]
        if len(given) != 1:
            raise ApiError(400, "video_required", "give exactly one of: an uploaded video file, video_path, "
                           f"video_url, sample (got {len(given)})")
        if upload is not None:
            return await files.save_upload(upload), Path(getattr(upload, "filename", "") or "upload").name
        if sample:
            return self.sample_path(sample), sample
        if url and url.startswith("data:"):
            return await self._blocking(files.save_data_url, url), "inline video"
        if url and url.startswith("file://"):
            url, path = None, url[7:]
        if url and "://" in url:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            return await self._blocking(files.fetch_url, url, left), url.rsplit("/", 1)[-1][:120] or url
        real = resolve_local(path or url or "", self.cfg)
        return real, real.name

    def sample_path(self, name: str) -> Path:
        if not self.cfg.samples_dir:
            raise ApiError(404, "no_samples", "this server has no sample videos (serve.samples_dir)")
        if name not in self.samples():
            raise ApiError(404, "sample_not_found", f"no sample named {name!r}")
        return Path(self.cfg.samples_dir).resolve() / name

    def samples(self) -> list[str]:
        d = Path(self.cfg.samples_dir) if self.cfg.samples_dir else None
        if d is None or not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)

    async def probe(self, path: Path) -> float:
        """The video's duration (:func:`~m1.serving.inputs.probe_video`: a 4xx for a bad video)."""
        return await self._blocking(probe_video, path, self.cfg, self.service.cfg.video)

    # ---------------------------------------------------------------- questions
    @staticmethod
    def make_question(video: Path, text: str, options: list[str], task: TaskType | None, seed: int,
                      duration: float) -> Question:
        if len(options) > 10 or any(len(o) > 300 or not o.strip() for o in options):
            raise ApiError(400, "bad_options", "at most 10 options, each 1-300 characters")
        task = task or (TaskType.MULTIPLE_CHOICE if options else TaskType.OPEN_ENDED)
        if task == TaskType.MULTIPLE_CHOICE and len(options) < 2:
            raise ApiError(400, "options_required", "a multiple-choice question needs at least two options")
        return Question(qid="request", video=str(video), question=text, options=options, task_type=task,
                        duration=duration, meta={"seed": seed})

    # ---------------------------------------------------------------- running
    async def answer(self, prepare: Any, emit: Any = None) -> tuple[AnswerResponse, TraceRecord]:
        """``await prepare(deadline)`` → (question, video name, duration), then the episode; both
        within one ``serve.request_timeout``."""
        deadline = time.monotonic() + self.cfg.request_timeout
        try:
            q, name, duration = await asyncio.wait_for(prepare(deadline), self.cfg.request_timeout)
        except TimeoutError:
            raise self._timeout() from None
        return await self.run(q, name, duration, emit, deadline)

    async def run(self, q: Question, name: str, duration: float, emit: Any = None,
                  deadline: float | None = None) -> tuple[AnswerResponse, TraceRecord]:
        fut = self.pool.submit(self.service.answer, q, name, duration, emit)
        left = self.cfg.request_timeout if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            out = await asyncio.wait_for(asyncio.wrap_future(fut), left)
        except TimeoutError:
            raise self._timeout() from None
        except ApiError:
            raise
        except Exception as e:  # noqa: BLE001 - a dead actor or a back-end timeout is a 503, not a crash
            raise server_failure(503, "backend_unavailable", "the team's back-ends failed", e) from e
        self.metrics.episode(out[0].frames_used, out[0].seconds)
        return out

    def stream(self, prepare: Any, finish: Any, files: RequestFiles) -> StreamingResponse:
        """SSE of progress events; ``prepare`` as for :meth:`answer`; ``finish(event, result)`` → the
        text of one event (``result`` is None until the episode has returned)."""

        async def events() -> AsyncIterator[str]:
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

            def emit(ev: dict[str, Any]) -> None:
                loop.call_soon_threadsafe(queue.put_nowait, ev)

            try:
                task = asyncio.ensure_future(self.answer(prepare, emit))
                task.add_done_callback(lambda _: queue.put_nowait(None))
                while (ev := await queue.get()) is not None:
                    yield finish(ev, None)
                while not queue.empty():  # events emitted just before the episode returned
                    ev = queue.get_nowait()
                    if ev is not None:
                        yield finish(ev, None)
                yield finish(None, task.result())
            except Exception as e:  # noqa: BLE001 - the stream has started: errors become its last event
                err = e if isinstance(e, ApiError) else server_failure(500, "internal_error", "the request failed", e)
                self.metrics.error(endpoint_of("/v1/answer"), err.code)
                yield sse("error", err.body() | {"status": err.status})
            finally:
                files.cleanup()

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def episodes(request: Request) -> Episodes:
    """FastAPI dependency: the app's :class:`Episodes` (set by :func:`m1.serving.app.create_app`)."""
    return request.app.state.episodes


EpisodesDep = Annotated[Episodes, Depends(episodes)]
