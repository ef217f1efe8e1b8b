"""The SFT loop on a tiny model: prompt masking, one step changes parameters, batching by token
budget, the lr schedule, exact resume (full and LoRA), LoRA merge equivalence, export, held-out
questions and early stopping at a validation plateau."""

import json

import pytest
import torch

from m1.checkpoint import load_agent, save_agent, train_tokenizer
from m1.config import AgentSpec, SFTConfig
from m1.models import build_model
from m1.train.sft import (
    IGNORE,
    SFTError,
    SFTTrainer,
    collate,
    hold_out_questions,
    lr_factor,
    plan_batches,
    plot_losses,
    sft_loss,
    tokenize_dataset,
    tokenize_example,
    train_agent,
)

SPEC = AgentSpec(name="tiny", arch="qwen2", hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16,
                 intermediate_size=64, max_context=256)
PAIRS = [
    ("#plan\nQ: How many red squares?\nPlan:\n", '1. rough_browser {}\n2. fine_browser {}'),
    ("#plan\nQ: When does the blue circle move left?\nPlan:\n", "1. grounding {}"),
    ("#answer\nQ: How many?\n[a0.1] fine_browser: 3 squares candidate=B conf=0.90\nAnswer:\n", "B"),
    ("#revise\nPlan:\n2. fine_browser {}\nResults:\nNext: 2\n", "KEEP"),
    ("#answer\nQ: Where?\n[a1.1] spatial: left candidate=A conf=0.70\nAnswer:\n", "A"),
    ("#plan\nQ: At 3.0 s, which is closest to the red square?\nPlan:\n", "1. spatial {}"),
]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer([p + t for p, t in PAIRS] * 3, vocab_size=300)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, tok):
    torch.set_num_threads(1)
    return save_agent(build_model(SPEC, tok, seed=1), tok, tmp_path_factory.mktemp("base") / "tiny")


def cfg(**kw):
    base = dict(lr=5e-3, warmup_steps=2, batch_tokens=256, max_batch_rows=3, epochs=4, checkpoint_every=3,
                log_every=1, use_ray=False)
    return SFTConfig(**{**base, **kw})


def data(tok):
    return tokenize_dataset(PAIRS, tok, 256)[0]


def test_tokenize_masks_the_prompt_and_appends_eos(tok):
    p, t = PAIRS[2]
    ex = tokenize_example(p, t, tok)
    n_prompt = len(tok(p, add_special_tokens=False)["input_ids"])
    assert ex.labels[:n_prompt] == [IGNORE] * n_prompt
    assert ex.labels[n_prompt:] == ex.input_ids[n_prompt:]
    assert ex.input_ids[-1] == tok.eos_token_id and tok.decode(ex.input_ids[n_prompt:-1]) == "B"
    assert ex.target_tokens == len(ex.input_ids) - n_prompt


def test_loss_ignores_prompt_tokens(tok):
    """The gradient of the loss w.r.t. the logits is zero at every position that predicts a prompt
    token (or padding), and the loss equals the hand-computed mean CE over target tokens."""
    batch = collate(data(tok)[:3], tok.pad_token_id)
    vocab = len(tok)
    logits = torch.randn(*batch["input_ids"].shape, vocab, requires_grad=True)

    class Fixed:  # a "model" whose logits we can differentiate directly (HF's logits_to_keep semantics)
        def __call__(self, input_ids, attention_mask, logits_to_keep):
            return type("Out", (), {"logits": logits[:, logits_to_keep]})()

    loss, n = sft_loss(Fixed(), batch)
    loss.backward()
    labels = batch["labels"]
    predicts_target = torch.zeros_like(labels, dtype=torch.bool)
    predicts_target[:, :-1] = labels[:, 1:] != IGNORE
    grad_norm = logits.grad.abs().sum(-1)
    assert torch.all(grad_norm[~predicts_target] == 0)
    assert torch.all(grad_norm[predicts_target] > 0)
    manual, count = 0.0, 0
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            if labels[b, t + 1] != IGNORE:
                manual -= torch.log_softmax(logits[b, t].detach(), -1)[labels[b, t + 1]].item()
                count += 1
    assert n == count and loss.item() == pytest.approx(manual / count, rel=1e-5)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_one_step_changes_the_trained_parameters(tok, base_dir, tmp_path, mode):
    model, _ = load_agent(base_dir)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    tr = SFTTrainer(model, tok, data(tok), cfg(mode=mode, max_steps=1), tmp_path)
    tr.train()
    after = dict(tr.model.named_parameters())
    if mode == "full":
        changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
        assert len(changed) == len(before)  # every tensor moved (weight decay alone moves them all)
    else:
        lora_b = [v for k, v in after.items() if "lora_B" in k]
        assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # B starts at zero
        base = tr.model.get_base_model().state_dict()
        frozen = [k for k in before if k in base and "lora" not in k]
        assert frozen and all(torch.equal(base[k], before[k]) for k in frozen)


