"""Ray side of serving: the back-ends a Serve replica drives, the traces all replicas share, and
the liveness of the actors a replica depends on.

:func:`build_ray_service` gives a replica the same actors as training (``PolicyAgentActor`` per
agent, a ``ToolWorker`` pool with crash/hang recovery, a ``SharedMemoryActor``); its tool workers
are :class:`ServeToolWorker`, which close a request's video when the episode ends.

Failures a replica cannot repair itself make it unhealthy: :class:`ActorWatch` notices a policy
agent that died beyond its restarts or a dead shared memory (``max_restarts=0``) without queueing
behind their work, ``GET /healthz`` then answers 503 and the deployment's ``check_health``
(``jobs/serve.py``) fails, so Serve replaces the replica; the new one starts its own actors (a
replica's actors die with it). A broken replica would otherwise answer every request with a fast
503 and so draw most of the traffic.

The trace store is one ``TraceStoreActor`` (body: :class:`m1.serving.service.TraceStore`) shared
by every replica, so ``GET /v1/traces/{id}`` finds a trace whichever replica answered. It is a
named, detached actor that Ray restarts when its process dies (its traces are then lost, the
service is not); :class:`RayTraceStore`, the replicas' proxy, looks it up again by name, or
creates it, when it was killed for good.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from actors import get, single_thread_torch
from m1.config import M1Config
from m1.serving.service import ServingToolRunner, TeamService, TraceStore

TRACE_STORE = "m1-serve-traces"
log = logging.getLogger(__name__)


class ServeToolWorker(ServingToolRunner):
    """The serving tool worker: :class:`ServingToolRunner` with the actor-side process settings."""

    def __init__(self, tools_cfg: Any = None, video_cfg: Any = None):
        single_thread_torch()
        super().__init__(tools_cfg, video_cfg)

    def ping(self) -> bool:
        return True


def make_trace_store(max_traces: int, namespace: str, name: str = TRACE_STORE) -> Any:
    """The shared ``TraceStoreActor`` named ``name`` in ``namespace``: found if it is alive, else
    started (detached: it outlives the driver or replica that started it; restarted by Ray when its
    process dies)."""
    import ray

    cls = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=1)(TraceStore)
    return cls.options(name=name, namespace=namespace, get_if_exists=True, lifetime="detached").remote(max_traces)


class RayTraceStore:
    """The :class:`TraceStore` interface over the ``TraceStoreActor`` (every call with a timeout);
    a call that meets a dead store finds or starts it again by name and is retried once."""

    def __init__(self, actor: Any, max_traces: int, namespace: str, name: str = TRACE_STORE,
                 timeout: float = 30.0):
        self.actor, self.max_traces, self.namespace, self.name = actor, max_traces, namespace, name
        self.timeout = timeout
        self._lock = threading.Lock()

    def _call(self, method: str, *args: Any) -> Any:
        from ray.exceptions import RayActorError

        actor = self.actor
        try:
            return get(getattr(actor, method).remote(*args), self.timeout, f"trace store {method}")
        except RayActorError as e:
            log.warning("the trace store is gone (%s: %s); looking it up again", type(e).__name__, e)
            with self._lock:
                if self.actor is actor:  # another thread may have done it already
                    self.actor = make_trace_store(self.max_traces, self.namespace, self.name)
                actor = self.actor
        return get(getattr(actor, method).remote(*args), self.timeout, f"trace store {method}")

    def put(self, trace_id: str, record_json: str, thumbnails: list[bytes]) -> None:
        self._call("put", trace_id, record_json, thumbnails)

    def get(self, trace_id: str) -> str | None:
        return self._call("get", trace_id)

    def thumbnail(self, trace_id: str, index: int) -> bytes | None:
        return self._call("thumbnail", trace_id, index)

    def count(self) -> int:
        return self._call("count")


class ActorWatch:
    """Which of a replica's actors are dead for good. A probe is Ray's built-in ``__ray_ready__``
    task; an actor whose probe is still queued behind its work counts as alive (and gets no second
    probe until the first returns), one restarting counts as alive, one whose probe fails with
    ``ActorDiedError`` is dead. Thread-safe; each check waits at most ``wait_s`` per actor."""

    def __init__(self, actors: dict[str, Any], wait_s: float = 1.0):
        self.actors, self.wait_s = actors, wait_s
        self._pending: dict[str, Any] = {}
        self._dead: set[str] = set()
        self._lock = threading.Lock()

    def dead(self) -> list[str]:
        """The names of the dead actors (once dead, always reported: a dead actor never returns)."""
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError

        with self._lock:
            for name, actor in self.actors.items():
                if name in self._dead:
                    continue
                ref = self._pending.get(name)
                if ref is None:
                    ref = self._pending[name] = actor.__ray_ready__.remote()
                ready, _ = ray.wait([ref], timeout=self.wait_s)
                if not ready:
                    continue  # busy or restarting: its probe waits in its queue
                del self._pending[name]
                try:
                    get(ref, 10.0, f"probe of {name}")
                except ActorUnavailableError:
                    continue  # restarting, or briefly unreachable
                except RayActorError:
                    self._dead.add(name)
            return sorted(self._dead)


def watch_backends(backends: Any) -> ActorWatch:
    """An :class:`ActorWatch` over a replica's policy agents and shared memory (the tool pool
    replaces its own workers, the trace store is found again by :class:`RayTraceStore`)."""
    actors = {f"policy agent {name}": a for name, a in zip(backends.team.names, backends.team.actors, strict=True)}
    return ActorWatch(actors | {"shared memory": backends.memory.actor})


def build_ray_service(cfg: M1Config, team_dir: str | Path, store_actor: Any) -> TeamService:
    """A replica's service over Ray actors (``cfg.serve.use_ray_backends``) or in-process models."""
    from actors.rollout import build_backends
    from m1.models import with_team_summariser
    from m1.serving.service import build_local_service

    single_thread_torch()
    cfg = with_team_summariser(cfg, team_dir)
    store = RayTraceStore(store_actor, cfg.serve.max_traces, cfg.ray.namespace)
    if not cfg.serve.use_ray_backends:
        service = build_local_service(cfg, team_dir)
        service.store = store
        return service
    service = TeamService(cfg, build_backends(cfg, team_dir, use_ray=True, worker_cls=ServeToolWorker), store)
    service.dead_backends = watch_backends(service.b).dead
    return service
