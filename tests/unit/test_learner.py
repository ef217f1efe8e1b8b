"""The GRPO learner: samples from rollout groups, updates of every agent, weight sync, exact resume."""

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, MC, RecordingTools, ScriptedTeam, fixed  # noqa: E402

from m1.config import GRPOConfig, RewardConfig  # noqa: E402
from m1.config.team import AgentSpec  # noqa: E402
from m1.team.cpp import run_episode  # noqa: E402
from m1.team.topology import complete_topology  # noqa: E402
from m1.train.learner import Sample, TeamLearner, build_samples, pack_micro_batches  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    from m1.checkpoint import train_tokenizer

    return train_tokenizer(["1. fine_browser {}", "KEEP", "DONE", "answer B", "#plan Q: What colour?"] * 20, 300)


def tiny_models(tokenizer, seed=0):
    from m1.models import build_model

    specs = [AgentSpec(name="a", arch="qwen2", hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1,
                       head_dim=16, intermediate_size=64, max_context=128),
             AgentSpec(name="b", arch="qwen3", hidden_size=48, num_layers=2, num_heads=2, num_kv_heads=1,
                       head_dim=16, intermediate_size=64, max_context=128)]
    return [build_model(s, tokenizer, seed=seed + i) for i, s in enumerate(specs)]


def samples(tokenizer, n=4):
    out = []
    for i in range(n):
        for agent in (0, 1):
            p = tokenizer(f"#plan Q: What colour {i}?", add_special_tokens=False)["input_ids"]
            c = tokenizer(["KEEP", "DONE", "answer B", "1. fine_browser {}"][i % 4],
                          add_special_tokens=False)["input_ids"]
            out.append(Sample(agent, p, c, [-3.0] * len(c), advantage=1.0 if i % 2 else -1.0))
    return out


def test_build_samples_groups_per_agent_and_drops_zero_advantages():
    good = fixed('1. fine_browser {}', "B")
    bad = fixed('1. fine_browser {}', "C")
    # rollouts of one question: agent 0 right in rollout 0, wrong in rollout 1; agent 1 always right
    group = [run_episode(MC, ScriptedTeam(s), RecordingTools(), complete_topology(2), CATALOGUE, seed=g)
             for g, s in enumerate([[good, good], [bad, good]])]
    smp, rewards = build_samples([group], RewardConfig(outcome="agent"), GRPOConfig(kl_coef=0.0))
    assert {s.agent for s in smp} == {0}  # agent 1's rewards are equal in its group → advantage 0, dropped
    advs = sorted({s.advantage for s in smp})
    assert advs == pytest.approx([-1.0, 1.0], abs=1e-4)
    # every turn of the trajectory is a sample: plan, one revision, answer — per rollout
    assert len(smp) == 6 and all(len(s.old_logprobs) == len(s.completion_ids) for s in smp)
    assert rewards[group[0].episode_id][0].total > rewards[group[1].episode_id][0].total
    with_kl, _ = build_samples([group], RewardConfig(outcome="agent"), GRPOConfig(kl_coef=0.1))
    assert len(with_kl) == 12


def test_every_agent_changes_after_a_step(tokenizer):
    learner = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, GRPOConfig(lr=1e-3, kl_coef=0.05))
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in learner.models]
    m = learner.step(samples(tokenizer))
    # the step reports the process's peak resident set in GB (1e9 bytes): the kernel's high-water mark
    hwm_gb = int(next(x for x in open("/proc/self/status") if x.startswith("VmHWM:")).split()[1]) * 1024 / 1e9
    assert abs(m["peak_rss_gb"] - hwm_gb) <= 0.005 * hwm_gb and ("peak_cuda_gb" in m) == torch.cuda.is_available()
    for b, model in zip(before, learner.models, strict=True):
        changed = [k for k, v in model.state_dict().items() if not torch.equal(v, b[k])]
        assert len(changed) > 0.8 * len(b)
    assert {"agent0/loss", "agent1/loss", "loss", "kl", "clip_frac"} <= set(m) and learner.steps == 1
    # the frozen reference did not move
    assert all(torch.equal(r.state_dict()[k], before[0][k]) for r in learner.refs[:1] for k in before[0])


def test_weight_sync_reaches_the_engine(tokenizer):
    from m1.engines.hf import HFEngine

    models = tiny_models(tokenizer)
    engine_models = tiny_models(tokenizer)
    learner = TeamLearner(models, tokenizer.pad_token_id, GRPOConfig(lr=1e-2, kl_coef=0.0))
    learner.step(samples(tokenizer))
    engine = HFEngine(engine_models[1], tokenizer)
    p, c = [[5, 6, 7]], [[8, 9]]
    before = engine.compute_logprobs(p, c)
    engine.update_weights(learner.weights(1))
    after = engine.compute_logprobs(p, c)
    learner.models[1].eval()
    with torch.no_grad():
        from m1.engines.hf import completion_logprobs

        want, _ = completion_logprobs(learner.models[1], p, c, tokenizer.pad_token_id)
    assert before != after and after[0] == pytest.approx(want[0, :2].tolist(), abs=1e-6)


