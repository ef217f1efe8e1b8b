"""Time of one GRPO policy update: ours (``m1.train.learner.TeamLearner.step``) against TRL's ``GRPOTrainer``.

Runs in the benchmark environment (``scripts/setup_bench_env.sh`` → ``.venv-bench``, which has TRL; the
project's ``.venv`` does not). One process, one tiny Qwen2 of the default team's ``qwen2-base`` shape, one
fixed batch (prompts × group, random token ids; prompt and completion lengths drawn once from the given
ranges), and for each system one *update*, isolated from generation:

* ours: ``TeamLearner.step(samples)`` — policy forward with grad, reference forward, ``policy_loss``,
  backward, grad-norm clip, AdamW step.
* TRL: what ``GRPOTrainer`` does for the same update: the reference log-probs
  (``_get_per_token_logps_and_entropies(ref_model, ...)`` under ``no_grad``, as in
  ``_generate_and_score_completions``), then the body of ``Trainer``'s inner loop for one batch:
  ``compute_loss`` → ``accelerator.backward`` → ``_clip_grad_norm`` → ``optimizer.step`` →
  ``lr_scheduler.step`` → ``zero_grad``. Generation, rewards and logging are left out of both.

Matched settings: AdamW (lr, betas, eps, weight decay 0; the same ``torch.optim.AdamW`` class, handed to
TRL through ``optimizers=``), constant lr, max grad norm 1, clip ε = 0.2 both sides, KL coefficient
(``beta``) with the k3 estimator added per token before aggregation, token-mean aggregation over the
batch (TRL ``loss_type="bnpo"``; our ``loss_agg="token_mean"``), temperature 1, float32, the same old
log-probs handed to both. TRL's reference is loaded from the same checkpoint as its policy (as
``GRPOTrainer`` does); ours is a deep copy. Both start from identical weights, so the first (warm-up)
update is a correctness check: losses, grad norms and the updated weights must agree.

Repetitions of the two systems are interleaved (ours, TRL, ours, TRL, ...) so that other load on the
machine hits both alike; medians and p90 are reported with the load average.

    .venv-bench/bin/python benchmarks/grpo_speed.py --reps 12
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from m1.checkpoint import save_agent, train_tokenizer
from m1.config.rl import GRPOConfig as OurGRPOConfig
from m1.config.team import TeamConfig
from m1.engines.hf import completion_logprobs
from m1.models import build_model
from m1.train.learner import Sample, TeamLearner


def _corpus(n: int, seed: int) -> list[str]:
    """Random pseudo-words: enough distinct byte pairs for a full BPE vocabulary."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [" ".join("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(40))
            for _ in range(n)]


