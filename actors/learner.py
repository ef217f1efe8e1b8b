"""``LearnerActor``: the GRPO learner (:class:`m1.train.learner.TeamLearner`) in its own Ray actor, and
:class:`RayLearner`, the proxy the training loop calls.

Weights travel through the object store: :meth:`RayLearner.weights` returns an ``ObjectRef``
that the trainer hands straight to the ``PolicyAgentActor``'s ``update_weights`` — Ray resolves
it in the policy actor's process, so the driver never holds a copy. With
``engine.weight_transfer = nccl | ipc`` and vLLM engines on GPUs, :meth:`RayLearner.init_native_sync`
sets up vLLM's native weight transfer per agent instead (``actors/weight_sync.py``) and
:meth:`RayLearner.send_native` runs one bucketed round from the learner's GPU.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actors import get, single_thread_torch
from m1.config.rl import GRPOConfig
from m1.train.learner import Sample, TeamLearner


def learner_devices(dirs: Sequence[str]) -> list[str] | None:
    """One CUDA device per agent when the actor sees GPUs (None: CPU): largest checkpoint first, each
    onto the least-loaded GPU by weight bytes — the packing ``m1 plan-resources`` prints."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        return None
    sizes = [sum(f.stat().st_size for f in Path(d).glob("*.safetensors")) for d in dirs]
    load, out = [0] * n, [""] * len(dirs)
    for i in sorted(range(len(dirs)), key=lambda i: -sizes[i]):
        g = min(range(n), key=lambda g: load[g])
        load[g] += sizes[i]
        out[i] = f"cuda:{g}"
    return out


class LearnerHost:
    """Actor body: builds the :class:`TeamLearner` inside the actor process."""

    def __init__(self, dirs: Sequence[str], cfg: GRPOConfig, lora_rank: int | None, seed: int,
                 threads: int | None = 1, devices: tuple[list[str], list[str]] | None = None,
                 lr_scales: Sequence[float] | None = None):
        """``devices``: (learner, reference) device per agent from the resource plan
        (``ResourcePlan.learner_devices``); None: :func:`learner_devices`' packing, references beside.
        ``lr_scales``: per agent, its learning rate as a multiple of ``grpo.lr``."""
        single_thread_torch()
        if threads != 1:  # the loop is synchronous: nothing else computes while the learner updates
            import torch

            torch.set_num_threads(threads or min(8, os.cpu_count() or 1))
        from m1.train.learner import lora_config

        lora = lora_config(lora_rank) if lora_rank else None
        import torch

        if devices is not None and torch.cuda.is_available():
            self.learner = TeamLearner.from_dirs(dirs, cfg, lora=lora, seed=seed, devices=devices[0],
                                                 ref_devices=devices[1], lr_scales=lr_scales)
        else:
            self.learner = TeamLearner.from_dirs(dirs, cfg, lora=lora, seed=seed, devices=learner_devices(dirs),
                                                 lr_scales=lr_scales)

    def step(self, samples: Sequence[Sample]) -> dict[str, float]:
        return self.learner.step(samples)

    def weights(self, agent: int) -> dict[str, Any]:
        return self.learner.weights(agent)

    def save(self, path: str) -> None:
        self.learner.save(path)

    def load(self, path: str) -> None:
        self.learner.load(path)

    def steps(self) -> int:
        return self.learner.steps

    def init_native_sync(self, agent: int, backend: str, engine_handle: Any, bucket_mb: int) -> None:
        """Set up vLLM's native weight transfer to agent ``agent``'s engine (actors/weight_sync.py);
        NCCL rendezvous on this node at a free port (the learner is rank 0, the engine rank 1)."""
        import socket

        import ray

        from actors.weight_sync import AgentSyncClient, NativeWeightSync

        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        self.native = getattr(self, "native", {})
        self.native[agent] = NativeWeightSync(self.learner.models[agent], backend, AgentSyncClient(engine_handle),
                                              address=ray.util.get_node_ip_address(), port=port,
                                              bucket_mb=bucket_mb)

    def send_native(self, agent: int) -> float | None:
        """One native sync round of ``agent`` (seconds), or None when it has none (object store)."""
        native = getattr(self, "native", {})
        return native[agent].send() if agent in native else None


class RayLearner:
    """Same methods as :class:`TeamLearner`, executed in a ``LearnerActor``."""

    def __init__(self, dirs: Sequence[str | Path], cfg: GRPOConfig, lora_rank: int | None = None, seed: int = 0,
                 num_cpus: float = 0.5, num_gpus: float = 0.0, timeout: float = 600.0, threads: int | None = 1,
                 placement: Any = None, devices: tuple[list[str], list[str]] | None = None,
                 lr_scales: Sequence[float] | None = None):
        """``placement``: an :class:`actors.placement.Placement`: the actor runs in its ``learner``
        bundle with the layout's resources instead of ``num_cpus``/``num_gpus``. ``devices``: the
        plan's (learner, reference) device per agent (``ResourcePlan.learner_devices``)."""
        import ray

        self.timeout = timeout
        cls = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0)(LearnerHost)
        if placement is not None:
            cls = cls.options(**placement.options("learner"))
        self.actor = cls.remote([str(d) for d in dirs], cfg, lora_rank, seed, threads, devices, lr_scales)
        get(self.actor.steps.remote(), timeout, "starting the learner")

    def step(self, samples: Sequence[Sample]) -> dict[str, float]:
        return get(self.actor.step.remote(list(samples)), self.timeout, "learner step")

    def weights(self, agent: int) -> Any:
        return self.actor.weights.remote(agent)  # an ObjectRef: resolved by whoever receives it

    def init_native_sync(self, agent: int, backend: str, engine_handle: Any, bucket_mb: int = 256) -> None:
        get(self.actor.init_native_sync.remote(agent, backend, engine_handle, bucket_mb), self.timeout,
            f"native weight transfer set-up of agent {agent}")

    def send_native(self, agent: int) -> float | None:
        return get(self.actor.send_native.remote(agent), self.timeout, f"native weight sync of agent {agent}")

    def save(self, path: str | Path) -> None:
        get(self.actor.save.remote(str(path)), self.timeout, "learner checkpoint")

    def load(self, path: str | Path) -> None:
        get(self.actor.load.remote(str(path)), self.timeout, "learner restore")

    @property
    def steps(self) -> int:
        return get(self.actor.steps.remote(), self.timeout, "learner steps")
