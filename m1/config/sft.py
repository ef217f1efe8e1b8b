"""Settings of policy SFT: teacher annotation (:mod:`m1.train.teachers`, :mod:`m1.train.annotation`) and the
fine-tuning loop (:mod:`m1.train.sft`). The CPP loop used to annotate is the ``cpp`` section."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from m1.config.base import StrictModel
from m1.config.endpoint import EndpointConfig
from m1.schema import Family


class LLMTeacherConfig(EndpointConfig):
    """An OpenAI-compatible chat endpoint used as the teacher (GPT-4o, DeepSeek-R1, a vLLM server)."""


class SFTConfig(StrictModel):
    """Teacher annotation, the paper's filter, and the fine-tuning recipe."""

    # --- where
    data_dir: str | None = Field(
        None, description="M1-Synth split to annotate; default <output_dir>/synth/train (generated if missing)."
    )
    train_videos: int = Field(60, ge=1, description="Videos of the generated training split when data_dir is unset.")
    max_questions: int | None = Field(None, ge=1, description="Annotate at most this many questions (first ones).")
    families: list[Family] | None = Field(
        None, description="Annotate only questions of these families (e.g. [open_ended]); default all. Applied "
        "before max_questions.",
    )
    team_dir: str = Field(
        "${output_dir}/team",
        description="Student team to fine-tune (tokenizer, limits, initial weights); created untrained if missing.",
    )
    out_dir: str = Field("${output_dir}/sft", description="Dataset, runs (<out_dir>/runs) and the trained team "
                         "(<out_dir>/team).")
    dataset_dir: str = Field("${sft.out_dir}/data", description="The annotated dataset.")
    # --- annotation
    teacher: Literal["oracle", "verify", "llm"] = Field(
        "oracle",
        description="Who writes plans: the M1-Synth oracle, the verifying oracle (cross-checks noisy tools: "
        "m1.train.teachers.VerifyingTeacher) or an LLM.",
    )
    llm: LLMTeacherConfig = Field(default_factory=LLMTeacherConfig, description="The LLM teacher's endpoint.")
    weak_plan_prob: float = Field(
        0.15, ge=0.0, le=1.0, description="Oracle: chance a plan is a weak/incomplete one (the filter's work)."
    )
    redundant_step_prob: float = Field(
        0.2, ge=0.0, le=1.0, description="Oracle: chance a valid plan gets a redundant extra step."
    )
    done_confidence: float = Field(
        0.85, ge=0.0, le=1.0,
        description="Oracle revisions: answer DONE when an own question-aware result is at least this confident "
        "and steps remain.",
    )
    read_steps: list[Annotated[float, Field(ge=1.0, le=10.0)]] = Field(
        [2.5, 1.6, 3.2], min_length=1,
        description="Verifying oracle: the scan steps (seconds; the question-aware tools' `step`) of readings "
        "beyond the default one. Agent k reads first at the k-th of [default, *read_steps] and re-reads at the next.",
    )
    cite_answers: bool = Field(
        True,
        description="Oracle: answer by citing the best evidence line (a2.1) rather than copying its candidate "
        "(both forms parse; see m1.team.answers.parse_answer). Open-ended answers: cite_open_answers.",
    )
    cite_open_answers: bool = Field(
        True,
        description="Oracle and verifying teachers, with cite_answers: cite the best line for open-ended answers "
        "too, which adopts the list its tool wrote. A tiny student trained from scratch copies a written list "
        "badly (stop 38 of benchmarks/collaboration.md: item F1 0.269) and the longest lists (~23 tokens) overrun "
        "cpp.answer_tokens (16); false writes it out, as every team before stop 39.",
    )
    dag_fraction: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Share of annotated questions whose teacher episode runs on a topology MARL samples (Agent "
        "Dropout over a random DAG, grpo.dropout and grpo.edge_prob; a deterministic draw per question) instead of "
        "the complete one. 0 = the paper's annotation; students SFT'd on complete episodes alone parse 0.49 of their "
        "turns on MARL's topologies against 0.83 on the complete one (benchmarks/collaboration.md, stop 42).",
    )
    single_pass_only: bool = Field(True, description="The paper's filter (b): keep plans executed without revision.")
    revision_examples: bool = Field(
        True, description="Also train on the revision turns (KEEP/DONE/new steps) of correct trajectories."
    )
    keep_fraction: float = Field(
        0.1, ge=0.0, le=1.0,
        description="Share of KEEP revision examples kept (long prompts, a trivial target: most are skipped to "
        "save compute); DONE and new-plan revisions are always kept.",
    )
    min_score: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Filter (a): an answer counts as correct when its score (accuracy, MRA, IoU, item F1) is at least "
        "this.",
    )
    # --- training
    mode: Literal["full", "lora"] = Field("full", description="Full fine-tuning or LoRA adapters (peft).")
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator.")
    lora_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="LoRA dropout.")
    lora_targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        min_length=1, description="Module names LoRA adapts.",
    )
    lr: float = Field(3e-3, gt=0.0, description="Peak learning rate (tiny models; use ~1e-6 for 3-8B full FT).")
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0, description="Final lr of the cosine decay, relative to lr.")
    warmup_steps: int = Field(10, ge=0, description="Linear warm-up steps.")
    weight_decay: float = Field(0.01, ge=0.0, description="AdamW weight decay.")
    grad_clip: float = Field(1.0, gt=0.0, description="Gradient-norm clip.")
    epochs: float = Field(4.0, gt=0.0, description="Passes over each agent's examples (fractions allowed).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many steps (overrides epochs).")
    val_fraction: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="Share of the annotated questions held out (whole questions, the same ones for every agent) "
        "to measure validation loss; the exported model is then the one with the lowest validation loss. 0 trains "
        "on everything and exports the last step.",
    )
    eval_every: int = Field(50, ge=1, description="Steps between validation-loss measurements (val_fraction > 0).")
    choose_summariser: bool = Field(
        False,
        description="After training, store the team's summariser as `m1 models choose-summariser` does: every agent "
        "answers the questions held out for validation (needs val_fraction > 0) alone with the tools, and the best "
        "is recorded in team.json (MARL carries it over). Off: the team stores no choice, and its last agent "
        "summarises until that command runs.",
    )
    patience: int | None = Field(
        None, ge=1,
        description="With val_fraction > 0: stop once this many measurements in a row bring no new best validation "
        "loss (a plateau), so sft.epochs is a cap; None (the default) runs every epoch and still exports the best "
        "step. Off by default: with a few dozen validation questions the loss swings by ~0.2 between measurements, "
        "and patience 4 x 40 steps stopped the verifying teacher's four students after 1.9-4.2 of 8 epochs, at "
        "1.5-2.4x the validation loss that 8 epochs reach (benchmarks/collaboration.md, stop 31).",
    )
    batch_tokens: int = Field(
        1024, ge=64,
        description="Token budget of one batch (padded length x rows); small batches (2-3 examples) mean more updates "
        "per epoch, which is what tiny models trained from scratch need.",
    )
    max_batch_rows: int = Field(64, ge=1, description="Most examples in one batch.")
    checkpoint_every: int = Field(100, ge=1, description="Steps between resumable checkpoints.")
    keep_checkpoints: int = Field(2, ge=1, description="Resumable checkpoints kept per agent (newest).")
    log_every: int = Field(5, ge=1, description="Steps between loss log records.")
    use_ray: bool = Field(True, description="Train agents as parallel Ray tasks (num_cpus=1 each); else in turn.")
    cpus_per_agent: float = Field(1.0, gt=0.0, description="Ray CPUs reserved per agent's training task.")
    train_timeout: float = Field(3600.0, gt=0, description="Seconds to wait for one agent's training on Ray.")

    @model_validator(mode="after")
    def _choice_needs_held_out_questions(self) -> SFTConfig:
        if self.choose_summariser and self.val_fraction <= 0:
            raise ValueError("choose_summariser chooses on the questions held out for validation: set "
                             "sft.val_fraction > 0 (e.g. 0.1), or run `m1 models choose-summariser` on a split")
        return self

    @model_validator(mode="after")
    def _lora_targets_known(self) -> SFTConfig:
        known = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
        bad = sorted(set(self.lora_targets) - known)
        if bad:
            raise ValueError(f"lora_targets {bad} are not modules of a Qwen2/Qwen3 layer {sorted(known)}")
        return self
