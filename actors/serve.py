"""Ray side of serving: the back-ends a Serve replica drives, and the traces all replicas share.

:func:`build_ray_service` gives a replica the same actors as training (``PolicyAgentActor`` per
agent, a ``ToolWorker`` pool with crash/hang recovery, a ``SharedMemoryActor``); its tool workers
are :class:`ServeToolWorker`, which close a request's video when the episode ends.
:func:`make_trace_store` starts the ``TraceStoreActor`` (body: :class:`m1.serving.service.TraceStore`)
that the driver creates once and hands to every replica, so ``GET /v1/traces/{id}`` finds a
trace whichever replica answered the question; :class:`RayTraceStore` is its proxy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors import get, single_thread_torch
from m1.config import M1Config
from m1.serving.service import ServingToolRunner, TeamService, TraceStore


class ServeToolWorker(ServingToolRunner):
    """The serving tool worker: :class:`ServingToolRunner` with the actor-side process settings."""

    def __init__(self, tools_cfg: Any = None, video_cfg: Any = None):
        single_thread_torch()
        super().__init__(tools_cfg, video_cfg)

    def ping(self) -> bool:
        return True


def make_trace_store(max_traces: int) -> Any:
    import ray

    return ray.remote(num_cpus=0, max_restarts=0)(TraceStore).remote(max_traces)


class RayTraceStore:
    """The :class:`TraceStore` interface over a ``TraceStoreActor`` (every call with a timeout)."""

    def __init__(self, actor: Any, timeout: float = 30.0):
        self.actor, self.timeout = actor, timeout

    def put(self, trace_id: str, record_json: str, thumbnails: list[bytes]) -> None:
        get(self.actor.put.remote(trace_id, record_json, thumbnails), self.timeout, "trace store put")

    def get(self, trace_id: str) -> str | None:
        return get(self.actor.get.remote(trace_id), self.timeout, "trace store get")

    def thumbnail(self, trace_id: str, index: int) -> bytes | None:
        return get(self.actor.thumbnail.remote(trace_id, index), self.timeout, "trace store thumbnail")

    def count(self) -> int:
        return get(self.actor.count.remote(), self.timeout, "trace store count")


def build_ray_service(cfg: M1Config, team_dir: str | Path, store_actor: Any) -> TeamService:
    """A replica's service over Ray actors (``cfg.serve.use_ray_backends``) or in-process models."""
    from actors.rollout import build_backends
    from m1.serving.service import build_local_service

    single_thread_torch()
    store = RayTraceStore(store_actor)
    if not cfg.serve.use_ray_backends:
        service = build_local_service(cfg, team_dir)
        service.store = store
        return service
    return TeamService(cfg, build_backends(cfg, team_dir, use_ray=True, worker_cls=ServeToolWorker), store)
