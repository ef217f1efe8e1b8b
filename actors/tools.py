"""``ToolWorkerActor`` pool: tool execution on Ray with timeouts, retries and worker replacement.

The actor body is :class:`m1.team.cpp.ToolRunner` (or a subclass). All calls of one episode go to
the same worker (chosen by a stable hash of the episode id), so its per-episode tool context
and frame cache serve the whole episode and frame accounting matches the in-process run.

Failure handling, per batch of calls: a worker that dies (``RayActorError``) is restarted by Ray
(``max_restarts=-1``) and the batch is retried; a worker that does not answer within
``tool_timeout`` x calls is killed (then restarted) and the batch retried. After
``tool_retries`` retries every call of the batch comes back as a ``ToolResult`` with ``error``
(kind ``worker_failed``) —
the episode always completes.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from typing import Any

from actors import RayTimeoutError, get, single_thread_torch, wait_started
from m1.schema import Question, ToolCall, ToolErrorKind, ToolResult
from m1.team.cpp import ToolRunner

log = logging.getLogger(__name__)


class ToolWorker(ToolRunner):
    """:class:`ToolRunner` with the actor-side process settings."""

    def __init__(self, tools_cfg: Any = None, video_cfg: Any = None):
        single_thread_torch()
        super().__init__(tools_cfg, video_cfg)

    def ping(self) -> bool:
        return True


class RayToolPool:
    """Implements :class:`m1.team.cpp.ToolBackend` over a pool of tool-worker actors."""

    def __init__(self, tools_cfg: Any, video_cfg: Any, ray_cfg: Any, tool_timeout: float = 90.0,
                 retries: int = 2, worker_cls: type = ToolWorker, num_gpus: float | None = None,
                 placement: Any = None):
        """``num_gpus``: per worker (:func:`m1.resources.tool_worker_gpus`: what the back-end needs);
        None = ``ray_cfg.tool_gpus`` or 0. Ray shows a worker only the GPUs it asked for.
        ``placement``: an :class:`actors.placement.Placement`; worker ``i`` runs in bundle ``tool:<i>``
        (a restarted worker comes back in the same bundle)."""
        import ray

        self.tool_timeout, self.retries = tool_timeout, retries
        gpus = num_gpus if num_gpus is not None else (ray_cfg.tool_gpus or 0.0)
        remote = ray.remote(num_cpus=ray_cfg.tool_cpus, num_gpus=gpus, max_restarts=-1,
                            max_task_retries=0)(worker_cls)
        self.workers = [(remote.options(**placement.options(f"tool:{i}")) if placement is not None else remote).remote(
            tools_cfg, video_cfg) for i in range(ray_cfg.tool_workers)]
        wait_started([w.ping.remote() for w in self.workers], "starting the tool workers", ray_cfg.start_timeout)
        self.failures = 0  # batches that had to be retried (for logs and tests)

    def _worker(self, episode_id: str) -> Any:
        return self.workers[zlib.crc32(episode_id.encode()) % len(self.workers)]

    def run(self, episode_id: str, question: Question, calls: Sequence[ToolCall]) -> list[ToolResult]:
        import ray
        from ray.exceptions import RayActorError

        worker = self._worker(episode_id)
        last = ""
        for attempt in range(self.retries + 1):
            try:
                return get(worker.run.remote(episode_id, question, list(calls)),
                           self.tool_timeout * max(1, len(calls)), "tool call")
            except RayTimeoutError as e:
                last = f"{e}; worker killed and replaced"
                ray.kill(worker, no_restart=False)
            except RayActorError as e:
                last = f"tool worker died ({type(e).__name__}); replaced"
            self.failures += 1
            log.warning("episode %s: tool batch attempt %d failed: %s", episode_id, attempt + 1, last)
            self._await_restart(worker)
        msg = f"tool worker failed {self.retries + 1} times: {last}"
        return [ToolResult.failure(c, ToolErrorKind.WORKER_FAILED, msg) for c in calls]

    def _await_restart(self, worker: Any, timeout: float = 120.0) -> None:
        """Wait until Ray has restarted ``worker`` (calls to a restarting actor fail at once)."""
        import time

        from ray.exceptions import RayActorError

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                get(worker.ping.remote(), 10.0, "tool worker ping")
                return
            except (RayActorError, RayTimeoutError):
                time.sleep(0.5)

    def end(self, episode_id: str) -> None:
        from ray.exceptions import RayActorError

        try:
            get(self._worker(episode_id).end.remote(episode_id), 30.0, "tool end")
        except (RayActorError, RayTimeoutError):
            pass  # a dead worker holds no state to free