def test_plan_batches_respect_the_budget_and_cover_each_epoch():
    lengths = [10, 50, 30, 80, 20, 60, 40, 70, 90, 15]
    plan = plan_batches(lengths, batch_tokens=160, max_rows=3, seed=4, epochs=2)
    for b in plan:
        assert max(lengths[i] for i in b) * len(b) <= 160 and len(b) <= 3
    seen = [i for b in plan for i in b]
    assert sorted(seen) == sorted(list(range(10)) * 2)
    assert plan == plan_batches(lengths, 160, 3, 4, 2)  # deterministic
    assert plan != plan_batches(lengths, 160, 3, 5, 2)
    half = plan_batches(lengths, 160, 3, 4, 1.5)
    assert len(plan) > len(half) > len(plan_batches(lengths, 160, 3, 4, 1))
    with pytest.raises(SFTError, match="longer than"):
        plan_batches([500], 160, 3, 0, 1)
    with pytest.raises(SFTError, match="no training examples"):
        plan_batches([], 160, 3, 0, 1)


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    assert [lr_factor(s, 10, 2, 0.1) for s in (0, 1)] == [0.5, 1.0]
    assert lr_factor(2, 10, 2, 0.1) == pytest.approx(1.0)
    assert lr_factor(6, 10, 2, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)
    assert lr_factor(10, 10, 2, 0.1) == pytest.approx(0.1)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_resume_is_exact(tok, base_dir, tmp_path, mode):
    """6 steps straight == 3 steps, a checkpoint, a fresh process-like trainer resuming, 3 more."""
    c = cfg(mode=mode, max_steps=6)
    straight = SFTTrainer(load_agent(base_dir)[0], tok, data(tok), c, tmp_path / "a")
    straight.train()
    first = SFTTrainer(load_agent(base_dir)[0], tok, data(tok), c, tmp_path / "b")
    first.train(until=3)
    assert (tmp_path / "b" / "checkpoints" / "step_000003" / "state.pt").is_file()
    second = SFTTrainer(load_agent(base_dir)[0], tok, data(tok), c, tmp_path / "b")
    assert second.resume() and second.step == 3
    second.train()
    a, b = dict(straight.model.named_parameters()), dict(second.model.named_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    logged = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == list(range(1, 7)) and [r["loss"] for r in logged] == [r["loss"] for r in ref]


def test_resume_refuses_a_checkpoint_of_another_run(tok, base_dir, tmp_path):
    SFTTrainer(load_agent(base_dir)[0], tok, data(tok), cfg(max_steps=3), tmp_path).train()
    other = SFTTrainer(load_agent(base_dir)[0], tok, data(tok), cfg(max_steps=3, mode="lora"), tmp_path)
    with pytest.raises(SFTError, match="different run"):
        other.resume()


def test_lora_merge_matches_the_adapter_and_exports(tok, base_dir, tmp_path):
    tr = SFTTrainer(load_agent(base_dir)[0], tok, data(tok), cfg(mode="lora", max_steps=4), tmp_path / "run")
    tr.train()
    ids = collate(data(tok)[:2], tok.pad_token_id)
    tr.model.eval()
    with torch.no_grad():
        unmerged = tr.model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
    out = tr.export(tmp_path / "agent")
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "config.json").is_file()
    reloaded, _ = load_agent(out)
    with torch.no_grad():
        merged = reloaded(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
    assert torch.allclose(unmerged, merged, atol=1e-5)
    base, _ = load_agent(base_dir)
    with torch.no_grad():
        untrained = base(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
    assert not torch.allclose(untrained, merged, atol=1e-3)


def test_train_agent_learns_and_logs(tok, base_dir, tmp_path):
    res = train_agent("tiny", base_dir, PAIRS, cfg(max_steps=30, epochs=1), tmp_path / "run", tmp_path / "out")
    recs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert res["steps"] == 30 and recs[-1]["loss"] < 0.7 * recs[0]["loss"]
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    assert (tmp_path / "out" / "config.json").is_file() and res["dropped_too_long"] == 0
    again = train_agent("tiny", base_dir, PAIRS, cfg(max_steps=30, epochs=1), tmp_path / "run", tmp_path / "out")
    assert again["resumed"] and again["steps"] == 30  # nothing left to do


def test_held_out_questions_are_whole_seeded_and_never_all():
    qids = [f"q{i}" for i in range(200)] * 3  # every question has several examples
    held = hold_out_questions(qids, 0.1, seed=0)
    assert 8 <= len(held) <= 35 and held <= set(qids)
    assert held == hold_out_questions(list(reversed(qids)), 0.1, seed=0)  # order does not matter
    assert held != hold_out_questions(qids, 0.1, seed=1)
    assert hold_out_questions(qids[:20] + ["extra"], 0.1, seed=0) & set(qids[:20]) == held & set(qids[:20])
    assert hold_out_questions(qids, 0.0, seed=0) == set() and hold_out_questions(["q0", "q0"], 0.5, 0) == set()
    assert len(hold_out_questions(["a", "b"], 1e-9, 0)) == 1  # at least one
    assert len(hold_out_questions(["a", "b", "c"], 0.999, 0)) == 2  # never all


# Held-out examples that contradict the training targets: the validation loss falls while the model
# learns the format (EOS, the shape of a target), then rises as it memorises the training answers.
VAL_PAIRS = [(p, t) for p, t in [
    (PAIRS[2][0], "A"), (PAIRS[4][0], "B"), (PAIRS[3][0], "DONE"), (PAIRS[5][0], "1. grounding {}")]]


def val_data(tok):
    return tokenize_dataset(VAL_PAIRS, tok, 256)[0]


def test_validation_plateau_stops_early_and_exports_the_best_step(tok, base_dir, tmp_path):
    c = cfg(epochs=60, val_fraction=0.5, eval_every=2, patience=3, checkpoint_every=1000)
    res = train_agent("tiny", base_dir, PAIRS, c, tmp_path / "run", tmp_path / "out", val_pairs=VAL_PAIRS)
    recs = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in recs if "val_loss" in r]
    assert res["stopped_early"] and res["steps"] < res["total_steps"]
    assert res["steps"] == vals[-1]["step"] and len(vals) >= 4
    best = min(vals, key=lambda r: r["val_loss"])
    assert res["best_step"] == best["step"] < res["steps"] and res["best_val_loss"] == best["val_loss"]
    assert all(r["step"] > best["step"] for r in vals[-3:])  # three measurements without a new best
    assert res["best_epoch"] == round(best["step"] / res["steps_per_epoch"], 2)
    # the exported weights are the best step's: their validation loss is the best one, not the last
    exported, _ = load_agent(tmp_path / "out")
    probe = SFTTrainer(exported, tok, data(tok), cfg(), tmp_path / "probe", val=val_data(tok))
    assert probe.validation_loss() == pytest.approx(best["val_loss"], abs=1e-5)
    assert abs(vals[-1]["val_loss"] - best["val_loss"]) > 1e-3
    assert plot_losses({"tiny": tmp_path / "run"}, tmp_path / "loss.png").stat().st_size > 1000
    # a re-run resumes the stopped run and trains no further
    again = train_agent("tiny", base_dir, PAIRS, c, tmp_path / "run", tmp_path / "out", val_pairs=VAL_PAIRS)
    assert again["resumed"] and again["steps"] == res["steps"] and again["best_step"] == res["best_step"]


def test_without_patience_every_epoch_runs_and_the_best_is_still_exported(tok, base_dir, tmp_path):
    c = cfg(epochs=12, val_fraction=0.5, eval_every=3, patience=None, mode="lora")
    res = train_agent("tiny", base_dir, PAIRS, c, tmp_path / "run", tmp_path / "out", val_pairs=VAL_PAIRS)
    assert not res["stopped_early"] and res["steps"] == res["total_steps"]
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
    exported, _ = load_agent(tmp_path / "out")
    probe = SFTTrainer(exported, tok, data(tok), cfg(), tmp_path / "probe", val=val_data(tok))
    assert probe.validation_loss() == pytest.approx(res["best_val_loss"], abs=1e-4)