def _batch(vocab: int, special: int, args: argparse.Namespace, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """Prompts repeated ``group`` times (a GRPO group shares its prompt) and one completion each."""
    g = torch.Generator().manual_seed(seed)
    prompts, completions = [], []
    for _ in range(args.prompts):
        plen = int(torch.randint(args.prompt_len[0], args.prompt_len[1] + 1, (1,), generator=g))
        p = torch.randint(special, vocab, (plen,), generator=g).tolist()
        for _ in range(args.group):
            clen = int(torch.randint(args.completion_len[0], args.completion_len[1] + 1, (1,), generator=g))
            prompts.append(p)
            completions.append(torch.randint(special, vocab, (clen,), generator=g).tolist())
    return prompts, completions


def _advantages(n_prompts: int, group: int, seed: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    r = torch.rand((n_prompts, group), generator=g, dtype=torch.float64)
    adv = (r - r.mean(-1, keepdim=True)) / (r.std(-1, unbiased=False, keepdim=True) + 1e-6)
    return adv.flatten().tolist()


def _trl_inputs(prompts, completions, old, adv, pad_id: int) -> dict[str, torch.Tensor]:
    """TRL's batch layout: prompts left-padded, completions right-padded, masks, per-token old log-probs."""
    pw = max(len(p) for p in prompts)
    cw = max(len(c) for c in completions)
    b = len(prompts)
    prompt_ids = torch.full((b, pw), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((b, pw), dtype=torch.long)
    completion_ids = torch.full((b, cw), pad_id, dtype=torch.long)
    completion_mask = torch.zeros((b, cw), dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        prompt_ids[i, pw - len(p):] = torch.tensor(p)
        prompt_mask[i, pw - len(p):] = 1
        completion_ids[i, : len(c)] = torch.tensor(c)
        completion_mask[i, : len(c)] = 1
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "old_per_token_logps": old[:, :cw].clone(),
        "advantages": torch.tensor(adv, dtype=torch.float32),
        "num_items_in_batch": completion_mask.sum(),
    }


class TRLUpdate:
    """One GRPOTrainer policy update (reference log-probs + the Trainer inner-loop body), no generation."""

    def __init__(self, model_dir: Path, tok, args: argparse.Namespace, out_dir: Path):
        from datasets import Dataset
        from transformers import AutoModelForCausalLM
        from trl import GRPOConfig, GRPOTrainer

        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        cfg = GRPOConfig(
            output_dir=str(out_dir),
            use_cpu=True,
            bf16=False,
            fp16=False,
            learning_rate=args.lr,
            weight_decay=0.0,
            lr_scheduler_type="constant",
            max_grad_norm=1.0,
            beta=args.kl_coef,
            epsilon=args.clip,
            epsilon_high=args.clip,
            loss_type="bnpo",  # (Σ per-token loss · mask) / Σ mask over the batch = our token_mean
            temperature=1.0,
            per_device_train_batch_size=args.prompts * args.group,
            num_generations=args.group,
            gradient_accumulation_steps=1,
            max_completion_length=args.completion_len[1],
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_dropout=True,
            seed=args.seed,
        )
        opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
        data = Dataset.from_dict({"prompt": ["x"] * (args.prompts * args.group)})
        self.trainer = GRPOTrainer(model=model, reward_funcs=lambda completions, **_: [0.0] * len(completions),
                                   args=cfg, train_dataset=data, processing_class=tok, optimizers=(opt, sched))
        # Set by Trainer's training loop for each optimizer step; one batch, no accumulation here.
        self.trainer.current_gradient_accumulation_steps = 1
        self.model = self.trainer.model

    def ref_logps(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        t = self.trainer
        input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], dim=1)
        attn = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        with torch.no_grad():
            ref, _, _ = t._get_per_token_logps_and_entropies(t.ref_model, input_ids, attn,
                                                              inputs["completion_ids"].size(1))
        return ref

    def step(self, inputs: dict[str, torch.Tensor]) -> dict[str, float]:
        t = self.trainer
        t0 = time.perf_counter()
        batch = dict(inputs, ref_per_token_logps=self.ref_logps(inputs))
        t1 = time.perf_counter()
        self.model.train()
        loss = t.compute_loss(self.model, batch)
        t.accelerator.backward(loss)
        gnorm = t._clip_grad_norm(self.model)
        t.optimizer.step()
        t.lr_scheduler.step()
        self.model.zero_grad()
        t2 = time.perf_counter()
        return {"loss": float(loss.detach()), "grad_norm": float(gnorm), "ref_s": t1 - t0, "update_s": t2 - t1}


def _profile(systems: dict) -> None:
    """One update of each system under torch.profiler: the top operators by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    for name, fn in systems.items():
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        print(f"===== {name}  (load average {os.getloadavg()[0]:.2f})")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=12, help="timed repetitions per system (interleaved)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed updates per system first (the first is checked)")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--prompt-len", type=int, nargs=2, default=[180, 220], metavar=("MIN", "MAX"))
    ap.add_argument("--completion-len", type=int, nargs=2, default=[48, 64], metavar=("MIN", "MAX"))
    ap.add_argument("--lr", type=float, default=1e-5)
    ap.add_argument("--kl-coef", type=float, default=0.02)
    ap.add_argument("--clip", type=float, default=0.2)
    ap.add_argument("--old-noise", type=float, default=0.1,
                    help="std of noise added to the old log-probs so that ratios ≠ 1 and clipping is exercised")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true",
                    help="after warm-up, profile one update of each system with torch.profiler instead of timing")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    load_start = os.getloadavg()
    team = TeamConfig()
    spec = next(a for a in team.agents if a.name == "qwen2-base")
    tok = train_tokenizer(_corpus(3000, args.seed), vocab_size=team.vocab_size)
    pad_id = int(tok.pad_token_id)
    vocab = len(tok)
    model = build_model(spec, tok, seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())

    prompts, completions = _batch(vocab, 2, args, args.seed)
    adv = _advantages(args.prompts, args.group, args.seed + 1)
    with torch.no_grad():
        base, mask = completion_logprobs(model, prompts, completions, pad_id)
    noise = torch.randn(base.shape, generator=torch.Generator().manual_seed(args.seed + 2)) * args.old_noise
    old = (base + noise) * mask
    samples = [Sample(0, p, c, old[i, : len(c)].tolist(), a)
               for i, (p, c, a) in enumerate(zip(prompts, completions, adv, strict=True))]
    inputs = _trl_inputs(prompts, completions, old, adv, pad_id)

    with tempfile.TemporaryDirectory() as tmp:
        save_agent(model, tok, Path(tmp) / "policy")
        trl_update = TRLUpdate(Path(tmp) / "policy", tok, args, Path(tmp) / "trl-out")
        ours = TeamLearner([model], pad_id,
                           OurGRPOConfig(lr=args.lr, kl_coef=args.kl_coef, clip_low=args.clip, clip_high=args.clip,
                                         loss_agg="token_mean", micro_batch_tokens=16384))  # one micro-batch
        import transformers
        import trl

        # Warm-up. The first update of each starts from identical weights and inputs: a correctness check
        # (losses, grad norms, and the weight updates themselves); the second has KL > 0 (the policies moved).
        init = {k: v.clone() for k, v in model.state_dict().items()}
        check: dict[str, float] = {}
        for w in range(max(args.warmup, 2)):
            mo = ours.step(samples)
            mt = trl_update.step(inputs)
            if w == 0:
                d_ours = torch.cat([(v - init[k]).double().flatten() for k, v in ours.models[0].state_dict().items()])
                d_trl = torch.cat([(v - init[k]).double().flatten() for k, v in trl_update.model.state_dict().items()])
                check = {"ours_loss": mo["loss"], "trl_loss": mt["loss"], "ours_grad_norm": mo["grad_norm"],
                         "trl_grad_norm": mt["grad_norm"], "ours_clip_frac": mo["clip_frac"],
                         "update_cosine": float(torch.nn.functional.cosine_similarity(d_ours, d_trl, dim=0)),
                         "update_max_abs_diff": float((d_ours - d_trl).abs().max()),
                         "update_max_abs": float(d_ours.abs().max())}
            if w == 1:
                check.update(ours_loss_2=mo["loss"], trl_loss_2=mt["loss"], ours_kl_2=mo["kl"])

        if args.profile:
            _profile({"ours": lambda: ours.step(samples), "trl": lambda: trl_update.step(inputs)})
            return

        t_ours, t_trl, t_trl_ref, t_trl_upd = [], [], [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            ours.step(samples)
            t_ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            mt = trl_update.step(inputs)
            t_trl.append(time.perf_counter() - t0)
            t_trl_ref.append(mt["ref_s"])
            t_trl_upd.append(mt["update_s"])

    def summary(xs: list[float]) -> dict[str, float]:
        return {"median_s": statistics.median(xs), "p90_s": _pct(xs, 0.9), "min_s": min(xs)}

    res = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
        "model": {"spec": spec.name, "params": n_params, "vocab": vocab, "hidden": spec.hidden_size,
                  "layers": spec.num_layers},
        "batch": {"sequences": len(samples), "prompts": args.prompts, "group": args.group,
                  "prompt_lens": sorted({len(p) for p in prompts}),
                  "completion_len_min_max": [min(map(len, completions)), max(map(len, completions))],
                  "completion_tokens": int(mask.sum()),
                  "ours_padded_width": max(len(p) + len(c) for p, c in zip(prompts, completions, strict=True)),
                  "trl_padded_width": inputs["prompt_ids"].size(1) + inputs["completion_ids"].size(1)},
        "check_first_update": check,
        "reps": args.reps,
        "ours": summary(t_ours),
        "trl": summary(t_trl),
        "trl_ref_forward": summary(t_trl_ref),
        "trl_loss_backward_step": summary(t_trl_upd),
        "ratio_ours_over_trl_median": statistics.median(t_ours) / statistics.median(t_trl),
        "ratio_ours_over_trl_p90": _pct(t_ours, 0.9) / _pct(t_trl, 0.9),
        # each repetition's two systems ran back to back under much the same load: the paired ratio is steadier
        "paired_ratio_ours_over_trl_median": statistics.median(a / b for a, b in zip(t_ours, t_trl, strict=True)),
        "raw": {"ours": t_ours, "trl": t_trl},
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
    }
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
