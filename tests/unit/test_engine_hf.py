"""The hf engine: left-padded batching, the log-probs it returns (checked by a forward-pass
recompute), seeds, stops cut consistently, and weight updates."""

from __future__ import annotations

import pytest
import torch

from m1.checkpoint import train_tokenizer
from m1.config import AgentSpec, SamplingConfig
from m1.engines.base import EngineError, Generator, SamplingSettings, finish_completion
from m1.engines.hf import HFEngine, completion_logprobs
from m1.models import build_model, default_catalogue, plan_corpus

torch.set_num_threads(1)

SPECS = [
    AgentSpec(
        name="q2",
        arch="qwen2",
        hidden_size=64,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        head_dim=32,
        intermediate_size=96,
        max_context=256,
    ),
    AgentSpec(
        name="q3",
        arch="qwen3",
        hidden_size=48,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        head_dim=32,
        intermediate_size=80,
        max_context=256,
    ),
]
PROMPTS = ["#plan\nQ: How many red circles?\nA. 1\nB. 2\nPlan:\n", "Answer:\n", [5, 6, 7, 8, 9, 10, 11, 12, 13]]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(plan_corpus(default_catalogue(), n=40), vocab_size=500)


@pytest.fixture(scope="module", params=SPECS, ids=lambda s: s.arch)
def engine(request, tok):
    model = build_model(request.param, tok, seed=1)
    with torch.no_grad():
        # At the 0.02 init a tied-embedding model repeats its last token with near-uniform logits;
        # larger projections make outputs diverse, a larger final norm makes greedy choices clear.
        for name, p in model.named_parameters():
            if "proj" in name and name.endswith("weight"):
                p.mul_(4.0)
        model.model.norm.weight.mul_(20.0)
    return HFEngine(model, tok)


def test_engine_satisfies_protocol(engine):
    assert isinstance(engine, Generator)


def test_batched_greedy_equals_one_by_one(engine):
    s = SamplingSettings(temperature=0, max_new_tokens=12)
    batch = engine.generate(PROMPTS, s)
    for p, b in zip(PROMPTS, batch, strict=True):
        (alone,) = engine.generate([p], s)
        assert alone.completion_ids == b.completion_ids
        assert alone.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    assert batch[2].prompt_ids == PROMPTS[2]
    assert batch[0].prompt_ids == engine.tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9), (0.0, 1.0)])
def test_returned_logprobs_are_unwarped_and_match_recompute(engine, temperature, top_p):
    outs = engine.generate(PROMPTS, SamplingSettings(temperature=temperature, top_p=top_p, max_new_tokens=10, seed=3))
    again = engine.compute_logprobs([o.prompt_ids for o in outs], [o.completion_ids for o in outs])
    for o, r in zip(outs, again, strict=True):
        assert len(o.logprobs) == len(o.completion_ids) == len(r)
        assert o.logprobs == pytest.approx(r, abs=1e-4)
        assert all(lp <= 0 for lp in o.logprobs)
    # by hand, for the first token of the first prompt: log_softmax of the raw logits
    with torch.no_grad():
        logits = engine.model(input_ids=torch.tensor([outs[0].prompt_ids])).logits[0, -1]
    expected = torch.log_softmax(logits, -1)[outs[0].completion_ids[0]].item()
    assert outs[0].logprobs[0] == pytest.approx(expected, abs=1e-5)


def test_differentiable_recompute_has_grad_and_mask(engine):
    lp, mask = completion_logprobs(engine.model, [[5, 6, 7], [8]], [[9, 10], [11, 12, 13]], engine.pad_id)
    assert lp.shape == (2, 3) and mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert lp.requires_grad
    lp.sum().backward()
    assert engine.model.lm_head.weight.grad is not None
    engine.model.zero_grad(set_to_none=True)


def test_seed_reproduces_and_differs(engine):
    s = SamplingSettings(temperature=1.0, max_new_tokens=16, seed=11)
    a, b = engine.generate(PROMPTS, s), engine.generate(PROMPTS, s)
    assert [o.completion_ids for o in a] == [o.completion_ids for o in b]
    c = engine.generate(PROMPTS, s.model_copy(update={"seed": 12}))
    assert [o.completion_ids for o in a] != [o.completion_ids for o in c]


