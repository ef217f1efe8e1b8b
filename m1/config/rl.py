"""Settings of multi-agent GRPO: rewards (:mod:`m1.train.rewards`) and the policy loss (:mod:`m1.train.grpo`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from m1.config.base import StrictModel
from m1.config.sft import LLMTeacherConfig
from m1.schema import Family


class RewardConfig(StrictModel):
    """``R = R_res + R_format + R_col`` per agent trajectory."""

    correct: float = Field(1.0, description="R_res of a correct answer (MC exact letter; numeric MRA=1; IoU=1).")
    wrong: float = Field(-1.0, description="R_res of a wrong or missing answer; numeric/grounding interpolate.")
    outcome: Literal["team", "agent", "mixed"] = Field(
        "mixed",
        description="Whose answer R_res scores: the team's final answer, the agent's own, or their mean.",
    )
    format_ok: float = Field(0.2, description="R_format when every turn of the agent parsed and every call was valid.")
    format_bad: float = Field(-0.5, description="R_format otherwise.")
    format_graded: bool = Field(
        False,
        description="R_format graded by the share of the agent's well-formed turns and calls, from format_bad (none) "
        "to format_ok (all), instead of all-or-nothing. A departure from the paper (off by default): with "
        "students whose every trajectory has some malformed turn, the binary reward is format_bad for every "
        "rollout and gives GRPO no signal; see m1.train.rewards.",
    )
    col_weight: float = Field(0.5, ge=0.0, description="R_col = col_weight x judge score (1/0).")
    max_tool_calls: int = Field(5, ge=1, description="More tool calls than this get col_over_budget instead.")
    col_over_budget: float = Field(-1.0, description="The strong penalty for exceeding max_tool_calls.")
    frame_cost: float = Field(
        0.0, ge=0.0,
        description="Subtracted from R_res per frame the agent's own tool calls decoded (0 = off, the paper's "
        "reward). A departure from the paper, to make efficiency learnable; see m1.train.rewards.",
    )
    judge: Literal["rule", "llm"] = Field(
        "rule",
        description="Collaboration judge: the documented rules of m1.train.rewards, or an LLM (judge_llm endpoint).",
    )
    judge_llm: LLMTeacherConfig = Field(
        default_factory=lambda: LLMTeacherConfig(max_tokens=4),
        description="OpenAI-compatible endpoint of the LLM judge (the paper used GPT-4o); responses are cached.",
    )


class GRPOConfig(StrictModel):
    """The clipped policy loss with a KL penalty to a frozen reference."""

    group_size: int = Field(4, ge=2, le=64, description="G: rollouts of the whole team per question.")
    agent_dropout: bool = Field(True, description="Sample a DAG topology with dropped agents per rollout.")
    dropout: float = Field(0.25, ge=0.0, lt=1.0, description="Probability that an agent sits out a rollout.")
    edge_prob: float = Field(0.5, ge=0.0, le=1.0, description="Probability of each forward edge of the DAG.")
    scale_by_std: bool = Field(True, description="Divide advantages by the group std (False = Dr.GRPO).")
    clip_low: float = Field(0.2, gt=0.0, lt=1.0, description="Ratio clipped below at 1 - clip_low.")
    clip_high: float = Field(
        0.2, gt=0.0, description="Ratio clipped above at 1 + clip_high (> clip_low = clip-higher)."
    )
    kl_coef: float = Field(0.02, ge=0.0, description="Weight of the k3 KL estimate to the reference; 0 disables it.")
    loss_agg: Literal["token_mean", "seq_mean_token_mean"] = Field(
        "token_mean", description="token_mean: every completion token weighs the same (DAPO/Dr.GRPO style)."
    )
    lr: float = Field(
        1e-4, gt=0.0,
        description="Learning rate: 1e-4 for the tiny team trained from scratch (benchmarks/marl_results.md; 1e-5 "
        "left greedy answers unchanged after 8 steps); the paper used 1e-7 on 3-8B models.",
    )
    micro_batch_tokens: int = Field(
        1024, ge=64,
        description="Learner micro-batch size: prompt + completion tokens as padded (rows x the longest sequence; "
        "sequences sorted longest first, one longer than this goes alone); gradients accumulate to the same update. "
        "On the CPU team 1024 takes 0.22x the learner's peak memory of 16384 and 0.61x its time "
        "(benchmarks/learner_memory.md); raise it on a GPU with room to spare.",
    )
    epsilon: float = Field(1e-6, gt=0.0, description="Added to the group std.")
    ppo_epochs: int = Field(
        1, ge=1, le=16,
        description="Passes over each rollout batch. 1 = one optimiser step per batch (the ratio is exactly 1, the "
        "clip never acts); > 1 reuses the batch, so the clipped ratio bounds how far the policy moves from the "
        "one that sampled it (m1.train.grpo).",
    )
    mini_batches: int = Field(
        1, ge=1, le=64,
        description="Optimiser steps per pass: each agent's samples are shuffled (seeded by the step) and split "
        "into this many mini-batches. Not micro_batch_tokens, which only splits one step's gradient for memory.",
    )

    @model_validator(mode="after")
    def _check(self) -> GRPOConfig:
        if self.clip_high < self.clip_low:
            raise ValueError(f"clip_high {self.clip_high} < clip_low {self.clip_low}: clip-higher means >=")
        return self


class MARLConfig(StrictModel):
    """The multi-agent GRPO training job (``jobs/marl.py``); rollouts sample with ``sampling.train``,
    its evaluations with ``sampling.eval``."""

    steps: int = Field(20, ge=1, description="Policy updates (the paper peaks at 200 on 3-8B models).")
    questions_per_step: int = Field(4, ge=1, description="Questions per update (the paper: batch 8).")
    checkpoint_every: int = Field(5, ge=1, description="Steps between checkpoints (models, optimisers, RNG, cursor).")
    eval_every: int = Field(
        0, ge=0, description="Steps between evaluations on the held-out split; 0 = only at the end."
    )
    lora: bool = Field(False, description="Train LoRA adapters instead of all weights.")
    lora_rank: int = Field(8, ge=1, description="LoRA rank.")
    data_dir: str | None = Field(None, description="M1-Synth train split; default <output_dir>/synth/train.")
    families: list[Family] | None = Field(
        None, description="Train and evaluate only on questions of these families (e.g. [open_ended], for a team "
        "fine-tuned with sft.families=[open_ended]); default all.",
    )
    train_videos: int = Field(24, ge=1, description="Videos generated for the train split when it is missing.")
    eval_dir: str | None = Field(None, description="Held-out split; default <output_dir>/synth/test.")
    eval_videos: int = Field(8, ge=1, description="Videos generated for the held-out split when it is missing.")
    eval_questions: int | None = Field(None, ge=1, description="Evaluate on at most this many held-out questions.")
    team_dir: str | None = Field(
        None, description="Team to start from; default <output_dir>/sft/team if it exists, else <output_dir>/team "
        "(created untrained if missing)."
    )
    use_ray: bool = Field(True, description="Rollouts and the learner on Ray actors (False: all in this process).")
    off_policy: bool = Field(
        False,
        description="One-step off-policy overlap: step k+1's rollouts are sampled (by the weights of update k-1) while "
        "the learner performs update k, so each batch is at most one update stale; the loss's ratio is taken "
        "against the behaviour log-probs the engines recorded (m1.train.marl, m1.train.grpo).",
    )
    resume: bool = Field(True, description="Continue from the latest checkpoint in <output_dir>/marl if present.")