def test_resume_gives_the_same_steps_as_an_uninterrupted_run(tokenizer, tmp_path):
    cfg = GRPOConfig(lr=1e-3, kl_coef=0.05)
    batches = [samples(tokenizer, 4), samples(tokenizer, 2), samples(tokenizer, 3)]
    straight = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, cfg, seed=3)
    for b in batches:
        straight.step(b)
    first = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, cfg, seed=3)
    first.step(batches[0])
    first.save(tmp_path / "ckpt")
    resumed = TeamLearner(tiny_models(tokenizer, seed=99), tokenizer.pad_token_id, cfg, seed=7)
    resumed.load(tmp_path / "ckpt")
    for b in batches[1:]:
        resumed.step(b)
    assert resumed.steps == straight.steps == 3
    for a, b in zip(straight.models, resumed.models, strict=True):
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_lora_learner_trains_adapters_and_exports_merged_hf_weights(tokenizer):
    from peft import LoraConfig, get_peft_model

    base = tiny_models(tokenizer)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    peft_models = [get_peft_model(m, lora) for m in tiny_models(tokenizer)]
    learner = TeamLearner(peft_models, tokenizer.pad_token_id, GRPOConfig(lr=1e-2, kl_coef=0.0))
    learner.step(samples(tokenizer))
    w = learner.weights(0)
    assert set(w) == set(base[0].state_dict())  # plain HF names, no adapter tensors
    base[0].load_state_dict(w)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        learner.models[0].eval()
        assert torch.allclose(base[0](ids).logits, learner.models[0](ids).logits, atol=1e-5)


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean"])
def test_micro_batches_accumulate_to_the_full_batch_update(tokenizer, agg):
    batch = samples(tokenizer, 16)  # ~160 tokens per agent: several 64-token micro-batches
    whole = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id,
                        GRPOConfig(lr=1e-3, kl_coef=0.05, loss_agg=agg, micro_batch_tokens=100000))
    parts = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id,
                        GRPOConfig(lr=1e-3, kl_coef=0.05, loss_agg=agg, micro_batch_tokens=64))
    mw, mp = whole.step(batch), parts.step(batch)
    assert mw["agent0/micro_batches"] == 1 and mp["agent0/micro_batches"] > 1
    assert mp["agent0/loss"] == pytest.approx(mw["agent0/loss"], abs=1e-6)
    assert mp["agent0/grad_norm"] == pytest.approx(mw["agent0/grad_norm"], rel=1e-4)
    # Adam's first moment after one step is 0.1 x the gradient: the accumulated gradients agree
    # (comparing parameters instead would amplify float noise in near-zero gradients to +-lr)
    for oa, ob in zip(whole.opts, parts.opts, strict=True):
        for pa, pb in zip(oa.param_groups[0]["params"], ob.param_groups[0]["params"], strict=True):
            ga, gb = oa.state[pa]["exp_avg"], ob.state[pb]["exp_avg"]
            assert torch.allclose(ga, gb, rtol=1e-4, atol=1e-9)


def test_micro_batches_are_bounded_by_their_padded_size_and_keep_every_sample():
    """The budget bounds the tensor the learner builds (rows x the longest sequence), not the unpadded
    sum; sorting puts like lengths together; nothing is lost, repeated or cut nondeterministically."""
    lengths = [(300, 20), (40, 4), (620, 8), (45, 5), (300, 19), (700, 24), (44, 6), (80, 2), (1500, 10)]
    smp = [Sample(i % 2, [5] * p, [6] * c, [-1.0] * c, 1.0) for i, (p, c) in enumerate(lengths)]
    chunks = pack_micro_batches(smp, 1024)
    assert sorted(map(id, (s for c in chunks for s in c))) == sorted(map(id, smp))
    for c in chunks:
        width = max(len(s.prompt_ids) + len(s.completion_ids) for s in c)
        assert len(c) * width <= 1024 or len(c) == 1  # a sequence over the budget goes alone
    # longest first; ties keep their order (the two 50-token samples: index 3 before index 6)
    assert [[len(s.prompt_ids) for s in c] for c in chunks] == [[1500], [700], [620], [300, 300, 80], [45, 44, 40]]
    assert pack_micro_batches(smp, 1024) == chunks
    assert pack_micro_batches([], 1024) == []