def test_length_limit_and_settings_from_config(engine):
    s = SamplingSettings.from_config(SamplingConfig(temperature=0.0), max_new_tokens=5)
    for o in engine.generate(PROMPTS, s):
        assert len(o.completion_ids) <= 5
        assert o.finish_reason == (
            "length" if len(o.completion_ids) == 5 and engine.eos_id not in o.completion_ids else "stop"
        )


def test_stop_string_cuts_ids_text_and_logprobs_together(engine):
    (free,) = engine.generate([PROMPTS[0]], SamplingSettings(temperature=1.0, max_new_tokens=24, seed=5))
    text = free.text
    assert len(text) > 6
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    (cut,) = engine.generate([PROMPTS[0]], SamplingSettings(temperature=1.0, max_new_tokens=24, seed=5, stop=[stop]))
    dec = engine.tokenizer.decode
    assert cut.finish_reason == "stop"
    assert stop not in cut.text and text.startswith(cut.text) and cut.text == text[: text.index(stop)]
    assert cut.completion_ids == free.completion_ids[: len(cut.completion_ids)]
    assert cut.logprobs == free.logprobs[: len(cut.logprobs)]
    assert stop in dec(cut.completion_ids) and stop not in dec(cut.completion_ids[:-1])


class _CharTok:
    """A one-char-per-id tokenizer for exact post-processing checks."""

    def decode(self, ids, skip_special_tokens=False):
        return "".join(chr(ord("a") + i) for i in ids)


def test_finish_completion_eos_and_stop_rules():
    c = finish_completion([1], [0, 1, 9, 2], [-0.1, -0.2, -0.3, -0.4], _CharTok(), eos_id=9)
    assert (c.completion_ids, c.text, c.logprobs, c.finish_reason) == ([0, 1, 9], "ab", [-0.1, -0.2, -0.3], "stop")
    c = finish_completion([1], [0, 1, 2, 3], [-1.0] * 4, _CharTok(), eos_id=9, stop=["cd", "bc"])
    assert (c.completion_ids, c.text, c.finish_reason) == ([0, 1, 2], "a", "stop")  # "bc" completes first
    c = finish_completion([1], [0, 1], [-1.0] * 2, _CharTok(), eos_id=9, stop=["zz"])
    assert (c.text, c.finish_reason) == ("ab", "length")
    with pytest.raises(EngineError):
        finish_completion([1], [0, 1], [-1.0], _CharTok(), eos_id=9)


def test_update_weights_takes_effect(tok):
    spec = SPECS[1]
    engine = HFEngine(build_model(spec, tok, seed=1), tok)
    target = build_model(spec, tok, seed=2)
    s = SamplingSettings(temperature=0, max_new_tokens=8)
    before = engine.generate(PROMPTS, s)
    engine.update_weights(target.state_dict())
    after = engine.generate(PROMPTS, s)
    reference = HFEngine(target, tok).generate(PROMPTS, s)
    assert [o.logprobs for o in after] == [o.logprobs for o in reference]
    assert [o.logprobs for o in after] != [o.logprobs for o in before]
    with pytest.raises(EngineError, match="unknown"):
        engine.update_weights({"nope.weight": torch.zeros(1)})
    with pytest.raises(EngineError, match="shape"):
        engine.update_weights({"lm_head.weight": torch.zeros(3, 3)})


def test_bad_prompts_are_typed_errors(engine):
    with pytest.raises(EngineError, match="outside"):
        engine.generate([[0, 10**6]], SamplingSettings(max_new_tokens=2))
    with pytest.raises(EngineError, match="empty"):
        engine.generate([""], SamplingSettings(max_new_tokens=2))
    with pytest.raises(EngineError, match="context"):
        engine.generate([[1] * 250], SamplingSettings(max_new_tokens=10))


def test_make_engine(tok, tmp_path):
    from m1.checkpoint import save_agent
    from m1.config import EngineConfig
    from m1.engines import make_engine

    path = save_agent(build_model(SPECS[0], tok, seed=1), tok, tmp_path / "a")
    engine = make_engine("hf", path, EngineConfig())
    assert isinstance(engine, HFEngine) and isinstance(engine, Generator)
    with pytest.raises(EngineError, match="unknown engine"):
        make_engine("tgi", path, EngineConfig())
    with pytest.raises(EngineError, match="does not exist"):
        make_engine("vllm", path, EngineConfig(vllm_python=str(tmp_path / "no-python")))
