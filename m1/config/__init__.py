"""All settings of videochat-m1 as pydantic v2 models — the one source of truth.

Sections live one file per concern (``synth.py``, ``video.py``, ...); :class:`M1Config` is
their root. ``configs/*.yaml`` are instances of it; :func:`load_config` merges
defaults ← YAML file ← dotted overrides and validates the result, raising
:class:`ConfigError` with every offending key and value.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from m1.config.base import ConfigError, StrictModel, build, load_yaml, parse_overrides, to_yaml
from m1.config.cluster import AgentResources, ClusterConfig
from m1.config.cpp import CPPConfig
from m1.config.engine import EngineConfig
from m1.config.ray import RayConfig
from m1.config.rl import GRPOConfig, MARLConfig, RewardConfig
from m1.config.serve import ServeConfig
from m1.config.sft import LLMTeacherConfig, SFTConfig
from m1.config.synth import SynthConfig
from m1.config.team import AgentSpec, TeamConfig
from m1.config.tools import ToolsConfig
from m1.config.video import VideoConfig


class M1Config(StrictModel):
    """Root of the configuration tree."""

    seed: int = Field(0, ge=0, description="Global seed; every random choice derives from it.")
    output_dir: str = Field("runs/default", description="Where jobs write logs, data and checkpoints.")
    synth: SynthConfig = Field(default_factory=SynthConfig)
    team: TeamConfig = Field(default_factory=TeamConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    cpp: CPPConfig = Field(default_factory=CPPConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    rewards: RewardConfig = Field(default_factory=RewardConfig)
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    marl: MARLConfig = Field(default_factory=MARLConfig)
    video: VideoConfig = Field(default_factory=VideoConfig)
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> M1Config:
    """Defaults ← YAML ``path`` ← ``overrides`` (``["synth.fps=8", ...]``), validated."""
    layers = []
    if path is not None:
        layers.append(load_yaml(path))
    layers.append(parse_overrides(list(overrides or [])))
    return build(M1Config, *layers)


__all__ = [
    "AgentResources",
    "ClusterConfig",
    "CPPConfig",
    "GRPOConfig",
    "MARLConfig",
    "RayConfig",
    "RewardConfig",
    "LLMTeacherConfig",
    "SFTConfig",
    "ServeConfig",
    "AgentSpec",
    "ConfigError",
    "EngineConfig",
    "M1Config",
    "StrictModel",
    "SynthConfig",
    "TeamConfig",
    "load_config",
    "to_yaml",
]
