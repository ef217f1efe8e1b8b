"""The SFT loop for one policy agent: plain torch, full fine-tuning or LoRA (peft).

- Loss: token-mean cross-entropy over the *target* tokens only (plan / revision / answer text +
  EOS, so generation learns to stop); prompt tokens carry label -100 and cost nothing.
- Batches are packed by a token budget (padded length x rows) from a deterministic per-epoch
  shuffle; the whole batch plan is fixed up front from the seed, so the data cursor is the step.
- AdamW, linear warm-up then cosine decay to ``min_lr_ratio``, gradient clipping.
- Checkpoints (every ``checkpoint_every`` steps, the newest ``keep_checkpoints`` kept) hold the
  model in HF format (full) or the peft adapter (LoRA), the optimizer, the scheduler, the RNG
  states and the step: :meth:`SFTTrainer.resume` continues bit-exactly (tested).
- Validation (``val_fraction`` > 0): whole questions are held out (:func:`hold_out_questions`), their
  token-mean loss is measured every ``eval_every`` steps, the best weights are kept under ``best/``
  and exported; when ``patience`` is set, that many measurements without a new best stop the run
  (a plateau), so ``epochs`` is then a cap; the summary states the epoch the exported model comes from.
- Logs: ``metrics.jsonl`` and TensorBoard event files under the run directory; :func:`plot_losses`.
- :meth:`SFTTrainer.export` writes the final HF checkpoint (LoRA: the merged model, plus the
  adapter under ``adapter/``) that :class:`m1.team.cpp.LocalTeam` loads.

Not here: where the data comes from (:mod:`m1.train.annotation`), Ray (``actors/sft.py``, ``jobs/sft.py``).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from m1.checkpoint import apply_prompt_template, load_agent, save_agent
from m1.config.sft import SFTConfig
from m1.seeding import derive_seed

IGNORE = -100
_SORT_WINDOW = 32  # batches' worth of examples sorted by length together: less padding, still shuffled


class SFTError(ValueError):
    """Training cannot start: no examples, every example too long, an unusable checkpoint."""


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE on prompt tokens, the token id on target tokens (incl. EOS)

    @property
    def target_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def tokenize_example(prompt: str, target: str, tokenizer: Any) -> TokenizedExample:
    """Prompt ids as the engine encodes them, then the target's ids and EOS; prompt labels masked."""
    p = apply_prompt_template(tokenizer, prompt)
    t = list(tokenizer(target, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    return TokenizedExample(p + t, [IGNORE] * len(p) + t)


def tokenize_dataset(pairs: Sequence[tuple[str, str]], tokenizer: Any, max_context: int
                     ) -> tuple[list[TokenizedExample], int]:
    """Tokenise (prompt, target) pairs; returns the examples that fit ``max_context`` and how many did not."""
    out = [tokenize_example(p, t, tokenizer) for p, t in pairs]
    kept = [e for e in out if len(e.input_ids) <= max_context]
    return kept, len(out) - len(kept)


def plan_batches(lengths: Sequence[int], batch_tokens: int, max_rows: int, seed: int, epochs: float
                 ) -> list[list[int]]:
    """Example indices of every batch of the run, in order. Per epoch: a seeded shuffle, lengths
    sorted within windows (less padding), greedy packing under ``batch_tokens`` padded tokens,
    then the epoch's batches shuffled. A fractional last epoch takes its first batches."""
    if not lengths:
        raise SFTError("no training examples")
    too_long = [n for n in lengths if n > batch_tokens]
    if too_long:
        raise SFTError(f"{len(too_long)} examples are longer than sft.batch_tokens={batch_tokens} "
                       f"(longest {max(too_long)})")
    plan: list[list[int]] = []
    for epoch in range(math.ceil(epochs)):
        rng = random.Random(derive_seed(seed, "sft-epoch", epoch))
        order = list(range(len(lengths)))
        rng.shuffle(order)
        window = _SORT_WINDOW * max_rows
        order = [i for w in range(0, len(order), window) for i in sorted(order[w:w + window], key=lengths.__getitem__)]
        batches: list[list[int]] = []
        cur: list[int] = []
        width = 0
        for i in order:
            w = max(width, lengths[i])
            if cur and (w * (len(cur) + 1) > batch_tokens or len(cur) >= max_rows):
                batches.append(cur)
                cur, w = [], lengths[i]
            cur.append(i)
            width = w
        if cur:
            batches.append(cur)
        rng.shuffle(batches)
        frac = epochs - epoch
        plan += batches if frac >= 1 else batches[: max(1, round(frac * len(batches)))]
    return plan


def collate(batch: Sequence[TokenizedExample], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (IGNORE on padding)."""
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for b, e in enumerate(batch):
        ids[b, : len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[b, : len(e.labels)] = torch.tensor(e.labels)
        mask[b, : len(e.input_ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def sft_loss(model: Any, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Token-mean CE of the labelled (target) tokens; returns (loss, number of target tokens).

    Position t's logits predict token t+1, so logits[:, :-1] are scored against labels[:, 1:]. Only
    the span of positions that predict some target token goes through the LM head (``logits_to_keep``):
    prompts are most of every sequence, and the head over the full vocabulary is a third of a tiny
    model's compute."""
    labels = batch["labels"][:, 1:]
    hit = (labels != IGNORE).any(dim=0).nonzero().flatten()
    n = int((labels != IGNORE).sum())
    if n == 0:
        raise SFTError("a batch without target tokens")
    lo, hi = int(hit[0]), int(hit[-1]) + 1
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   logits_to_keep=torch.arange(lo, hi, device=labels.device)).logits.float()
    span = labels[:, lo:hi]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), span.reshape(-1),
                                             ignore_index=IGNORE, reduction="sum")
    return loss / n, n


