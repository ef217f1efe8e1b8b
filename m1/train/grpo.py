"""Multi-agent GRPO maths: group advantages per agent and the clipped policy loss with KL.

Pure functions on tensors (shapes in the docstrings); the learner calls them, Ray is elsewhere.

Where this departs from textbook GRPO (Shao et al., 2024), and why:

* **Groups are per (question, agent).** A question gets G rollouts of the *whole team*; each
  agent's reward in a rollout is its own (rewards differ between agents of one rollout). The
  advantage of agent a in rollout g is normalised over the rollouts of that question in which
  a took part — Agent Dropout leaves an agent out of some rollouts, so its group can be
  smaller than G. A group of one has no baseline: its advantage is 0.
* **All-equal groups give 0.** When every member of a group has the same reward the advantage
  is 0 (no learning signal), not NaN; with ``scale_by_std`` the std gets ``epsilon`` added.
* **Dr.GRPO option.** ``scale_by_std=False`` only subtracts the group mean (Liu et al., 2025),
  removing the bias towards low-variance groups.
* **Token-mean aggregation by default.** Every completion token in the batch weighs the same
  (DAPO, Dr.GRPO); ``seq_mean_token_mean`` gives the textbook per-sequence mean first.
* **Clip-higher option.** The ratio is clipped to ``[1 - clip_low, 1 + clip_high]``; with
  ``clip_high > clip_low`` (DAPO) low-probability tokens can grow faster.
* **KL as a loss term with the k3 estimator** ``exp(r - l) - (r - l) - 1`` (r = reference,
  l = current log-prob), which is ≥ 0 and exactly 0 where the policy equals the reference;
  ``kl_coef = 0`` drops it.
* **Old log-probs are the rollout engine's**, recorded with each completion (unwarped: see
  :mod:`m1.engines.base`), so ratio = 1 exactly on the first update after a weight sync.

What the learner's options change (:class:`m1.train.learner.TeamLearner`, ``grpo.*``):

* ``ppo_epochs = mini_batches = 1`` (the default): one optimiser step per rollout batch. The
  policy being differentiated *is* the behaviour policy, so ``ratio == 1`` on every token, the
  clip never acts and the loss is the plain policy gradient ``-A · logp`` (its gradient equals
  the surrogate's); ``clip_frac`` is 0 and ``ratio_mean`` 1 up to engine/learner numerics.
* ``ppo_epochs = E > 1`` and/or ``mini_batches = M > 1``: E passes over the batch, each shuffled
  (seeded by seed, step, agent and pass) and cut into M optimiser steps — E·M steps per batch.
  Only the first step sees ratio 1; every later one differentiates a policy that has already
  moved, so ``exp(logp - old_logp)`` drifts from 1 and the clip to ``[1 - clip_low, 1 + clip_high]``
  stops tokens whose probability already moved far enough in the advantage's direction. That is
  the trust region PPO/GRPO rely on to reuse a batch; ``clip_frac`` then measures how often it
  acted (``clip_frac_last``: on the last step). Costs E x the learner time per batch; more
  updates per rollout (rollouts are the expensive part on GPUs).
* ``marl.off_policy`` (:mod:`m1.train.marl`): step k+1's rollouts are sampled while the learner
  performs update k, i.e. by the weights of update k-1 — one update stale. ``old_logp`` is still
  what the engines recorded, so it is the *behaviour* policy's: the ratio ``exp(logp - old_logp)``
  is the importance ratio π_k / π_behaviour, no longer 1 even on the first step of a batch, and
  the clip bounds how far one stale batch can push the policy. Staleness is capped at one update
  (the next rollouts start only after the weight sync).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable

import torch


def group_advantages(rewards: torch.Tensor, scale_by_std: bool = True, epsilon: float = 1e-6) -> torch.Tensor:
    """Advantages of one group. ``rewards``: [G] → [G]; (r - mean) / (std + eps), unbiased=False."""
    if rewards.numel() < 2:
        return torch.zeros_like(rewards)
    centred = rewards - rewards.mean()
    if not scale_by_std:
        return centred
    std = rewards.std(unbiased=False)
    if float(std) == 0.0:  # all equal: no signal (and no 0/0 when epsilon is 0)
        return torch.zeros_like(rewards)
    return centred / (std + epsilon)


def per_agent_advantages(
    rewards: Iterable[tuple[Hashable, int, int, float]], scale_by_std: bool = True, epsilon: float = 1e-6
) -> dict[tuple[Hashable, int, int], float]:
    """Advantages keyed by (question, rollout, agent), grouped per (question, agent).

    ``rewards``: (question key, rollout index, agent index, reward) for every active agent of
    every rollout.
    """
    groups: dict[tuple[Hashable, int], list[tuple[int, float]]] = defaultdict(list)
    for q, g, a, r in rewards:
        groups[(q, a)].append((g, float(r)))
    out: dict[tuple[Hashable, int, int], float] = {}
    for (q, a), members in groups.items():
        adv = group_advantages(torch.tensor([r for _, r in members], dtype=torch.float64), scale_by_std, epsilon)
        for (g, _), v in zip(members, adv.tolist(), strict=True):
            out[(q, g, a)] = v
    return out


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(π || π_ref); same shape as the inputs, ≥ 0."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    m = mask.to(x.dtype)
    if dim is None:
        return (x * m).sum() / m.sum().clamp(min=1.0)
    return (x * m).sum(dim) / m.sum(dim).clamp(min=1.0)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """[B, T] per-token values → scalar, by ``token_mean`` or ``seq_mean_token_mean``."""
    if mode == "token_mean":
        return masked_mean(per_token, mask)
    if mode == "seq_mean_token_mean":
        rows = mask.any(-1)
        return masked_mean(per_token, mask, dim=-1)[rows].mean() if rows.any() else per_token.sum() * 0.0
    raise ValueError(f"unknown loss aggregation {mode!r}")


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    loss_agg: str = "token_mean",
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped surrogate (+ KL) loss to *minimise*.

    Args:
        logp: [B, T] current log-probs of the sampled completion tokens (requires grad).
        old_logp: [B, T] log-probs recorded at rollout time.
        advantages: [B] one per sequence, broadcast over its tokens.
        mask: [B, T] 1 for completion tokens, 0 for padding.
        ref_logp: [B, T] reference log-probs (needed when ``kl_coef > 0``).

    Returns the loss and metrics: ``clip_frac`` (tokens whose ratio was clipped in the direction
    that matters), ``ratio_mean``, ``kl`` (token mean of k3; 0 without a reference),
    ``pg_loss``.
    """
    if kl_coef > 0 and ref_logp is None:
        raise ValueError("kl_coef > 0 needs ref_logp")
    adv = advantages.to(logp.dtype).unsqueeze(-1)
    ratio = torch.exp(logp - old_logp)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped)
    pg = aggregate(per_token, mask, loss_agg)
    kl = aggregate(kl_k3(logp, ref_logp), mask, loss_agg) if ref_logp is not None else logp.sum() * 0.0
    loss = pg + kl_coef * kl
    with torch.no_grad():
        was_clipped = (clipped > unclipped).to(logp.dtype)
        metrics = {
            "pg_loss": float(pg),
            "kl": float(kl),
            "clip_frac": float(masked_mean(was_clipped, mask)),
            "ratio_mean": float(masked_mean(ratio, mask)),
        }
    return loss, metrics
