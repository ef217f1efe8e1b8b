"""Constrained decoding: a completion whose text must match a regular expression.

A :class:`~m1.engines.base.SamplingSettings` with ``pattern`` set asks every engine for a
completion whose text, as the project tokenizer decodes it, *fully* matches the pattern. The
episode uses it for answers (:func:`m1.team.answers.answer_pattern`): an option letter, a value of
the task's form, or the label of an evidence line that shows a candidate — so an agent can no
longer cite a line that is not in its prompt (measured: tiny SFT students cited ``a0.2`` where the
candidate sat on ``a0.1``; ``benchmarks/pipeline.md``).

The ``hf`` engine applies :class:`PatternConstraint` token by token; ``vllm`` hands the pattern to
vLLM's structured outputs and the endpoint engine sends it as ``structured_outputs`` (vLLM's
OpenAI-compatible server). Sampling is exact: a token drawn from the (temperature, top-p) warped
distribution that would leave no way to complete a match is removed and the draw repeated, which
samples the warped distribution restricted to the allowed tokens. Log-probs stay unwarped and
unrestricted (:mod:`m1.engines.base`): the learner recomputes exactly them, and the restriction is
an off-policy gap of the same kind as top-p's. (vLLM reports log-probs after the grammar's mask, so
the ``vllm`` engine recomputes a constrained completion's log-probs with a prefill.)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import regex
import torch


class ConstraintError(RuntimeError):
    """No token can continue the completion towards a match of the pattern."""


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern:
    try:
        return regex.compile(pattern)
    except regex.error as e:
        raise ConstraintError(f"bad completion pattern {pattern!r}: {e}") from None


class PatternConstraint:
    """Which next tokens keep a completion on the way to a full match of ``pattern``."""

    REJECTIONS = 32  # sampled draws rejected before the allowed set is computed outright
    UNDERFLOW = 60.0  # logit gap (x temperature) below which an allowed token is not worth drawing

    def __init__(self, pattern: str, tokenizer: Any, eos_id: int | None):
        self.pattern = pattern
        self.rx = _compiled(pattern)
        self.tokenizer = tokenizer
        self.eos_id = eos_id

    def _text(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def complete(self, ids: Sequence[int]) -> bool:
        """The text of ``ids`` matches the pattern as a whole."""
        return self.rx.fullmatch(self._text(ids)) is not None

    def allows(self, prefix: Sequence[int], token: int) -> bool:
        """``token`` may follow ``prefix``: EOS only after a complete match, any other token only if
        the text it makes can still be extended to a match."""
        if token == self.eos_id:
            return self.complete(prefix)
        return self.rx.fullmatch(self._text([*prefix, token]), partial=True) is not None

    def choose(self, logits: torch.Tensor, prefix: Sequence[int], temperature: float, top_p: float,
               gen: torch.Generator | None) -> int | None:
        """The next token for one row (``logits``: ``[vocab]``, raw), or ``None`` when the text is a
        complete match that nothing may extend and there is no EOS to end it with."""
        if temperature == 0:
            for tok in logits.argsort(descending=True).tolist():
                if self.allows(prefix, tok):
                    return tok
            return self._nothing(prefix)
        probs = warp(logits, temperature, top_p)
        for _ in range(self.REJECTIONS):
            if float(probs.sum()) <= 0:
                break
            tok = int(torch.multinomial(probs, 1, generator=gen))
            if self.allows(prefix, tok):
                return tok
            probs[tok] = 0.0
        # many rejections: compute the allowed set among the tokens that can still be drawn; a
        # top-p cut that leaves none falls back to the whole distribution at that temperature
        for dist in (probs, warp(logits, temperature, 1.0)):
            live = torch.nonzero(dist > 0).squeeze(-1).tolist()
            mask = torch.zeros_like(dist)
            for tok in live:
                if self.allows(prefix, tok):
                    mask[tok] = 1.0
            if float((dist * mask).sum()) > 0:
                return int(torch.multinomial(dist * mask, 1, generator=gen))
        # every allowed token's probability rounds to zero next to the model's favourite (a logit
        # gap of ~100 in float32): draw among the allowed tokens by their own logits. Tokens more
        # than UNDERFLOW * temperature below the best allowed one weigh < e^-60 and are not scanned.
        allowed: list[int] = []
        for tok in logits.argsort(descending=True).tolist():
            if allowed and float(logits[tok]) < float(logits[allowed[0]]) - self.UNDERFLOW * temperature:
                break
            if self.allows(prefix, tok):
                allowed.append(tok)
        if allowed:
            sub = torch.softmax(logits[allowed].double() / temperature, dim=-1)
            return allowed[int(torch.multinomial(sub, 1, generator=gen))]
        return self._nothing(prefix)

    def _nothing(self, prefix: Sequence[int]) -> None:
        if self.complete(prefix):
            return None
        raise ConstraintError(f"no token continues {self._text(prefix)!r} towards a match of {self.pattern!r}")


def warp(logits: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """Sampling probabilities at ``temperature`` (> 0) with a nucleus cut at ``top_p`` (the top
    token always survives), as vLLM computes them; works on ``[vocab]`` or ``[batch, vocab]``."""
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        drop = (sorted_p.cumsum(-1) - sorted_p) >= top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return probs