def hold_out_questions(qids: Sequence[str], fraction: float, seed: int) -> set[str]:
    """The questions kept out of training for validation: each distinct qid independently by a seeded
    hash (so the set does not depend on the order or on other questions), at least one when
    ``fraction`` > 0 and there are two or more questions, never all of them."""
    distinct = sorted(set(qids))
    if fraction <= 0 or len(distinct) < 2:
        return set()
    draw = {q: derive_seed(seed, "sft-val", q) % 1_000_000 / 1_000_000 for q in distinct}
    held = {q for q in distinct if draw[q] < fraction}
    if not held:
        held = {min(distinct, key=draw.__getitem__)}
    if len(held) == len(distinct):
        held.discard(max(distinct, key=draw.__getitem__))
    return held


def lr_factor(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at ``step`` (0-based): linear warm-up, then cosine to ``min_ratio``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def add_lora(model: Any, cfg: SFTConfig, seed: int = 0) -> Any:
    """Wrap ``model`` with peft LoRA adapters on ``cfg.lora_targets`` (base weights frozen). The
    random A matrices come from ``seed``, not from the global RNG, so a run is reproducible."""
    from peft import LoraConfig, get_peft_model  # noqa: PLC0415

    lcfg = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=list(cfg.lora_targets), task_type="CAUSAL_LM", bias="none")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "lora-init") % 2**63)
        return get_peft_model(model, lcfg)


