"""The transformers generation engine (default on CPU).

A hand-written batched sampling loop over a KV cache rather than ``model.generate``: the
sampling rule (temperature, then top-p over the sorted distribution, as vLLM does) and the
log-probs returned (unwarped, see :mod:`m1.engines.base`) are then explicit, and no generation
defaults hidden in a checkpoint (top-k 50, repetition penalty) apply. Prompts are left-padded;
position ids count real tokens only, so a padded row computes exactly what it would alone.

:func:`completion_logprobs` is the differentiable recompute the learner uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from m1.checkpoint import load_agent
from m1.engines.base import Completion, EngineError, SamplingSettings, encode_prompts, finish_completion
from m1.engines.constrain import PatternConstraint, warp


def completion_logprobs(
    model: Any, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of completion tokens under ``model`` (differentiable if grad is enabled).

    Returns ``(logprobs, mask)``, both ``[B, T]`` with ``T = max completion length``; row ``b``
    holds ``log p(completion_ids[b][t] | prompt, completion[:t])`` for ``t < len`` and 0 elsewhere
    (``mask`` is 1 where valid). Sequences are right-padded, so positions are plain ``arange``.
    """
    if len(prompt_ids) != len(completion_ids):
        raise EngineError(f"{len(prompt_ids)} prompts but {len(completion_ids)} completions")
    device = next(model.parameters()).device
    seqs = [list(p) + list(c) for p, c in zip(prompt_ids, completion_ids, strict=True)]
    width = max(len(s) for s in seqs)
    tmax = max((len(c) for c in completion_ids), default=0)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long, device=device)
    attn = torch.zeros_like(input_ids)
    for b, s in enumerate(seqs):
        input_ids[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        attn[b, : len(s)] = 1
    out = torch.zeros((len(seqs), tmax), dtype=torch.float32, device=device)
    mask = torch.zeros_like(out)
    rows = [b for b, c in enumerate(completion_ids) if c]
    if not rows:
        return out, mask
    # Only positions that predict a completion token go through the LM head (logits at position i
    # predict token i+1, so completion token t of row b is predicted at len(prompt)-1+t), and all
    # rows are gathered in one indexing op: a per-row slice would make backward materialise a
    # full-size zero gradient per row (measured: ~20% of a GRPO update on the tiny team).
    lo = min(len(prompt_ids[b]) - 1 for b in rows)
    hi = max(len(prompt_ids[b]) - 1 + len(completion_ids[b]) for b in rows)
    logits = model(input_ids=input_ids, attention_mask=attn,
                   logits_to_keep=torch.arange(lo, hi, device=device)).logits.float()
    lengths = torch.tensor([len(completion_ids[b]) for b in rows], device=device)
    b_idx = torch.tensor(rows, device=device).repeat_interleave(lengths)
    t_idx = torch.cat([torch.arange(len(completion_ids[b]), device=device) for b in rows])
    pos = torch.tensor([len(prompt_ids[b]) - 1 - lo for b in rows], device=device).repeat_interleave(lengths) + t_idx
    tokens = torch.tensor([x for b in rows for x in completion_ids[b]], dtype=torch.long, device=device)
    lp = torch.log_softmax(logits[b_idx, pos], dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    out = out.index_put((b_idx, t_idx), lp)
    mask[b_idx, t_idx] = 1
    return out, mask


def _sample(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator | None) -> torch.Tensor:
    if temperature == 0:
        return logits.argmax(-1)
    return torch.multinomial(warp(logits, temperature, top_p), 1, generator=gen).squeeze(-1)


class HFEngine:
    """Batched sampling with a transformers causal LM. Not thread-safe; one per agent/actor."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id
        self.vocab_size = int(model.config.vocab_size)
        self._gen = torch.Generator(device="cpu")
        self._gen.manual_seed(0)

    @classmethod
    def from_dir(cls, path: str | Path, dtype: str = "float32") -> HFEngine:
        model, tok = load_agent(path, dtype=dtype)
        return cls(model, tok)

    @torch.no_grad()
    def generate(self, prompts: Sequence[str | list[int]], settings: SamplingSettings) -> list[Completion]:
        ids = encode_prompts(prompts, self.tokenizer, self.vocab_size)
        if settings.seed is not None:
            self._gen.manual_seed(settings.seed)
        bsz, width = len(ids), max(len(p) for p in ids)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        if limit is not None and width + settings.max_new_tokens > limit:
            raise EngineError(f"prompt ({width}) + max_new_tokens ({settings.max_new_tokens}) exceeds context {limit}")
        input_ids = torch.full((bsz, width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((bsz, width), dtype=torch.long)
        for b, p in enumerate(ids):
            input_ids[b, width - len(p) :] = torch.tensor(p)
            attn[b, width - len(p) :] = 1
        # on a GPU the model runs there; sampling stays on the CPU with the seeded CPU generator, so a
        # seed gives the same tokens whatever the device (one [batch, vocab] copy per step)
        dev = next(self.model.parameters()).device
        input_ids, attn = input_ids.to(dev), attn.to(dev)
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        out_ids = torch.zeros((bsz, settings.max_new_tokens), dtype=torch.long)
        out_lp = torch.zeros((bsz, settings.max_new_tokens))
        done = torch.zeros(bsz, dtype=torch.bool)
        lengths = torch.full((bsz,), settings.max_new_tokens, dtype=torch.long)
        cache = None
        constraint = PatternConstraint(settings.pattern, self.tokenizer, self.eos_id) if settings.pattern else None
        step_ids, step_pos = input_ids, pos
        n = 0
        for n in range(settings.max_new_tokens):
            res = self.model(
                input_ids=step_ids, attention_mask=attn, position_ids=step_pos, past_key_values=cache, use_cache=True
            )
            cache = res.past_key_values
            logits = res.logits[:, -1, :].float().cpu()
            if constraint is None:
                tok = _sample(logits, settings.temperature, settings.top_p, self._gen)
            else:  # rows that ended (a complete match, and no EOS to end it with) stop at their length
                tok, ended = self._constrained(constraint, logits, out_ids[:, :n], done, settings)
                lengths = torch.where(ended & ~done, torch.full_like(lengths, n), lengths)
                done |= ended
            tok = torch.where(done, torch.full_like(tok, self.pad_id), tok)
            out_ids[:, n] = tok
            out_lp[:, n] = torch.log_softmax(logits, -1).gather(-1, tok.unsqueeze(-1)).squeeze(-1)
            if self.eos_id is not None:
                done |= tok == self.eos_id
            if bool(done.all()):
                break
            step_ids = tok.unsqueeze(-1).to(dev)
            step_pos = step_pos[:, -1:] + 1
            attn = torch.cat([attn, torch.ones((bsz, 1), dtype=attn.dtype, device=dev)], dim=-1)
        steps = n + 1
        return [
            finish_completion(
                ids[b],
                out_ids[b, : min(steps, int(lengths[b]))].tolist(),
                out_lp[b, : min(steps, int(lengths[b]))].tolist(),
                self.tokenizer,
                self.eos_id,
                settings.stop,
            )
            for b in range(bsz)
        ]

    def _constrained(self, constraint: PatternConstraint, logits: torch.Tensor, prefix: torch.Tensor,
                     done: torch.Tensor, settings: SamplingSettings) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of :mod:`m1.engines.constrain` decoding: each live row's next token, and which
        rows ended without a token."""
        tok = torch.full((logits.shape[0],), self.pad_id, dtype=torch.long)
        ended = torch.zeros_like(done)
        for b in range(logits.shape[0]):
            if done[b]:
                continue
            t = constraint.choose(logits[b], prefix[b].tolist(), settings.temperature, settings.top_p, self._gen)
            if t is None:
                ended[b] = True
            else:
                tok[b] = t
        return tok, ended

    @torch.no_grad()
    def compute_logprobs(
        self, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]]
    ) -> list[list[float]]:
        lp, _ = completion_logprobs(self.model, prompt_ids, completion_ids, self.pad_id)
        return [lp[b, : len(c)].tolist() for b, c in enumerate(completion_ids)]

    @torch.no_grad()
    def update_weights(self, state: dict[str, Any]) -> None:
        """Copy ``state`` (HF names, a subset is fine) into the model in place."""
        own = self.model.state_dict()
        unknown = sorted(k for k in state if k not in own)
        if unknown:
            raise EngineError(f"update_weights: unknown parameter names {unknown[:5]}")
        for name, value in state.items():
            target = own[name]
            if tuple(value.shape) != tuple(target.shape):
                raise EngineError(
                    f"update_weights: {name} has shape {tuple(value.shape)}, expected {tuple(target.shape)}"
                )
            target.copy_(value.to(dtype=target.dtype, device=target.device))