@pytest.mark.parametrize("threads, expected", [(1, 1), (2, 2), (None, min(8, os.cpu_count() or 1))])
def test_learner_actor_body_sets_its_torch_threads(tmp_path, tokenizer, threads, expected):
    """``ray.learner_threads``: the learner may use every core (the MARL loop is synchronous)."""
    from actors.learner import LearnerHost
    from m1.checkpoint import save_agent

    dirs = [str(save_agent(m, tokenizer, tmp_path / f"agent{i}")) for i, m in enumerate(tiny_models(tokenizer))]
    before = torch.get_num_threads()
    try:
        host = LearnerHost(dirs, GRPOConfig(), None, seed=0, threads=threads)
        assert torch.get_num_threads() == expected and host.steps() == 0
    finally:
        torch.set_num_threads(before)


def _on_policy(learner, tokenizer, batch):
    """``batch`` with old log-probs set to the learner's own (what a synced engine records): ratio 1."""
    from m1.engines.hf import completion_logprobs

    out = []
    for s in batch:
        with torch.no_grad():
            lp, _ = completion_logprobs(learner.models[s.agent], [s.prompt_ids], [s.completion_ids],
                                        tokenizer.pad_token_id)
        out.append(Sample(s.agent, s.prompt_ids, s.completion_ids, lp[0, :len(s.completion_ids)].tolist(),
                          s.advantage))
    return out


def _hand_ratio_and_clip(model, batch, pad, clip):
    """Token-mean ratio exp(logp - old) and the fraction of tokens the clip acts on (ratio > 1 + clip
    with a positive advantage, < 1 - clip with a negative one), written out without policy_loss."""
    from m1.engines.hf import completion_logprobs

    ratios, clipped = [], []
    with torch.no_grad():
        for s in batch:
            lp, _ = completion_logprobs(model, [s.prompt_ids], [s.completion_ids], pad)
            for new, old in zip(lp[0, :len(s.completion_ids)].tolist(), s.old_logprobs, strict=True):
                r = float(torch.exp(torch.tensor(new - old, dtype=torch.float32)))
                ratios.append(r)
                clipped.append((s.advantage > 0 and r > 1 + clip) or (s.advantage < 0 and r < 1 - clip))
    return sum(ratios) / len(ratios), sum(clipped) / len(clipped)


def test_ppo_epochs_second_pass_ratio_and_clip_match_a_hand_computation(tokenizer):
    clip = 0.02
    one = GRPOConfig(lr=2e-2, kl_coef=0.0, clip_low=clip, clip_high=clip)
    two = one.model_copy(update={"ppo_epochs": 2})
    learner = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, two, seed=1)
    batch = _on_policy(learner, tokenizer, samples(tokenizer, 4))
    m = learner.step(batch)
    first, second = learner.updates[0]
    assert m["agent0/opt_steps"] == 2 and (first["epoch"], second["epoch"]) == (0, 1)
    # pass 1: the policy that sampled is the one updated, the ratio is exactly 1 and nothing is clipped
    assert first["ratio_mean"] == pytest.approx(1.0, abs=1e-6) and first["clip_frac"] == 0.0
    # pass 2 sees the weights after one step: the same step taken alone (ppo_epochs=1) gives them
    alone = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, one, seed=1)
    alone.step(batch)
    mine = [s for s in batch if s.agent == 0]
    ratio, frac = _hand_ratio_and_clip(alone.models[0], mine, tokenizer.pad_token_id, clip)
    assert ratio != pytest.approx(1.0, abs=1e-4) and 0.0 < frac
    assert second["ratio_mean"] == pytest.approx(ratio, abs=1e-5)
    assert second["clip_frac"] == pytest.approx(frac, abs=1e-6)
    assert m["agent0/ratio_last"] == second["ratio_mean"] and m["agent0/clip_frac_last"] == second["clip_frac"]


def test_mini_batches_partition_each_pass_into_seeded_optimiser_steps(tokenizer):
    cfg = GRPOConfig(lr=1e-2, kl_coef=0.0, ppo_epochs=2, mini_batches=3)
    learner = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, cfg, seed=5)
    batch = _on_policy(learner, tokenizer, samples(tokenizer, 8))
    mine = [s for s in batch if s.agent == 1]
    parts = learner.mini_batches(mine, 1, 0)
    assert [len(p) for p in parts] == [3, 2, 3]
    assert sorted(id(s) for p in parts for s in p) == sorted(id(s) for s in mine)  # a partition
    assert [id(s) for p in parts for s in p] != [id(s) for s in mine]                # shuffled
    assert [[id(s) for s in p] for p in learner.mini_batches(mine, 1, 0)] == [[id(s) for s in p] for p in parts]
    assert [[id(s) for s in p] for p in learner.mini_batches(mine, 1, 1)] != [[id(s) for s in p] for p in parts]
    learner.step(batch)
    ups = learner.updates[1]
    assert len(ups) == 6 and [u["samples"] for u in ups[:3]] == [3, 2, 3]
    # only the first optimiser step sees the sampling policy; the later mini-batches are off it
    assert ups[0]["ratio_mean"] == pytest.approx(1.0, abs=1e-6)
    assert all(u["ratio_mean"] != pytest.approx(1.0, abs=1e-5) for u in ups[1:])