class SFTTrainer:
    """Trains one model on tokenized examples; ``run_dir`` holds checkpoints and logs."""

    def __init__(self, model: Any, tokenizer: Any, data: Sequence[TokenizedExample], cfg: SFTConfig,
                 run_dir: str | Path, seed: int = 0, name: str = "agent", progress: bool = False,
                 val: Sequence[TokenizedExample] = ()):
        self.cfg, self.tokenizer, self.data, self.name = cfg, tokenizer, list(data), name
        self.val = list(val)
        # validation batches: packed like training's (one seeded epoch), fixed for the whole run
        self.val_batches = plan_batches([len(e.input_ids) for e in self.val], cfg.batch_tokens, cfg.max_batch_rows,
                                        seed, 1.0) if self.val else []
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.seed, self.progress = seed, progress
        self.model = add_lora(model, cfg, seed) if cfg.mode == "lora" else model
        self.model.train()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        plan = plan_batches([len(e.input_ids) for e in self.data], cfg.batch_tokens, cfg.max_batch_rows, seed,
                            cfg.epochs)
        if cfg.max_steps is not None:  # cycle further epochs if needed, then cut
            extra = 1
            while len(plan) < cfg.max_steps:
                plan += plan_batches([len(e.input_ids) for e in self.data], cfg.batch_tokens, cfg.max_batch_rows,
                                     derive_seed(seed, "more", extra), 1.0)
                extra += 1
            plan = plan[: cfg.max_steps]
        self.batches = plan
        self.total_steps = len(plan)
        self.steps_per_epoch = len(plan_batches([len(e.input_ids) for e in self.data], cfg.batch_tokens,
                                                cfg.max_batch_rows, seed, 1.0))
        self.best_val = math.inf  # validation state (unused without val examples)
        self.best_step = 0
        self.bad_evals = 0
        self.stopped_early = False
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, self.total_steps, cfg.warmup_steps, cfg.min_lr_ratio))
        self.step = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0  # this process's CPU time: what an unshared machine would need
        self._writer: Any = None

    # ------------------------------------------------------------------ training
    def train(self, until: int | None = None) -> dict[str, Any]:
        """Run to the end of the plan (or to step ``until``); checkpoints on the way and at the end."""
        stop = min(self.total_steps, until if until is not None else self.total_steps)
        bar: Any = None
        if self.progress:
            from tqdm import tqdm  # noqa: PLC0415

            bar = tqdm(total=stop, initial=self.step, desc=f"sft {self.name}", unit="step")
        window: list[tuple[float, int]] = []
        last_loss = float("nan")
        while self.step < stop and not self.stopped_early:
            t0, c0 = time.perf_counter(), time.process_time()
            batch = collate([self.data[i] for i in self.batches[self.step]], self.pad_id)
            loss, ntok = sft_loss(self.model, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                           self.cfg.grad_clip)
            lr = self.optimizer.param_groups[0]["lr"]
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            self.seconds += time.perf_counter() - t0
            self.cpu_seconds += time.process_time() - c0
            last_loss = float(loss.detach())
            window.append((last_loss, ntok))
            if self.step % self.cfg.log_every == 0 or self.step == stop:
                mean = sum(lo * n for lo, n in window) / sum(n for _, n in window)
                self._log({"step": self.step, "loss": round(mean, 6), "lr": lr, "target_tokens": ntok,
                           "seconds": round(self.seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3)})
                window = []
            if self.val and (self.step % self.cfg.eval_every == 0 or self.step == stop):
                self._validate()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.3f}", **({"val": f"{self.best_val:.3f}"} if self.val else {}))
            if self.step % self.cfg.checkpoint_every == 0 or self.step == stop or self.stopped_early:
                self.save_checkpoint()
        if bar is not None:
            bar.close()
        if self._writer is not None:
            self._writer.flush()
        out = {"agent": self.name, "steps": self.step, "total_steps": self.total_steps, "final_loss": last_loss,
               "seconds": round(self.seconds, 2), "cpu_seconds": round(self.cpu_seconds, 2),
               "examples": len(self.data), "steps_per_epoch": self.steps_per_epoch, "mode": self.cfg.mode}
        if self.val:
            out |= {"val_examples": len(self.val), "best_val_loss": round(self.best_val, 6),
                    "best_step": self.best_step, "best_epoch": round(self.best_step / self.steps_per_epoch, 2),
                    "stopped_early": self.stopped_early}
        return out

    # ------------------------------------------------------------------ validation
    def validation_loss(self) -> float:
        """Token-mean target loss over the validation examples (no gradient, fixed batches)."""
        total, count = 0.0, 0
        self.model.eval()
        with torch.no_grad():
            for batch in self.val_batches:
                loss, n = sft_loss(self.model, collate([self.val[i] for i in batch], self.pad_id))
                total, count = total + float(loss) * n, count + n
        self.model.train()
        return total / max(1, count)

    def _validate(self) -> None:
        """Measure, keep the best weights under ``best/``, count measurements since the last best."""
        v = self.validation_loss()
        if v < self.best_val:
            self.best_val, self.best_step, self.bad_evals = v, self.step, 0
            tmp = self.run_dir / ".tmp_best"
            shutil.rmtree(tmp, ignore_errors=True)
            self.model.save_pretrained(str(tmp))
            self.tokenizer.save_pretrained(str(tmp))
            shutil.rmtree(self.run_dir / "best", ignore_errors=True)
            tmp.rename(self.run_dir / "best")
        else:
            self.bad_evals += 1
            if self.cfg.patience is not None and self.bad_evals >= self.cfg.patience:
                self.stopped_early = True
        self._log({"step": self.step, "val_loss": round(v, 6), "best_val_loss": round(self.best_val, 6),
                   "best_step": self.best_step})

    def _log(self, rec: dict[str, Any]) -> None:
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415

            self._writer = SummaryWriter(str(self.run_dir / "tb"))
        for key in ("loss", "lr", "val_loss"):
            if key in rec:
                self._writer.add_scalar(f"sft/{self.name}/{key}", rec[key], rec["step"])

    # --------------------------------------------------------------- checkpoints
    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step_NNNNNN`` atomically (tmp dir, then rename); prune old ones."""
        final = self.checkpoint_dir / f"step_{self.step:06d}"
        tmp = self.checkpoint_dir / f".tmp_step_{self.step:06d}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save_pretrained(str(tmp / "model"))  # HF model, or the peft adapter only
        self.tokenizer.save_pretrained(str(tmp / "model"))  # a full checkpoint then loads like any agent
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "python_rng": random.getstate(), "step": self.step,
                    "seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "total_steps": self.total_steps,
                    "mode": self.cfg.mode, "best_val": self.best_val, "best_step": self.best_step,
                    "bad_evals": self.bad_evals, "stopped_early": self.stopped_early},
                   tmp / "state.pt")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        ckpts = sorted(self.checkpoint_dir.glob("step_*"))
        for old in ckpts[: -self.cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def latest_checkpoint(self) -> Path | None:
        ckpts = sorted(self.checkpoint_dir.glob("step_*")) if self.checkpoint_dir.is_dir() else []
        return ckpts[-1] if ckpts else None

    def resume(self, path: str | Path | None = None) -> bool:
        """Restore the newest (or the given) checkpoint; False when there is none."""
        ckpt = Path(path) if path else self.latest_checkpoint()
        if ckpt is None:
            return False
        state = torch.load(ckpt / "state.pt", weights_only=False)
        if state["mode"] != self.cfg.mode or state["total_steps"] != self.total_steps:
            raise SFTError(f"checkpoint {ckpt} is from a different run (mode {state['mode']}, "
                           f"{state['total_steps']} steps; this run: {self.cfg.mode}, {self.total_steps})")
        self._load_weights(ckpt / "model")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.best_val, self.best_step = float(state.get("best_val", math.inf)), int(state.get("best_step", 0))
        self.bad_evals, self.stopped_early = int(state.get("bad_evals", 0)), bool(state.get("stopped_early", False))
        metrics = self.run_dir / "metrics.jsonl"
        if metrics.is_file():  # drop records logged after the checkpoint (a crash between log and save)
            lines = [ln for ln in metrics.read_text().splitlines() if ln and json.loads(ln)["step"] <= self.step]
            metrics.write_text("".join(ln + "\n" for ln in lines))
        return True

    def _load_weights(self, model_dir: Path) -> None:
        """Load saved weights (a HF model dir, or a peft adapter dir for LoRA) into the trained model."""
        with torch.no_grad():
            if self.cfg.mode == "lora":
                from peft.utils import load_peft_weights, set_peft_model_state_dict  # noqa: PLC0415

                set_peft_model_state_dict(self.model, load_peft_weights(str(model_dir)))
            else:
                saved, _ = load_agent(model_dir)
                self.model.load_state_dict(saved.state_dict())

    # --------------------------------------------------------------------- export
    def export(self, out_dir: str | Path) -> Path:
        """The trained agent as a HF checkpoint dir (+ tokenizer); LoRA: merged weights, adapter in ``adapter/``.
        With validation, the weights of the lowest validation loss (``best/``), not the last step's."""
        out = Path(out_dir)
        if self.val and self.best_step and self.best_step != self.step:
            self._load_weights(self.run_dir / "best")
        self.model.eval()
        if self.cfg.mode == "lora":
            self.model.save_pretrained(str(out / "adapter"))
            merged = self.model.merge_and_unload()
            save_agent(merged, self.tokenizer, out)
            self.model = merged
        else:
            save_agent(self.model, self.tokenizer, out)
        return out


