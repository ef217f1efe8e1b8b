"""SFT on Ray: one task per agent (``num_cpus=sft.cpus_per_agent``), all agents in parallel.

The task body is :func:`m1.train.sft.train_agent`; this module only decides where it runs and
waits with a timeout. Each task resumes from its run directory, so a re-submitted job continues.
"""

from __future__ import annotations

from typing import Any

from actors import get, init_ray


def _train_task(kwargs: dict[str, Any]) -> dict[str, Any]:
    from actors import single_thread_torch
    from m1.train.sft import train_agent

    single_thread_torch()
    return train_agent(**kwargs)


def train_agents_on_ray(jobs: list[dict[str, Any]], cfg: Any) -> list[dict[str, Any]]:
    """Run :func:`m1.train.sft.train_agent` for every kwargs dict in ``jobs`` as Ray tasks."""
    ray = init_ray(cfg.ray.address, cfg.ray.num_cpus, cfg.ray.namespace)
    remote = ray.remote(num_cpus=cfg.sft.cpus_per_agent, max_retries=0)(_train_task)
    refs = [remote.remote(j) for j in jobs]
    return get(refs, timeout=cfg.sft.train_timeout * len(jobs), what=f"SFT of {len(jobs)} agents")
