"""Settings of the agent team: one :class:`AgentSpec` per policy model (architecture, sizes,
optional real checkpoint) and the shared tokenizer. Building the models is :mod:`m1.models`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from m1.config.base import StrictModel
from m1.config.endpoint import EndpointConfig


class AgentSpec(StrictModel):
    """One policy agent's model. With ``path`` set the tiny sizes are ignored and the HF
    checkpoint in that directory (Qwen2.5-3B, Qwen3-8B, or one written by ``m1 models init``) is used."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", description="Unique agent name (also its directory name).")
    arch: Literal["qwen2", "qwen3", "gemma3"] = Field(
        description="Model architecture of the tiny build (gemma3: only with `path`, e.g. the converted "
        "Gemma-3-270m of `m1 models pretrained`; the checkpoint's config.json then decides).")
    hidden_size: int = Field(256, ge=16, description="Width of the tiny build.")
    num_layers: int = Field(4, ge=1, description="Depth of the tiny build.")
    num_heads: int = Field(4, ge=1, description="Attention heads (query).")
    num_kv_heads: int = Field(2, ge=1, description="Key/value heads (grouped-query attention).")
    head_dim: int = Field(64, ge=8, description="Per-head width; 64 keeps vLLM's CPU attention kernels usable.")
    intermediate_size: int = Field(704, ge=16, description="MLP width.")
    path: str | None = Field(None, description="A Hugging Face checkpoint directory replacing the tiny build.")
    engine: Literal["hf", "vllm", "endpoint"] = Field(
        "hf", description="Generation engine for this agent: hf, vllm, or endpoint (an OpenAI-compatible chat "
        "endpoint, `endpoint`; inference only).")
    endpoint: EndpointConfig | None = Field(
        None, description="The chat endpoint of an `engine: endpoint` agent (base_url, model, api_key_env, retries, "
        "timeout, cache_path). `path`, if set, is then only used for its tokenizer (exact prompt token counts).")
    max_context: int = Field(1024, ge=64, description="Context window: prompt + completion tokens.")
    label: int | None = Field(
        None, ge=0,
        description="Number that labels this agent's evidence lines (`a<label>.<step>`), which answers cite. "
        "Default: the agent's index in team.agents. `team.use` pins it, so a model keeps the labels it was "
        "trained with when it runs alone or in a smaller team.",
    )
    sft_lr_scale: float = Field(
        1.0, gt=0.0, le=10.0,
        description="Multiplies sft.lr for this agent. The tiny Qwen2 builds (no QK-norm) spike and plateau at "
        "the rate the Qwen3 builds train well with (benchmarks/sft_results.md).",
    )

    marl_lr_scale: float = Field(
        1.0, gt=0.0, le=10.0,
        description="Multiplies grpo.lr for this agent (a pretrained agent beside tiny ones needs a far smaller rate).",
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> AgentSpec:
        if self.arch == "gemma3" and not self.path:
            raise ValueError(f"agent {self.name}: arch gemma3 has no tiny build; give `path` (m1 models pretrained)")
        if self.engine == "endpoint" and self.endpoint is None:
            raise ValueError(f"agent {self.name}: engine 'endpoint' needs an `endpoint` section (base_url, model, ...)")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads={self.num_heads} is not a multiple of num_kv_heads={self.num_kv_heads}")
        if self.arch == "qwen2" and not self.path and self.hidden_size != self.num_heads * self.head_dim:
            # Qwen2 derives head_dim from hidden_size / num_heads (HF and vLLM alike).
            raise ValueError(
                f"qwen2 needs hidden_size == num_heads * head_dim, got {self.hidden_size} != "
                f"{self.num_heads} * {self.head_dim}"
            )
        return self


def _default_agents() -> list[AgentSpec]:
    # Heterogeneous like the paper's team (two Qwen2.5 and two Qwen3 of different sizes), at ~1-4M params.
    return [
        AgentSpec(
            name="qwen2-small",
            arch="qwen2",
            sft_lr_scale=1 / 3,
            hidden_size=192,
            num_layers=3,
            num_heads=3,
            num_kv_heads=1,
            intermediate_size=512,
        ),
        AgentSpec(
            name="qwen2-base",
            arch="qwen2",
            sft_lr_scale=1 / 3,
            hidden_size=256,
            num_layers=4,
            num_heads=4,
            num_kv_heads=2,
            intermediate_size=704,
        ),
        AgentSpec(
            name="qwen3-small",
            arch="qwen3",
            hidden_size=192,
            num_layers=2,
            num_heads=4,
            num_kv_heads=2,
            intermediate_size=576,
        ),
        AgentSpec(
            name="qwen3-base",
            arch="qwen3",
            hidden_size=320,
            num_layers=4,
            num_heads=4,
            num_kv_heads=1,
            intermediate_size=768,
        ),
    ]


class TeamConfig(StrictModel):
    """The team of policy agents and their shared tokenizer."""

    agents: list[AgentSpec] = Field(default_factory=_default_agents, min_length=1, description="The policy agents.")
    vocab_size: int = Field(2048, ge=300, le=65536, description="BPE vocabulary size of the project tokenizer.")
    tokenizer_path: str | None = Field(
        None, description="Directory with a tokenizer.json to use instead of training one (e.g. a real checkpoint's)."
    )
    use: list[str] | None = Field(
        None, min_length=1,
        description="Run only these agents of `agents`, in their configured order (e.g. `team.use=[qwen3-base]` "
        "for a one-agent team). Each keeps the citation label of its configured position.",
    )

    @property
    def labels(self) -> list[int]:
        """Each agent's citation label (see :attr:`AgentSpec.label`)."""
        return [a.label if a.label is not None else i for i, a in enumerate(self.agents)]

    @model_validator(mode="after")
    def _unique_names(self) -> TeamConfig:
        names = [a.name for a in self.agents]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"agent names must be unique, repeated: {dup}")
        if self.use is not None:
            unknown = [n for n in self.use if n not in names]
            if unknown:
                raise ValueError(f"team.use: {unknown} are not agents of the team {names}")
            # Pin every label before narrowing (idempotent: a narrowed team validates to itself).
            pinned = [a.model_copy(update={"label": lab}) for a, lab in zip(self.agents, self.labels, strict=True)]
            self.__dict__["agents"] = [a for a in pinned if a.name in self.use]
        labels = self.labels
        dup_labels = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dup_labels:
            raise ValueError(f"agent citation labels must be unique, repeated: {dup_labels}")
        return self
