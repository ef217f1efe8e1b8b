"""CUDA paths that the CPU machines cannot run (skipped without CUDA; marker ``gpu``).

* the HF engine on CUDA: generation and the learner's log-prob recompute agree on the same tokens;
* the GRPO learner with agents on CUDA devices (``TeamLearner.from_dirs(devices=...)``, the
  placement ``actors.learner.learner_devices`` chooses): parameters change, weights come back on CPU;
* a real-size learner step (Qwen2.5-3B architecture from ``configs/real_models``, random bf16
  weights, one micro-batch of ``grpo.micro_batch_tokens`` tokens): peak memory within
  the planner's estimate (``m1.resources.learner_demand``), and the HF engine's tokens/s on it.
  Figures are printed (``-s``) and, with ``M1_GPU_FIGURES=path``, written as JSON.

Not here: vLLM on CUDA (needs the ``gpu`` extra), more than one GPU, the VLM back-end (its CUDA
test lives in ``tests/unit/test_vlm_backend.py``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

ROOT = Path(__file__).resolve().parents[2]
FIGURES: dict[str, float] = {}


def _record(key: str, value: float) -> None:
    FIGURES[key] = value
    print(f"FIGURE {key} = {value}")
    path = os.environ.get("M1_GPU_FIGURES")
    if path:
        Path(path).write_text(json.dumps(FIGURES, indent=2))


@pytest.fixture(scope="module")
def tokenizer():
    from m1.checkpoint import train_tokenizer

    return train_tokenizer(["1. fine_browser {}", "KEEP", "DONE", "answer B", "#plan Q: What colour?"] * 20, 300)


@pytest.fixture(scope="module")
def team(tmp_path_factory, tokenizer):
    from m1.checkpoint import save_agent
    from m1.config.team import AgentSpec
    from m1.models import build_model

    specs = [AgentSpec(name="a", arch="qwen2", hidden_size=64, num_layers=2, num_heads=1, num_kv_heads=1,
                       head_dim=64, intermediate_size=128, max_context=128),
             AgentSpec(name="b", arch="qwen3", hidden_size=96, num_layers=2, num_heads=2, num_kv_heads=1,
                       head_dim=64, intermediate_size=128, max_context=128)]
    root = tmp_path_factory.mktemp("team")
    return [str(save_agent(build_model(s, tokenizer, seed=i), tokenizer, root / s.name)) for i, s in enumerate(specs)]


def _samples(tokenizer, n=4):
    from m1.train.learner import Sample

    out = []
    for i in range(n):
        for agent in (0, 1):
            p = tokenizer(f"#plan Q: What colour {i}?", add_special_tokens=False)["input_ids"]
            c = tokenizer(["KEEP", "DONE", "answer B", "1. fine_browser {}"][i % 4], add_special_tokens=False)[
                "input_ids"]
            out.append(Sample(agent, p, c, [-3.0] * len(c), advantage=1.0 if i % 2 else -1.0))
    return out


def test_hf_engine_on_cuda_logprobs_match_recompute(team):
    from m1.engines.base import SamplingSettings
    from m1.engines.hf import HFEngine

    eng = HFEngine.from_dir(team[0])
    eng.model.to("cuda")
    outs = eng.generate(["#plan Q: What colour?"] * 3, SamplingSettings(temperature=1.0, max_new_tokens=12, seed=3))
    assert all(len(o.completion_ids) == len(o.logprobs) > 0 for o in outs)
    again = eng.compute_logprobs([o.prompt_ids for o in outs], [o.completion_ids for o in outs])
    for o, lp in zip(outs, again, strict=True):
        assert lp == pytest.approx(o.logprobs, abs=1e-3)


def test_learner_on_cuda_devices_updates_and_exports_cpu_weights(team, tokenizer):
    from actors.learner import learner_devices
    from m1.config import GRPOConfig
    from m1.train.learner import TeamLearner

    devices = learner_devices(team)
    assert len(devices) == 2 and len(set(devices)) == min(2, torch.cuda.device_count())
    learner = TeamLearner.from_dirs(team, GRPOConfig(lr=1e-2, kl_coef=0.05), devices=devices)
    assert all(next(m.parameters()).is_cuda for m in learner.models)
    before = [learner.weights(a) for a in range(2)]
    metrics = learner.step(_samples(tokenizer))
    assert metrics["agent0/samples"] == 4 and metrics["agent1/samples"] == 4
    for a in range(2):
        after = learner.weights(a)
        assert all(v.device.type == "cpu" for v in after.values())
        assert any(not torch.equal(before[a][k], after[k]) for k in after), f"agent {a} did not change"


def test_real_size_learner_step_fits_the_planners_estimate(tokenizer):
    from transformers import AutoConfig, AutoModelForCausalLM

    from m1.config import GRPOConfig, load_config
    from m1.engines.base import SamplingSettings
    from m1.engines.hf import HFEngine
    from m1.resources import learner_demand, load_architecture
    from m1.train.learner import Sample, TeamLearner

    name = os.environ.get("M1_GPU_REAL_MODEL", "qwen2.5-3b")  # any configs/real_models/*.json text model
    spec = json.loads((ROOT / f"configs/real_models/{name}.json").read_text())
    spec.pop("_source")
    cfg = load_config(ROOT / "configs/real_team.yaml")
    tokens = cfg.grpo.micro_batch_tokens
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**spec), dtype=torch.bfloat16)
    arch = load_architecture(ROOT / f"configs/real_models/{name}.json")
    assert sum(p.numel() for p in model.parameters()) == arch.params()

    # throughput of the HF engine on this size (random weights: tokens/s only, not text quality)
    eng = HFEngine(model, tokenizer)
    prompts = [[5 + (i * 7 + j) % 250 for j in range(256)] for i in range(8)]
    eng.generate(prompts[:1], SamplingSettings(max_new_tokens=4, seed=0))
    torch.cuda.synchronize()
    t = time.perf_counter()
    outs = eng.generate(prompts, SamplingSettings(max_new_tokens=128, seed=1))
    torch.cuda.synchronize()
    n = sum(len(o.completion_ids) for o in outs)
    _record(f"hf_generate_{name}_bf16_batch8_tok_per_s", round(n / (time.perf_counter() - t), 1))

    learner = TeamLearner([model], pad_id=0, cfg=GRPOConfig(lr=1e-7, kl_coef=0.0))
    per = tokens // 4  # 4 sequences of prompt + completion filling one micro-batch
    smp = [Sample(0, [7 + (i + j) % 250 for j in range(per - 64)], [9 + (i * j) % 250 for j in range(64)],
                  [-5.0] * 64, advantage=1.0 if i % 2 else -1.0) for i in range(4)]
    torch.cuda.synchronize()
    t = time.perf_counter()
    learner.step(smp)
    torch.cuda.synchronize()
    first = time.perf_counter() - t
    t = time.perf_counter()
    learner.step(smp)
    torch.cuda.synchronize()
    _record(f"learner_step_{name}_bf16_first_s", round(first, 3))
    _record(f"learner_step_{name}_bf16_s", round(time.perf_counter() - t, 3))
    peak = (torch.cuda.max_memory_allocated() - base) / 1e9
    est = learner_demand(name, arch, cfg)
    estimate = est.per_gpu_gb - est.parts["context"]  # the CUDA context is not in torch's allocator
    _record(f"learner_peak_allocated_gb_{name}", round(peak, 2))
    _record(f"learner_planner_estimate_gb_{name}", round(estimate, 2))
    _record("learner_tokens_per_micro_batch", tokens)
    assert 0.75 * estimate <= peak <= 1.15 * estimate, (peak, est.parts)