def plot_losses(run_dirs: dict[str, Path], out_png: str | Path, title: str = "SFT loss") -> Path:
    """One loss curve per agent from each run's ``metrics.jsonl`` (log-scale y)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, d in run_dirs.items():
        f = Path(d) / "metrics.jsonl"
        if not f.is_file():
            continue
        recs = [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()]
        train = [r for r in recs if "loss" in r]
        (line,) = ax.plot([r["step"] for r in train], [r["loss"] for r in train], label=name)
        val = [r for r in recs if "val_loss" in r]
        if val:
            ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "--", color=line.get_color(),
                    label=f"{name} (validation)")
    ax.set_xlabel("step")
    ax.set_ylabel("target-token CE")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(str(out_png), dpi=110)
    plt.close(fig)
    return Path(out_png)


def train_agent(name: str, base_dir: str | Path, pairs: Sequence[tuple[str, str]], cfg: SFTConfig,
                run_dir: str | Path, out_dir: str | Path, seed: int = 0, max_context: int | None = None,
                progress: bool = False, val_pairs: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """Fine-tune the agent checkpointed at ``base_dir`` on (prompt, target) ``pairs``; resumes from
    ``run_dir``'s newest checkpoint if there is one; exports to ``out_dir``. One torch thread.
    ``val_pairs``: held-out examples whose loss picks the exported step and may stop the run early."""
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)  # weights drifting into denormals slow CPU training ~3x (DESIGN.md)
    torch.manual_seed(derive_seed(seed, "sft-torch", name) % 2**63)
    model, tok = load_agent(base_dir)
    limit = max_context or int(getattr(model.config, "max_position_embeddings", 1 << 30))
    data, dropped = tokenize_dataset(pairs, tok, limit)
    if not data:
        raise SFTError(f"agent {name}: none of {len(pairs)} examples fits its context of {limit} tokens")
    val, _ = tokenize_dataset(val_pairs, tok, limit)
    trainer = SFTTrainer(model, tok, data, cfg, run_dir, seed=derive_seed(seed, "sft", name), name=name,
                         progress=progress, val=val)
    resumed = trainer.resume()
    summary = trainer.train()
    trainer.export(out_dir)
    return {**summary, "resumed": resumed, "dropped_too_long": dropped, "out": str(out_dir),
            "target_tokens": sum(e.target_tokens for e in data), "tokens": sum(len(e.input_ids) for e in data)}
