"""GRPO maths on hand-computed cases."""

import math

import pytest
import torch

from m1.train.grpo import aggregate, group_advantages, kl_k3, per_agent_advantages, policy_loss


def test_group_advantages_std_and_dr_grpo():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0])
    assert torch.allclose(group_advantages(r, epsilon=0.0), torch.tensor([1.0, -1.0, -1.0, 1.0]))
    assert torch.allclose(group_advantages(r, scale_by_std=False), torch.tensor([0.5, -0.5, -0.5, 0.5]))
    # rewards 3, 1 → mean 2, population std 1
    assert torch.allclose(group_advantages(torch.tensor([3.0, 1.0]), epsilon=0.0), torch.tensor([1.0, -1.0]))


def test_all_equal_and_singleton_groups_have_zero_advantage():
    assert torch.equal(group_advantages(torch.tensor([0.7, 0.7, 0.7])), torch.zeros(3))
    assert torch.equal(group_advantages(torch.tensor([5.0])), torch.zeros(1))


def test_advantages_are_grouped_per_question_and_agent():
    rewards = [
        ("q1", 0, 0, 1.0), ("q1", 1, 0, 0.0), ("q1", 2, 0, 1.0), ("q1", 3, 0, 0.0),  # agent 0 in all 4
        ("q1", 0, 1, 2.0), ("q1", 2, 1, 0.0),  # agent 1 dropped from rollouts 1 and 3
        ("q1", 1, 2, 9.0),  # agent 2 only once: no baseline
        ("q2", 0, 0, 5.0), ("q2", 1, 0, 5.0),  # another question: its own groups
    ]
    adv = per_agent_advantages(rewards, epsilon=0.0)
    assert [adv[("q1", g, 0)] for g in range(4)] == pytest.approx([1.0, -1.0, 1.0, -1.0])
    assert (adv[("q1", 0, 1)], adv[("q1", 2, 1)]) == pytest.approx((1.0, -1.0))
    assert adv[("q1", 1, 2)] == 0.0 and adv[("q2", 0, 0)] == adv[("q2", 1, 0)] == 0.0
    assert len(adv) == len(rewards)


def test_kl_is_zero_at_the_reference_and_positive_elsewhere():
    x = torch.tensor([-1.0, -2.5, -0.1])
    assert torch.equal(kl_k3(x, x), torch.zeros(3))
    assert kl_k3(torch.tensor([-1.0]), torch.tensor([-0.5])).item() == pytest.approx(math.exp(0.5) - 0.5 - 1)
    assert (kl_k3(torch.randn(100), torch.randn(100)) >= 0).all()


def test_loss_at_ratio_one_is_minus_mean_advantage():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -9.0, -9.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    adv = torch.tensor([1.0, -1.0])
    loss, m = policy_loss(logp, logp.detach(), adv, mask)
    assert loss.item() == pytest.approx((-1 - 1 + 1) / 3)  # token mean over 3 real tokens
    loss2, _ = policy_loss(logp, logp.detach(), adv, mask, loss_agg="seq_mean_token_mean")
    assert loss2.item() == pytest.approx(0.0)  # (-1 + 1) / 2
    loss.backward()
    # d/dlogp of -A * exp(logp - old) at ratio 1 is -A / N on real tokens, 0 on padding
    assert torch.allclose(logp.grad, torch.tensor([[-1 / 3, -1 / 3, 0.0], [1 / 3, 0.0, 0.0]]))
    assert m["clip_frac"] == 0.0 and m["ratio_mean"] == pytest.approx(1.0) and m["kl"] == 0.0


@pytest.mark.parametrize("adv, expected_loss, clipped", [(1.0, -1.2, 1.0), (-1.0, 1.5, 0.0)])
def test_ratio_clipping(adv, expected_loss, clipped):
    old = torch.tensor([[-1.0]])
    logp = old + math.log(1.5)  # ratio 1.5
    loss, m = policy_loss(logp, old, torch.tensor([adv]), torch.ones(1, 1), clip_low=0.2, clip_high=0.2)
    assert loss.item() == pytest.approx(expected_loss) and m["clip_frac"] == clipped


def test_clip_higher_lets_positive_advantages_grow_further():
    old = torch.tensor([[-1.0]])
    logp = old + math.log(1.25)
    sym, _ = policy_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 1), clip_low=0.2, clip_high=0.2)
    high, _ = policy_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 1), clip_low=0.2, clip_high=0.28)
    assert sym.item() == pytest.approx(-1.2) and high.item() == pytest.approx(-1.25)


def test_kl_term_and_its_requirements():
    logp = torch.tensor([[-1.0, -1.0]])
    ref = torch.tensor([[-0.5, -1.0]])
    loss, m = policy_loss(logp, logp, torch.tensor([0.0]), torch.ones(1, 2), ref_logp=ref, kl_coef=0.1)
    expected_kl = (math.exp(0.5) - 0.5 - 1) / 2
    assert m["kl"] == pytest.approx(expected_kl) and loss.item() == pytest.approx(0.1 * expected_kl)
    with pytest.raises(ValueError, match="needs ref_logp"):
        policy_loss(logp, logp, torch.tensor([0.0]), torch.ones(1, 2), kl_coef=0.1)
    with pytest.raises(ValueError, match="unknown loss aggregation"):
        aggregate(logp, torch.ones(1, 2), "sum")
