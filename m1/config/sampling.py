"""How policy agents sample: one type (:class:`SamplingConfig`) and its two named instances in the
root config, ``sampling.train`` and ``sampling.eval`` (:class:`TrainEvalSampling`; verl's rollout
settings and their ``val_kwargs``).

``sampling.train`` is what MARL rollouts sample with; ``sampling.eval`` is what everything else
uses — ``m1 eval``, ``m1 ask``, serving, the greedy evaluations inside training jobs. A caller picks
one and hands it to :func:`m1.team.cpp.run_episode`; nothing patches a copy of the config.
Per-call settings (completion length, stop strings, seed) are not here: the engines' request type
:class:`m1.engines.base.SamplingSettings` extends :class:`SamplingConfig` with them.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from m1.config.base import StrictModel


class SamplingConfig(StrictModel):
    """Temperature and nucleus mass of a policy's completions. The defaults are the policy's own
    distribution (temperature 1, no nucleus cut); ``temperature=0`` is greedy decoding."""

    temperature: float = Field(1.0, ge=0.0, le=5.0, description="Sampling temperature; 0 = greedy (argmax).")
    top_p: float = Field(
        1.0, gt=0.0, le=1.0, description="Nucleus mass: sample among the most likely tokens holding this much "
        "probability (1 = no cut); ignored when greedy.",
    )

    @classmethod
    def greedy(cls) -> SamplingConfig:
        """Greedy decoding: ``sampling.eval``'s default, and what a loop given no sampling uses."""
        return cls(temperature=0.0, top_p=1.0)


class TrainEvalSampling(StrictModel):
    """The two sampling instances of the root config (``sampling.train``, ``sampling.eval``)."""

    train: SamplingConfig = Field(
        default_factory=lambda: SamplingConfig(temperature=0.7, top_p=1.0),
        description="MARL rollouts (jobs/marl.py, benchmarks/reward_audit.py). Must sample (temperature > 0): a "
        "GRPO group of identical greedy rollouts has zero advantages. At 1.0 a half-trained tiny team writes mostly "
        "unparseable turns.",
    )
    eval: SamplingConfig = Field(
        default_factory=SamplingConfig.greedy,
        description="Everything that is not a training rollout: m1 eval, m1 ask, serving, the evaluations inside "
        "jobs/marl.py and benchmarks/sft_eval.py. Greedy by default, so the same question gets the same answer.",
    )

    @field_validator("train")
    @classmethod
    def _train_samples(cls, v: SamplingConfig) -> SamplingConfig:
        if v.temperature == 0:
            raise ValueError("MARL rollouts must sample (temperature > 0): greedy rollouts of one question are "
                             "identical and GRPO learns nothing from them")
        return v
