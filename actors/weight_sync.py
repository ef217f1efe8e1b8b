"""The learner's side of vLLM's native weight transfer (``engine.weight_transfer: nccl | ipc``, vllm==0.32).

Per agent whose engine is a vLLM engine started with ``weight_transfer``:

* :class:`AgentSyncClient` — vLLM's ``VLLMWeightSyncClient`` protocol (the four calls
  ``init_weight_transfer_engine``, ``start_weight_update``, ``update_weights``,
  ``finish_weight_update``) over the agent's ``PolicyAgentActor`` (its ``wt_*`` methods, which call
  :class:`m1.engines.vllm.VLLMEngine`). The object-store ``update_weights`` of the actor is untouched.
* :func:`learner_source` — a vLLM ``WeightSource`` over the learner's model under Hugging Face names
  (a LoRA model is merged for the round and unmerged after), on the learner's GPU: nothing is
  copied to the CPU.
* :class:`NativeWeightSync` — ``WeightTransferTrainerFactory.trainer_init`` with
  ``NCCLTrainerInitInfo`` (the learner is NCCL rank 0, the engine's worker rank 1; a TCPStore
  rendezvous at ``address:port``) or ``IPCTrainerInitInfo`` (no rendezvous; CUDA-IPC handles, the
  learner and the engine on the same GPU); both packed into buckets of ``engine.weight_bucket_mb``.
  :meth:`NativeWeightSync.send` is one sync round and returns its seconds.

It lives in the ``LearnerActor`` (``actors/learner.py``); vllm is imported only when a sync is set up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from actors import get


class AgentSyncClient:
    """vLLM's ``VLLMWeightSyncClient`` over one ``PolicyAgentActor`` handle."""

    def __init__(self, handle: Any, timeout: float = 600.0):
        self.handle, self.timeout = handle, timeout

    def init_weight_transfer_engine(self, init_info: dict[str, Any]) -> None:
        get(self.handle.wt_init.remote(init_info), self.timeout, "engine weight-transfer init")

    def start_weight_update(self) -> None:
        get(self.handle.wt_start.remote(), self.timeout, "start_weight_update")

    def update_weights(self, update_info: dict[str, Any]) -> None:
        get(self.handle.wt_update.remote(update_info), self.timeout, "update_weights")

    def finish_weight_update(self, weight_version: str | None = None) -> None:
        get(self.handle.wt_finish.remote(), self.timeout, "finish_weight_update")


def hf_named_tensors(model: Any) -> Iterator[tuple[str, Any]]:
    """The model's parameters under plain HF names (peft prefixes and ``base_layer`` removed, LoRA
    tensors skipped): what vLLM's checkpoint loader expects. Call with adapters merged."""
    from m1.train.learner import _hf_name

    for name, p in model.named_parameters():
        if "lora_" in name:
            continue
        yield (_hf_name(name) if name.startswith("base_model.model.") else name), p.detach()


def learner_source(model: Any) -> Any:
    """A vLLM ``WeightSource`` over ``model`` (metadata and iteration agree element for element)."""
    from vllm.distributed.weight_transfer.base import ParamMeta, WeightSource

    class LearnerSource(WeightSource):
        def metadata(self) -> list[Any]:
            return [ParamMeta(n, t.dtype, tuple(t.shape)) for n, t in hf_named_tensors(model)]

        def __iter__(self) -> Iterator[tuple[str, Any]]:
            return hf_named_tensors(model)

    return LearnerSource()


class NativeWeightSync:
    """One agent's trainer-side transfer engine (see the module docstring)."""

    def __init__(self, model: Any, backend: str, client: Any, address: str = "127.0.0.1", port: int = 0,
                 bucket_mb: int = 256, world_size: int = 2):
        from vllm.distributed.weight_transfer.factory import WeightTransferTrainerFactory

        self.model = model
        bucket = bucket_mb * 2**20
        if backend == "nccl":
            from vllm.distributed.weight_transfer.nccl_engine import NCCLTrainerInitInfo

            info: Any = NCCLTrainerInitInfo(master_address=address, master_port=port, world_size=world_size,
                                            packed=True, packed_buffer_size_bytes=bucket, rank=0)
        elif backend == "ipc":
            from vllm.distributed.weight_transfer.ipc_engine import IPCTrainerInitInfo

            info = IPCTrainerInitInfo(packed=True, packed_buffer_size_bytes=bucket, rank=0)
        else:
            raise ValueError(f"unknown weight-transfer backend {backend!r} (nccl, ipc)")
        self.backend = backend
        self.engine = WeightTransferTrainerFactory.trainer_init(info, client=client, source=learner_source(model))

    def send(self) -> float:
        """One round: start, the bucketed transfer, finish. Returns its seconds."""
        t0 = time.perf_counter()
        merged = hasattr(self.model, "merge_adapter")
        if merged:
            self.model.merge_adapter()
        try:
            self.engine.send_weights()
        finally:
            if merged:
                self.model.unmerge_adapter()
        return time.perf_counter() - t0

    def close(self) -> None:
        self.engine.shutdown()