@pytest.mark.parametrize("epochs,minis", [(2, 2)])
def test_resume_is_exact_with_ppo_epochs_and_mini_batches(tokenizer, tmp_path, epochs, minis):
    cfg = GRPOConfig(lr=1e-3, kl_coef=0.05, ppo_epochs=epochs, mini_batches=minis)
    batches = [samples(tokenizer, 4), samples(tokenizer, 3), samples(tokenizer, 5)]
    straight = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, cfg, seed=3)
    for b in batches:
        straight.step(b)
    first = TeamLearner(tiny_models(tokenizer), tokenizer.pad_token_id, cfg, seed=3)
    first.step(batches[0])
    first.save(tmp_path / "ckpt")
    resumed = TeamLearner(tiny_models(tokenizer, seed=99), tokenizer.pad_token_id, cfg, seed=7)  # seed from ckpt
    resumed.load(tmp_path / "ckpt")
    for b in batches[1:]:
        resumed.step(b)
    for a, b in zip(straight.models, resumed.models, strict=True):
        assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())


def test_native_weight_source_names_are_the_hf_checkpoint_names(tokenizer):
    """What the native transfer streams (actors/weight_sync.py) is named as vLLM's loader expects: the
    plain HF names of the state dict, for a full model and for a merged LoRA model."""
    from peft import LoraConfig, get_peft_model

    from actors.weight_sync import hf_named_tensors

    plain = tiny_models(tokenizer)[1]
    names = [n for n, _ in hf_named_tensors(plain)]
    assert set(names) <= set(plain.state_dict()) and "model.layers.0.self_attn.q_proj.weight" in names
    lora = get_peft_model(tiny_models(tokenizer)[1], LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"]))
    lora.merge_adapter()
    merged = dict(hf_named_tensors(lora))
    lora.unmerge_adapter()
    assert list(merged) == names  # same names, same order: no adapter tensors, no peft prefixes
    assert all(merged[n].shape == t.shape for n, t in hf_named_tensors(plain))


def test_agents_with_different_tokenizers_pad_with_their_own_ids(tokenizer, tmp_path):
    """A mixed team (e.g. Gemma's 262k vocabulary beside the project's tokenizer): each agent's
    micro-batches are padded with the pad id of *its* tokenizer. With one id for all (the last
    agent's), the project-tokenizer agent got an id outside its vocabulary and the step failed."""
    import copy

    from m1.checkpoint import save_agent

    small = tiny_models(tokenizer)[0]  # vocabulary len(tokenizer)
    big_tok = copy.deepcopy(tokenizer)
    big_tok.add_special_tokens({"pad_token": "<|other_pad|>"})  # a pad id past the small vocabulary
    assert big_tok.pad_token_id >= len(tokenizer)
    from m1.models import build_model

    big = build_model(AgentSpec(name="big", arch="qwen3", hidden_size=48, num_layers=1, num_heads=2, num_kv_heads=1,
                                head_dim=16, intermediate_size=64, max_context=128), big_tok, seed=1)
    dirs = [save_agent(small, tokenizer, tmp_path / "small"), save_agent(big, big_tok, tmp_path / "big")]
    learner = TeamLearner.from_dirs(dirs, GRPOConfig(lr=1e-2, kl_coef=0.05))
    before = [{k: v.clone() for k, v in m.state_dict().items()} for m in learner.models]
    smp = samples(tokenizer)  # prompts/completions of different lengths: every micro-batch is padded
    assert len({len(s.prompt_ids) + len(s.completion_ids) for s in smp if s.agent == 0}) > 1
    m = learner.step(smp)  # before the fix: IndexError in agent 0's embedding (pad id 300 of 300 rows)
    assert learner.pad_ids == [tokenizer.pad_token_id, big_tok.pad_token_id]
    assert {"agent0/loss", "agent1/loss"} <= set(m)
    for b, model in zip(before, learner.models, strict=True):
        assert any(not torch.equal(v, b[k]) for k, v in model.state_dict().items())
    # one shared id outside an agent's vocabulary is refused up front, naming the agent
    with pytest.raises(ValueError, match="agent 0: pad id"):
        TeamLearner(tiny_models(tokenizer), big_tok.pad_token_id, GRPOConfig(lr=1e-2))
    with pytest.raises(ValueError, match="1 pad ids for 2 models"):
        TeamLearner(tiny_models(tokenizer), [tokenizer.pad_token_id], GRPOConfig(lr=1e-2))
