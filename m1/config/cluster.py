"""Settings of a GPU cluster shape and of how the team is laid out on it; read by
:mod:`m1.resources` (``m1 plan-resources``). The defaults describe no GPU at all, so the tiny
CPU team is unaffected: every field here only feeds the planner, which estimates memory per
GPU and refuses layouts that cannot fit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from m1.config.base import StrictModel


class AgentResources(StrictModel):
    """Where one policy agent's real model comes from and how its engine is split."""

    name: str = Field(description="The team agent this entry describes (team.agents[*].name).")
    model_config_path: str | None = Field(
        None,
        description="A Hugging Face config.json of the architecture (e.g. configs/real_models/qwen3-8b.json); "
        "None = <agent.path>/config.json, or the tiny build's sizes when the agent has no path.",
    )
    tensor_parallel_size: int = Field(1, ge=1, le=8, description="GPUs the agent's vLLM engine is split over.")
    gpu_memory_utilization: float | None = Field(
        None, gt=0.0, le=1.0,
        description="vLLM share of each of its GPUs' memory; None = engine.vllm_gpu_memory_utilization.",
    )


class ClusterConfig(StrictModel):
    """A cluster shape (nodes x GPUs x GPU memory) and the per-actor knobs of the memory plan."""

    nodes: int = Field(1, ge=1, le=1024, description="GPU nodes.")
    gpus_per_node: int = Field(0, ge=0, le=16, description="GPUs per node; 0 = a CPU-only cluster (nothing to plan).")
    gpu_memory_gb: float = Field(80.0, gt=0.0, description="Memory of one GPU, GB (1e9 bytes): A100/H100 80, H200 141.")
    agents: list[AgentResources] = Field(
        default_factory=list, description="Per-agent architecture sources and engine splits; agents not listed use "
        "their tiny build's sizes and tensor_parallel_size 1."
    )
    learner_dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "bfloat16", description="dtype the plan assumes for the learner's weights, gradients and AdamW states "
        "(m1.train.learner keeps optimiser states in the parameters' dtype)."
    )
    learner_on_gpu: bool = Field(
        True, description="Place each agent's learner state (one GPU per agent, inside the LearnerActor) on the GPUs."
    )
    reference_apart: bool = Field(
        False, description="With grpo.kl_coef > 0: plan each agent's frozen reference copy as an actor of its own "
        "(reference:<agent>, on the LearnerActor's GPUs but not necessarily beside its learner), so an 8B learner "
        "that fills an 80 GB GPU can still have a KL term. The LearnerActor then puts each reference on the "
        "device the plan chose (m1.resources.ResourcePlan.learner_devices).",
    )
    vlm_model_config_path: str | None = Field(
        None, description="config.json of the tool workers' VLM (tools.backend=vlm), e.g. Qwen2.5-VL-7B."
    )
    vlm_workers_on_gpu: int | None = Field(
        None, ge=0, le=256,
        description="Tool workers that hold the VLM on a GPU. None: ray.tool_workers when tools.backend=vlm runs "
        "on cuda (every worker of the pool loads its own VLM), else 0; a different number is refused.",
    )
    vlm_image_tokens: int = Field(
        8192, ge=0, description="Visual + text tokens of one VLM call (sizes its activation/KV estimate)."
    )
    overhead_gb: float = Field(
        1.5, ge=0.0, description="Per process and GPU: CUDA context, kernels, allocator slack."
    )
    vllm_activation_gb: float = Field(
        2.0, ge=0.0, description="vLLM's profiled activation peak outside the KV cache, per GPU (eager mode)."
    )
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK"] = Field(
        "PACK", description="Ray placement-group strategy of the plan's bundles (actors.placement): PACK puts them "
        "on as few nodes as possible and falls back to others; STRICT_PACK demands one node (colocated IPC "
        "weight transfer); SPREAD spreads them over nodes (fault isolation, more PCIe/NIC bandwidth)."
    )

    @model_validator(mode="after")
    def _unique(self) -> ClusterConfig:
        names = [a.name for a in self.agents]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"cluster.agents lists these agents twice: {dup}")
        return self
