"""Wiring of the rollout back-ends: in-process, or as Ray actors.

:func:`build_backends` returns :class:`m1.rollout.Backends` — ``LocalTeam`` + ``ToolRunner`` +
``SharedMemory`` in this process, or ``RayTeam`` (``PolicyAgentActor`` per agent) +
``RayToolPool`` (``ToolWorker`` actors) + ``RayMemory`` (one ``SharedMemoryActor``) on a Ray
started here or found at ``ray.address`` / ``RAY_ADDRESS``.
"""

from __future__ import annotations

from pathlib import Path

from m1.config import M1Config
from m1.cpp import LocalTeam, ToolRunner
from m1.memory import SharedMemory
from m1.rollout import Backends, EpisodeJob, RolloutDriver

__all__ = ["Backends", "EpisodeJob", "RolloutDriver", "build_backends"]


def build_backends(cfg: M1Config, team_dir: str | Path, use_ray: bool) -> Backends:
    if not use_ray:
        return Backends(LocalTeam.from_dir(str(team_dir), cfg.team, dtype=cfg.engine.dtype),
                        ToolRunner(cfg.tools, cfg.video), SharedMemory(), on_ray=False)
    from actors import init_ray
    from actors.memory import RayMemory, make_memory_actor
    from actors.policy import RayTeam
    from actors.tools import RayToolPool

    init_ray(cfg.ray.address, cfg.ray.num_cpus, cfg.ray.namespace)
    team = RayTeam(team_dir, cfg.team, cfg.ray, cfg.engine, timeout=cfg.cpp.generate_timeout)
    tools = RayToolPool(cfg.tools, cfg.video, cfg.ray, cfg.cpp.tool_timeout, cfg.cpp.tool_retries)
    return Backends(team, tools, RayMemory(make_memory_actor()), on_ray=True)
