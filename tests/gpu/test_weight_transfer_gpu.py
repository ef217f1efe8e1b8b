"""vLLM's native weight transfer on CUDA (needs the ``gpu`` extra: vllm==0.32; skipped without CUDA or vllm).

In one process, as on a single GPU: a ``VLLMEngine`` started with ``weight_transfer="ipc"`` and a
trainer model on the same GPU; :class:`actors.weight_sync.NativeWeightSync` sends the trainer's
weights through CUDA-IPC handles in packed buckets, and the engine's log-probs then equal the
trainer model's. The bucketed round's seconds are recorded (``M1_GPU_FIGURES``). NCCL needs two
processes on two GPUs (NCCL refuses two ranks on one device): ``scripts/gpu_check.sh`` runs it when
the machine has two GPUs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
              pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="needs vllm (the gpu extra)")]


class LocalClient:
    """vLLM's weight-sync client protocol over an engine in this process."""

    def __init__(self, engine):
        self.engine = engine

    def init_weight_transfer_engine(self, init_info):
        self.engine.init_weight_transfer(init_info)

    def start_weight_update(self):
        self.engine.start_weight_update()

    def update_weights(self, update_info):
        self.engine.receive_weights(update_info)

    def finish_weight_update(self, weight_version=None):
        self.engine.finish_weight_update()


def test_ipc_transfer_makes_the_engine_score_like_the_trainer(tmp_path):
    from actors.weight_sync import NativeWeightSync
    from m1.checkpoint import save_agent, train_tokenizer
    from m1.config import AgentSpec
    from m1.engines.hf import completion_logprobs
    from m1.engines.vllm import VLLMEngine
    from m1.models import build_model

    tok = train_tokenizer(["#plan Q: what colour? answer B", "1. grounding {} KEEP DONE"] * 20, 300)
    spec = AgentSpec(name="q3", arch="qwen3", hidden_size=128, num_layers=2, num_heads=2, num_kv_heads=1,
                     head_dim=64, intermediate_size=256, max_context=512)
    d = save_agent(build_model(spec, tok, seed=0), tok, tmp_path / "agent")
    t0 = time.perf_counter()
    engine = VLLMEngine(d, dtype="float32", gpu_memory_utilization=0.2, weight_transfer="ipc")
    started = time.perf_counter() - t0
    trainer = build_model(spec, tok, seed=1).cuda()  # different weights than the engine's
    p, c = [[5, 6, 7, 8, 9]], [[10, 11, 12]]
    before = engine.compute_logprobs(p, c)[0]
    sync = NativeWeightSync(trainer, "ipc", LocalClient(engine), bucket_mb=1)  # small buckets: several rounds
    seconds = sync.send()
    after = engine.compute_logprobs(p, c)[0]
    with torch.no_grad():
        want, _ = completion_logprobs(trainer.eval(), p, c, tok.pad_token_id)
    assert after != pytest.approx(before, abs=1e-4)
    assert after == pytest.approx(want[0, :3].tolist(), abs=2e-3)
    path = os.environ.get("M1_GPU_FIGURES")
    if path:
        figs = json.loads(Path(path).read_text()) if Path(path).exists() else {}
        figs.update(ipc_weight_sync_seconds_tiny=seconds, vllm_engine_start_seconds_tiny=started)
        Path(path).write_text(json.dumps(figs, indent=2))
