"""All settings of videochat-m1 as pydantic v2 models — the one source of truth.

Sections live one file per concern (``synth.py``, ``video.py``, ...); :class:`M1Config` is
their root. ``configs/*.yaml`` are instances of it; :func:`load_config` merges
defaults ← YAML file ← dotted overrides, resolves ``${...}`` interpolations with OmegaConf
(``sft.out_dir: ${output_dir}/sft``) and validates the result with pydantic, raising
:class:`ConfigError` with every offending key and value. A removed key's error says where its setting went
(:data:`MOVED_KEYS`).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, ValidationInfo, model_validator

from m1.config.base import ConfigError, StrictModel, build, load_yaml, merge_layers, parse_overrides, to_yaml
from m1.config.cluster import AgentResources, ClusterConfig
from m1.config.cpp import CPPConfig
from m1.config.endpoint import EndpointConfig
from m1.config.engine import EngineConfig
from m1.config.ray import RayConfig
from m1.config.rl import GRPOConfig, MARLConfig, RewardConfig
from m1.config.sampling import SamplingConfig, TrainEvalSampling
from m1.config.serve import ServeConfig
from m1.config.sft import LLMTeacherConfig, SFTConfig
from m1.config.synth import SynthConfig
from m1.config.team import AgentSpec, TeamConfig
from m1.config.tools import ToolsConfig
from m1.config.video import VideoConfig

_EVAL = "evaluation, m1 ask and serving sample with sampling.eval"
_TRAIN = "MARL rollouts sample with sampling.train"
_UNREAD = "removed (no engine read it)"
# Removed keys and where their settings went: the error of a YAML file or an override that still uses one.
MOVED_KEYS: dict[str, str] = {
    "cpp.temperature": f"moved to sampling.eval.temperature ({_EVAL}; {_TRAIN})",
    "cpp.top_p": f"moved to sampling.eval.top_p ({_EVAL}; {_TRAIN})",
    "marl.temperature": f"moved to sampling.train.temperature ({_TRAIN}; {_EVAL})",
    "marl.top_p": f"moved to sampling.train.top_p ({_TRAIN}; {_EVAL})",
    "engine.temperature": f"{_UNREAD}: set sampling.train.temperature or sampling.eval.temperature ({_TRAIN}; "
    f"{_EVAL})",
    "engine.top_p": f"{_UNREAD}: set sampling.train.top_p or sampling.eval.top_p ({_TRAIN}; {_EVAL})",
    "engine.max_new_tokens": f"{_UNREAD}: completion lengths are cpp.plan_tokens, cpp.revision_tokens and "
    "cpp.answer_tokens",
    "engine.stop": f"{_UNREAD}: completions end at EOS or at their token budget",
}


class M1Config(StrictModel):
    """Root of the configuration tree. Build it with :func:`load_config`; a config built in code
    (``M1Config()``, ``model_validate``) resolves the ``${...}`` of its defaults the same way."""

    seed: int = Field(0, ge=0, description="Global seed; every random choice derives from it.")
    output_dir: str = Field("runs/default", description="Where jobs write logs, data and checkpoints.")
    synth: SynthConfig = Field(default_factory=SynthConfig)
    team: TeamConfig = Field(default_factory=TeamConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    cpp: CPPConfig = Field(default_factory=CPPConfig)
    sampling: TrainEvalSampling = Field(
        default_factory=TrainEvalSampling,
        description="How policies sample: sampling.train in MARL rollouts, sampling.eval everywhere else.",
    )
    ray: RayConfig = Field(default_factory=RayConfig)
    rewards: RewardConfig = Field(default_factory=RewardConfig)
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    marl: MARLConfig = Field(default_factory=MARLConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @model_validator(mode="after")
    def _resolve_interpolations(self, info: ValidationInfo) -> M1Config:
        # load_config resolves before validating (and says so in the context); anything else
        # (M1Config(), model_validate) still holds the ${...} of the path defaults here
        if (info.context or {}).get("resolved") or "${" not in json.dumps(self.model_dump(mode="json")):
            return self
        resolved = M1Config.model_validate(merge_layers(self.model_dump(mode="json")), context={"resolved": True})
        for name in type(self).model_fields:
            setattr(self, name, getattr(resolved, name))
        return self


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                defaults: list[str] | None = None) -> M1Config:
    """Field defaults ← ``defaults`` (a job's embedded sizes, as dotted overrides) ← YAML ``path`` ←
    ``overrides`` (``["synth.fps=8", ...]``): merged, ``${...}`` resolved by OmegaConf, validated by
    pydantic (:func:`m1.config.base.build`). A YAML file therefore beats a job's embedded defaults,
    and the command line beats both."""
    layers = [parse_overrides(list(defaults))] if defaults else []
    if path is not None:
        layers.append(load_yaml(path))
    layers.append(parse_overrides(list(overrides or [])))
    return build(M1Config, *layers, moved=MOVED_KEYS)


__all__ = [
    "AgentResources",
    "ClusterConfig",
    "CPPConfig",
    "GRPOConfig",
    "MARLConfig",
    "RayConfig",
    "RewardConfig",
    "EndpointConfig",
    "LLMTeacherConfig",
    "SFTConfig",
    "ServeConfig",
    "AgentSpec",
    "ConfigError",
    "EngineConfig",
    "M1Config",
    "MOVED_KEYS",
    "SamplingConfig",
    "StrictModel",
    "SynthConfig",
    "TeamConfig",
    "TrainEvalSampling",
    "load_config",
    "to_yaml",
]
