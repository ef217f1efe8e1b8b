"""Prompts reach every model through its own template (m1.checkpoint.apply_prompt_template): a
tokenizer with a chat template (a tiny Qwen2 built from config, carrying Qwen2.5-Instruct's ChatML
template) gets it in the engines, SFT and annotation alike; a base model's tokenizer (BOS, no
template) gets the project's base template; the project tokenizer keeps the bare prompt. A mixed
team counts and fits every agent's prompts with that agent's tokenizer."""

from __future__ import annotations

import pytest
import torch

from m1.checkpoint import (
    apply_prompt_template,
    load_tokenizer,
    save_agent,
    template_overhead,
    token_counter,
    train_tokenizer,
)
from m1.config import AgentSpec, SFTConfig
from m1.engines.base import SamplingSettings
from m1.engines.hf import HFEngine
from m1.models import build_model, default_catalogue, plan_corpus
from m1.team.cpp import GenRequest, LocalTeam, Phase
from m1.train.sft import SFTTrainer, tokenize_example
from m1.train.teachers import TeacherTeam

torch.set_num_threads(1)

# Qwen2.5-Instruct's chat template (tokenizer_config.json), its tool-calling branch left out.
QWEN25_CHATML = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\" and not message.tool_calls) %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
PROMPT = "#plan\nQ: How many red circles appear?\nA. 1\nB. 2\nType: multiple_choice\nPlan:\n"
SPEC = AgentSpec(name="chat", arch="qwen2", hidden_size=64, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=32,
                 intermediate_size=128, max_context=256)


@pytest.fixture(scope="module")
def base_tok():
    return train_tokenizer(plan_corpus(default_catalogue(), n=40), vocab_size=600)


@pytest.fixture(scope="module")
def chat_dir(base_tok, tmp_path_factory):
    """A Qwen2 checkpoint whose tokenizer carries ChatML: <|im_start|>/<|im_end|> added, EOS = <|im_end|>."""
    tok = train_tokenizer(plan_corpus(default_catalogue(), n=40), vocab_size=600)
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tok.eos_token = "<|im_end|>"
    tok.chat_template = QWEN25_CHATML
    return save_agent(build_model(SPEC, tok, seed=0), tok, tmp_path_factory.mktemp("chat"))


@pytest.fixture(scope="module")
def bos_tok(tmp_path_factory):
    """A base model's tokenizer: a BOS token and no chat template (as the converted Gemma's)."""
    tok = train_tokenizer(plan_corpus(default_catalogue(), n=40), vocab_size=600)
    tok.add_special_tokens({"bos_token": "<bos>"})
    path = tmp_path_factory.mktemp("bos")
    tok.save_pretrained(str(path))
    return load_tokenizer(path)


def test_chat_template_survives_save_and_load_and_wraps_the_prompt(chat_dir):
    tok = load_tokenizer(chat_dir)
    assert tok.chat_template == QWEN25_CHATML and tok.eos_token == "<|im_end|>"
    ids = apply_prompt_template(tok, PROMPT)
    assert tok.decode(ids) == ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
                               f"assistant.<|im_end|>\n<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n")
    start, end = tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    assert ids.count(start) == 3 and ids.count(end) == 2  # special tokens, not their characters
    assert template_overhead(tok) == len(ids) - len(tok(PROMPT, add_special_tokens=False)["input_ids"])


def test_base_and_project_templates(base_tok, bos_tok):
    bare = base_tok(PROMPT, add_special_tokens=False)["input_ids"]
    assert apply_prompt_template(base_tok, PROMPT) == bare and template_overhead(base_tok) == 0
    assert apply_prompt_template(bos_tok, PROMPT) == [bos_tok.bos_token_id, *bare]
    assert template_overhead(bos_tok) == 1
    assert token_counter(None)("héllo") == 6  # endpoint agents without a tokenizer: UTF-8 bytes, an upper bound


def test_engine_sft_and_annotation_tokenise_identically(chat_dir):
    engine = HFEngine.from_dir(chat_dir)
    c = engine.generate([PROMPT], SamplingSettings(temperature=0.0, max_new_tokens=4))[0]
    expected = apply_prompt_template(engine.tokenizer, PROMPT)
    assert c.prompt_ids == expected
    ex = tokenize_example(PROMPT, "1. spatial {}", engine.tokenizer)
    assert ex.input_ids[: len(expected)] == expected and ex.input_ids[-1] == engine.tokenizer.eos_token_id

    class Fixed:
        name = "fixed"

        def write(self, request):
            return "KEEP"

    team = TeacherTeam(Fixed(), ["chat"], [engine.tokenizer], [256])
    from m1.schema import Question, TaskType

    q = Question(qid="q", video="v", question="How many?", options=["1", "2"], task_type=TaskType.MULTIPLE_CHOICE)
    out = team.generate([GenRequest(0, PROMPT, SamplingSettings(), Phase.PLAN, q, 0, "a0")])[0]
    assert out.prompt_ids == expected and out.completion_ids[-1] == engine.tokenizer.eos_token_id


def test_sft_teaches_through_the_chat_template(chat_dir, tmp_path):
    """A few steps of SFT on one (prompt, plan) pair; greedy generation through the same template then
    writes the plan and stops at <|im_end|>: the template is applied the same way when training and
    when generating."""
    engine = HFEngine.from_dir(chat_dir)
    target = '1. spatial {"query":"red circle"}'
    data = [tokenize_example(PROMPT, target, engine.tokenizer)]
    cfg = SFTConfig(lr=3e-3, warmup_steps=0, max_steps=60, log_every=60, checkpoint_every=1000, use_ray=False)
    SFTTrainer(engine.model, engine.tokenizer, data, cfg, tmp_path / "run", seed=0, name="chat").train()
    engine.model.eval()
    c = engine.generate([PROMPT], SamplingSettings(temperature=0.0, max_new_tokens=32))[0]
    assert c.text == target and c.finish_reason == "stop"


def test_local_team_counts_and_fits_per_agent(chat_dir, base_tok, bos_tok):
    chat_tok = load_tokenizer(chat_dir)
    team = LocalTeam(["chat", "tiny", "base"], [object()] * 3, [chat_tok, base_tok, bos_tok], [256, 256, 256])
    n = [len(t(PROMPT, add_special_tokens=False)["input_ids"]) for t in (chat_tok, base_tok, bos_tok)]
    assert [team.counter(i)(PROMPT) for i in range(3)] == n
    # the template's tokens come off the context a prompt may fill
    assert [team.limits(i, 32, 64).max_context for i in range(3)] == [256 - template_overhead(chat_tok), 256, 255]
    with pytest.raises(ValueError, match="2 tokenizers for 3 agents"):
        LocalTeam(["a", "b", "c"], [object()] * 3, [chat_tok, base_tok], [256] * 3)
