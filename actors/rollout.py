"""Wiring of the rollout back-ends: in-process, or as Ray actors.

:func:`build_backends` returns :class:`m1.team.rollout.Backends` — ``LocalTeam`` + ``ToolRunner`` +
``SharedMemory`` in this process, or ``RayTeam`` (``PolicyAgentActor`` per agent) +
``RayToolPool`` (``ToolWorker`` actors) + ``RayMemory`` (one ``SharedMemoryActor``) on a Ray
started here or found at ``ray.address`` / ``RAY_ADDRESS``.
"""

from __future__ import annotations

from pathlib import Path

from m1.config import M1Config
from m1.team.cpp import LocalTeam, ToolRunner
from m1.team.memory import SharedMemory
from m1.team.rollout import Backends, EpisodeJob, RolloutDriver

__all__ = ["Backends", "EpisodeJob", "RolloutDriver", "build_backends"]


def actor_requests(cfg: M1Config, learner: bool = False) -> dict[str, tuple[float, float]]:
    """CPU/GPU requests of the actors a run starts, keyed by the settings that size them."""
    from m1.resources import tool_worker_gpus

    n = len(cfg.team.agents)
    r = cfg.ray
    tool_gpus = tool_worker_gpus(cfg)
    req = {f"ray.policy_cpus/gpus x {n} agents": (r.policy_cpus * n, r.policy_gpus * n),
           f"ray.tool_cpus/gpus x ray.tool_workers={r.tool_workers}": (r.tool_cpus * r.tool_workers,
                                                                       tool_gpus * r.tool_workers)}
    if learner:
        req["ray.learner_cpus/gpus"] = (r.learner_cpus, r.learner_gpus)
    return req


def build_backends(cfg: M1Config, team_dir: str | Path, use_ray: bool, with_learner: bool = False,
                   worker_cls: type | None = None, root: Path | None = None) -> Backends:
    """The rollout back-ends; ``with_learner``: also reserve room for a LearnerActor in the check (and
    a ``learner`` bundle in the placement group, ``Backends.placement``, when ``ray.placement_group``);
    ``worker_cls``: the tool runner class (in-process) / tool-worker actor body (Ray); ``root``:
    where relative model-config paths of the cluster plan are found (the repository)."""
    from m1.models import team_catalogue

    specs = team_catalogue(team_dir)  # the catalogue it was trained on, when that was an older format
    if not use_ray:
        runner = (worker_cls or ToolRunner)(cfg.tools, cfg.video)
        return Backends(LocalTeam.from_dir(str(team_dir), cfg.team, engine_cfg=cfg.engine), runner, SharedMemory(),
                        on_ray=False, catalogue=specs)
    from actors import check_fits, init_ray
    from actors.memory import RayMemory, make_memory_actor
    from actors.policy import RayTeam
    from actors.tools import RayToolPool, ToolWorker
    from m1.resources import tool_worker_gpus

    init_ray(cfg.ray.address, cfg.ray.num_cpus, cfg.ray.namespace)
    check_fits(actor_requests(cfg, learner=with_learner))
    placement = None
    if cfg.ray.placement_group:
        from actors.placement import Placement

        placement = Placement.create(cfg, with_learner=with_learner, root=root)
    team = RayTeam(team_dir, cfg.team, cfg.ray, cfg.engine, timeout=cfg.cpp.generate_timeout, placement=placement)
    tools = RayToolPool(cfg.tools, cfg.video, cfg.ray, cfg.cpp.tool_timeout, cfg.cpp.tool_retries,
                        worker_cls=worker_cls or ToolWorker, num_gpus=tool_worker_gpus(cfg, root), placement=placement)
    return Backends(team, tools, RayMemory(make_memory_actor()), on_ray=True, placement=placement, catalogue=specs)
