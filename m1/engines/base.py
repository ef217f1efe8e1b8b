"""The generation-engine protocol shared by the ``hf`` and ``vllm`` engines, and the completion
post-processing both use so that their outputs mean exactly the same thing.

**Which log-probabilities.** Every engine returns, for each completion token, ``log p(token |
prefix)`` under the *unwarped* policy: log-softmax of the raw logits (temperature 1, no top-p),
whatever temperature/top-p were used to *sample*. This is vLLM's default ``raw_logprobs`` mode and
exactly what the learner recomputes with a plain forward pass (:meth:`Generator.compute_logprobs`),
so GRPO's ratio ``π_θ / π_old`` compares like with like. When sampling at temperature ≠ 1 or
top-p < 1 the samples come from the warped distribution; that (small, standard) off-policy gap is
accepted, as in verl and OpenRLHF.

**Stops.** A completion ends at the first EOS token (kept in ``completion_ids`` with its
log-prob, since the policy sampled it; not in ``text``) or at the first stop string: ``completion_ids``
keep the tokens up to and including the one that completes the stop string, ``text`` ends just
before the stop string. Both engines apply :func:`finish_completion` with the project tokenizer, so
they cut identically even if vLLM's own detokenizer differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from m1.checkpoint import apply_prompt_template
from m1.config.sampling import SamplingConfig


class EngineError(RuntimeError):
    """An engine could not start, or was asked something it cannot do (bad ids, unknown weights)."""


class Completion(BaseModel):
    """One sampled sequence. ``logprobs[i]`` is the unwarped log-prob of ``completion_ids[i]``."""

    model_config = ConfigDict(extra="forbid")

    prompt_ids: list[int]
    completion_ids: list[int]
    text: str
    logprobs: list[float]
    finish_reason: Literal["stop", "length"] = Field(description="stop: EOS or a stop string; length: max tokens.")


class SamplingSettings(SamplingConfig):
    """One generation request's settings: a configured :class:`~m1.config.SamplingConfig`
    (``sampling.train`` or ``sampling.eval``: temperature, top-p) plus what each call sets."""

    max_new_tokens: int = Field(128, ge=1, description="Completion length limit.")
    stop: list[str] = Field(default_factory=list, description="Stop strings (see the module docstring).")
    seed: int | None = Field(None, description="Seed for this call; None continues the engine's stream.")
    pattern: str | None = Field(
        None, description="A regular expression the completion's text must match as a whole (constrained "
        "decoding, :mod:`m1.engines.constrain`); None: free text.",
    )

    @classmethod
    def from_config(cls, sampling: SamplingConfig, **per_call: Any) -> SamplingSettings:
        """``sampling``'s temperature and top-p with this call's ``max_new_tokens``/``stop``/``seed``."""
        return cls(**{**sampling.model_dump(include=set(SamplingConfig.model_fields)), **per_call})


@runtime_checkable
class Generator(Protocol):
    """What a policy agent needs from an engine."""

    def generate(self, prompts: Sequence[str | list[int]], settings: SamplingSettings) -> list[Completion]:
        """Sample one completion per prompt (a string is encoded with the agent's tokenizer and
        prompt template, :func:`m1.checkpoint.apply_prompt_template`)."""
        ...

    def compute_logprobs(
        self, prompt_ids: Sequence[list[int]], completion_ids: Sequence[list[int]]
    ) -> list[list[float]]:
        """Unwarped log-probs of each completion token given its prompt (the learner's recompute)."""
        ...

    def update_weights(self, state: dict[str, Any]) -> None:
        """Load new weights (HF parameter names) into the running engine, in place."""
        ...


def finish_completion(
    prompt_ids: list[int],
    ids: Sequence[int],
    logprobs: Sequence[float],
    tokenizer: Any,
    eos_id: int | None,
    stop: Sequence[str] = (),
) -> Completion:
    """Cut raw sampled ``ids``/``logprobs`` at EOS or the first stop string (rule in module doc)."""
    ids, logprobs = list(ids), list(logprobs)
    if len(ids) != len(logprobs):
        raise EngineError(f"{len(ids)} ids but {len(logprobs)} logprobs")
    reason: Literal["stop", "length"] = "length"
    if eos_id is not None and eos_id in ids:
        cut = ids.index(eos_id) + 1
        ids, logprobs, reason = ids[:cut], logprobs[:cut], "stop"

    def decode(part: list[int]) -> str:
        return tokenizer.decode([t for t in part if t != eos_id], skip_special_tokens=False)

    text = decode(ids)
    stops = [s for s in stop if s]
    if stops and any(s in text for s in stops):
        for end in range(1, len(ids) + 1):  # the shortest prefix whose text holds a stop string
            prefix = decode(ids[:end])
            hits = [prefix.index(s) for s in stops if s in prefix]
            if hits:
                return Completion(
                    prompt_ids=list(prompt_ids),
                    completion_ids=ids[:end],
                    text=prefix[: min(hits)],
                    logprobs=logprobs[:end],
                    finish_reason="stop",
                )
    return Completion(
        prompt_ids=list(prompt_ids), completion_ids=ids, text=text, logprobs=logprobs, finish_reason=reason
    )


def encode_prompts(prompts: Sequence[str | list[int]], tokenizer: Any, vocab_size: int) -> list[list[int]]:
    """Token ids of every prompt (a string goes through :func:`m1.checkpoint.apply_prompt_template`,
    the model's chat template or the project's base template); ids given directly are range-checked."""
    out: list[list[int]] = []
    for i, p in enumerate(prompts):
        ids = apply_prompt_template(tokenizer, p) if isinstance(p, str) else [int(t) for t in p]
        if not ids:
            raise EngineError(f"prompt {i} is empty")
        bad = [t for t in ids if not 0 <= t < vocab_size]
        if bad:
            raise EngineError(f"prompt {i} has token ids outside [0, {vocab_size}): {bad[:5]}")
        out.append(ids)
    return out
