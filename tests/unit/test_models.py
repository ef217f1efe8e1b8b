"""Tokenizer and model zoo: byte-level round trip, save/load exactness, the team on disk, config
validation, prompt limits counted with the real tokenizer, and `m1 models init`."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import PreTrainedTokenizerFast

from cli import main as cli_main
from m1.checkpoint import (
    ModelError,
    count_parameters,
    load_agent,
    load_tokenizer,
    save_agent,
    token_counter,
    train_tokenizer,
)
from m1.config import AgentSpec, ConfigError, TeamConfig, load_config
from m1.models import build_model, default_catalogue, init_team, plan_corpus
from m1.schema import Question, TaskType
from m1.team.plan import Evidence, PromptLimits, render_answer_prompt

torch.set_num_threads(1)

SMALL = TeamConfig(
    vocab_size=600,
    agents=[
        AgentSpec(
            name="q2",
            arch="qwen2",
            hidden_size=64,
            num_layers=2,
            num_heads=2,
            num_kv_heads=1,
            head_dim=32,
            intermediate_size=96,
        ),
        AgentSpec(
            name="q3",
            arch="qwen3",
            hidden_size=48,
            num_layers=1,
            num_heads=2,
            num_kv_heads=2,
            head_dim=32,
            intermediate_size=80,
        ),
    ],
)


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(plan_corpus(default_catalogue(), n=60), vocab_size=600)


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    out = tmp_path_factory.mktemp("team")
    return out, init_team(SMALL, out, seed=0)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=120))
def test_tokenizer_round_trip_any_text(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert all(0 <= i < len(tok) for i in ids)
    assert tok.unk_token_id is None  # byte-level: there is no unknown token to fall back to


def test_tokenizer_compresses_the_plan_language(tok):
    line = '1. global_sampling {"n":8}'
    assert len(tok(line, add_special_tokens=False)["input_ids"]) < len(line.encode()) // 2


def test_saved_tokenizer_gives_identical_ids(tok, tmp_path):
    tok.save_pretrained(str(tmp_path))
    assert (tmp_path / "tokenizer.json").is_file()
    again = PreTrainedTokenizerFast.from_pretrained(str(tmp_path))
    ours = load_tokenizer(tmp_path)
    text = "#answer\nQ: Which text is shown?\nA. EXIT\n[a2.3] fine_browser: candidate=B conf=0.92 é 漢\nAnswer:\n"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert again(text, add_special_tokens=False)["input_ids"] == ids
    assert ours(text, add_special_tokens=False)["input_ids"] == ids
    assert (ours.eos_token, ours.pad_token) == ("<|endoftext|>", "<|pad|>")


def test_load_tokenizer_missing_is_typed(tmp_path):
    with pytest.raises(ModelError):
        load_tokenizer(tmp_path)
    with pytest.raises(ModelError):
        load_agent(tmp_path)


def test_team_on_disk(team):
    out, dirs = team
    assert set(dirs) == {"q2", "q3"}
    for d in dirs.values():
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in d.iterdir()}
    cfgs = {n: json.loads((d / "config.json").read_text()) for n, d in dirs.items()}
    assert cfgs["q2"]["model_type"] == "qwen2" and cfgs["q3"]["model_type"] == "qwen3"
    assert cfgs["q2"]["hidden_size"] == 64 and cfgs["q3"]["num_hidden_layers"] == 1
    manifest = json.loads((out / "team.json").read_text())
    assert manifest["agents"] == {n: str(d) for n, d in dirs.items()}
    assert (out / "tokenizer" / "tokenizer.json").is_file()


def test_save_load_gives_identical_logits(team):
    _, dirs = team
    ids = torch.tensor([[5, 17, 200, 33, 9]])
    for d in dirs.values():
        model, tok = load_agent(d)
        saved_state = model.state_dict()
        again, _ = load_agent(d)
        with torch.no_grad():
            assert torch.equal(model(input_ids=ids).logits, again(input_ids=ids).logits)
        assert all(torch.equal(v, again.state_dict()[k]) for k, v in saved_state.items())


def test_build_save_load_round_trip_is_exact(tok, tmp_path):
    spec = SMALL.agents[1]
    model = build_model(spec, tok, seed=7)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    save_agent(model, tok, tmp_path / "m")
    loaded, _ = load_agent(tmp_path / "m")
    ids = torch.tensor([[1, 2, 3, 4, 300]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, loaded(input_ids=ids).logits)
    other = build_model(spec, tok, seed=8)
    assert not torch.equal(model.lm_head.weight, other.lm_head.weight)  # seeds differ → weights differ


def test_real_checkpoint_path_is_used_as_is(team, tmp_path):
    _, dirs = team
    cfg = SMALL.model_copy(update={"agents": [SMALL.agents[0].model_copy(update={"path": str(dirs["q2"])})]})
    out = init_team(cfg, tmp_path / "t2")
    assert out == {"q2": dirs["q2"]}
    bad = SMALL.model_copy(update={"agents": [SMALL.agents[0].model_copy(update={"path": str(tmp_path)})]})
    with pytest.raises(ModelError):
        init_team(bad, tmp_path / "t3")


def test_default_team_is_heterogeneous_and_tiny(tok):
    agents = TeamConfig().agents
    assert len(agents) == 4 and {a.arch for a in agents} == {"qwen2", "qwen3"}
    assert len({(a.hidden_size, a.num_layers) for a in agents}) == 4
    sizes = [count_parameters(build_model(a, tok)) for a in agents]
    assert all(5e5 < n < 5e6 for n in sizes), sizes


def test_team_config_validation():
    with pytest.raises(ConfigError, match="unique"):
        load_config(overrides=["team.agents=[{name: a, arch: qwen2}, {name: a, arch: qwen3}]"])
    with pytest.raises(ConfigError, match="hidden_size"):
        load_config(overrides=["team.agents=[{name: a, arch: qwen2, hidden_size: 100}]"])
    with pytest.raises(ConfigError, match="arch"):
        load_config(overrides=["team.agents=[{name: a, arch: llama}]"])
    cfg = load_config(overrides=["sampling.eval.temperature=0.5", "engine.dtype=bfloat16"])
    assert cfg.sampling.eval.temperature == 0.5 and cfg.engine.dtype == "bfloat16"


def test_prompt_fits_context_counted_with_the_real_tokenizer(tok):
    count = token_counter(tok)
    q = Question(
        qid="1",
        video="v",
        question="Which text is shown on the red sign? " * 20,
        options=["EXIT", "OPEN", "STOP", "SALE " * 40],
        task_type=TaskType.MULTIPLE_CHOICE,
    )
    ev = [
        Evidence(agent=f"a{i % 4}", step=i, tool="fine_browser", text=f"candidate=B conf=0.{i} " * 10)
        for i in range(200)
    ]
    limits = PromptLimits(max_context=384, max_new_tokens=32, entry_tokens=24, clip_tokens=40)
    prompt = render_answer_prompt(q, ev, limits, count)
    assert count(prompt) <= limits.budget
    assert "[a3.199]" in prompt and "earlier omitted" in prompt
    assert count(prompt) > limits.budget - 3 * limits.entry_tokens  # the budget is actually used


def test_cli_models_init(tmp_path, capsys):
    rc = cli_main(
        [
            "models",
            "init",
            "--out",
            str(tmp_path),
            "team.vocab_size=400",
            "team.agents=[{name: tiny, arch: qwen3, hidden_size: 32, num_layers: 1, num_heads: 1, num_kv_heads: 1, "
            "head_dim: 32, intermediate_size: 48}]",
        ]
    )
    assert rc == 0
    assert "tiny" in capsys.readouterr().out
    model, tok = load_agent(tmp_path / "tiny")
    assert model.config.model_type == "qwen3" and model.config.vocab_size == len(tok)
