"""Ray actors: thin wrappers that decide *where* the library's classes run.

Every actor body is a plain class from ``m1`` (or a small adapter here) turned into an actor
with ``ray.remote(...)`` at launch, so the same code runs in-process in tests. Every ``ray.get``
goes through :func:`get` with a timeout.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from m1.errors import UserError


class RayTimeoutError(TimeoutError):
    """A remote call did not finish within its timeout."""


def init_ray(address: str | None = None, num_cpus: int | None = None, namespace: str = "m1") -> Any:
    """Connect to ``address`` (or ``RAY_ADDRESS``), or start a local Ray with ``num_cpus``.

    Idempotent: an already-initialised Ray is reused. Returns the ``ray`` module.
    """
    import ray

    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    # Ray starts workers at niceness 15: on a shared machine that starves the policy/learner actors
    os.environ.setdefault("RAY_worker_niceness", "0")
    env = {"env_vars": {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}}
    if address:
        ray.init(address=address, namespace=namespace, runtime_env=env, log_to_driver=True)
    else:
        ray.init(num_cpus=num_cpus, namespace=namespace, runtime_env=env, include_dashboard=False,
                 log_to_driver=True)
    return ray


class RayResourceError(UserError, RuntimeError):
    """The actors asked for more CPUs/GPUs than the cluster has: they would wait forever (a
    :class:`~m1.errors.UserError`: the command line prints it in one line)."""


class ActorStartError(UserError, RayTimeoutError):
    """Actors did not come up within their start-up wait (a slow or overloaded machine): the
    message names the setting to raise; the command line prints it in one line."""


def check_fits(requests: dict[str, tuple[float, float]]) -> None:
    """Refuse to start actors whose total (CPU, GPU) ``requests`` exceed the cluster's resources.

    ``requests`` maps a config key (e.g. ``"ray.policy_cpus x 4 agents"``) to (cpus, gpus).
    Ray would otherwise leave the last actors pending without an error.
    """
    import ray

    have = ray.cluster_resources()
    cpus = sum(c for c, _ in requests.values())
    gpus = sum(g for _, g in requests.values())
    if cpus > have.get("CPU", 0.0) + 1e-9 or gpus > have.get("GPU", 0.0) + 1e-9:
        detail = ", ".join(f"{k}: {c:g} CPU {g:g} GPU" for k, (c, g) in requests.items())
        raise RayResourceError(
            f"the actors need {cpus:g} CPUs and {gpus:g} GPUs but the Ray cluster has {have.get('CPU', 0):g} CPUs and "
            f"{have.get('GPU', 0):g} GPUs ({detail}); lower these settings or add nodes"
        )


def get(refs: Any, timeout: float, what: str = "remote call") -> Any:
    """``ray.get`` that never waits forever: raises :class:`RayTimeoutError` naming ``what``."""
    import ray
    from ray.exceptions import GetTimeoutError

    try:
        return ray.get(refs, timeout=timeout)
    except GetTimeoutError:
        raise RayTimeoutError(f"{what} did not finish within {timeout:.0f} s") from None


def wait_started(pings: Sequence[Any], what: str, per_actor_s: float, setting: str = "ray.start_timeout") -> Any:
    """Wait for the ``pings`` of actors just started (one ref per actor) for ``per_actor_s`` times
    their number: actors that load models on shared CPUs come up one after another, so the wait
    scales with how many were started. Raises :class:`ActorStartError` naming ``setting``."""
    timeout = per_actor_s * max(1, len(pings))
    try:
        return get(list(pings), timeout, what)
    except RayTimeoutError:
        raise ActorStartError(
            f"{what}: {len(pings)} actor(s) did not come up within {timeout:.0f} s ({setting}={per_actor_s:g} s "
            f"per actor); the machine is probably busy or slow: run again with a larger {setting}, e.g. "
            f"{setting}={2 * per_actor_s:g}") from None


def single_thread_torch() -> None:
    """Actors share the machine's cores: one torch thread each (contention costs 20-90x)."""
    try:
        import torch

        torch.set_num_threads(1)
        torch.set_flush_denormal(True)
    except ImportError:
        pass
