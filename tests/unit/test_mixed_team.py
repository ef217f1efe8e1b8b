"""A mixed team through the whole path, in-process: annotation -> SFT -> MARL -> evaluation ->
``m1 ask``-style episode on the trained team. Three agents with three tokenizers and templates:
a Gemma3 (base template: <bos> + prompt; a tiny build from config standing in for the converted
Gemma-3-270m, whose real run is benchmarks/mixed_team.md), a Qwen2 carrying ChatML, and a Qwen3 on
the project tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_marl import TINY_VIDEO
from test_prompt_templates import QWEN25_CHATML

from m1.checkpoint import TeamDir, agent_dir, load_agent, save_agent, train_tokenizer
from m1.config import AgentSpec, load_config
from m1.models import build_model, default_catalogue, plan_corpus

pytestmark = pytest.mark.slow
torch.set_num_threads(1)


def _tiny_gemma(tok):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=1024,
                           sliding_window=64, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                           pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    return Gemma3ForCausalLM(cfg).float().eval()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import jobs.annotate as annotate
    import jobs.marl as marl
    import jobs.sft as sft

    root = tmp_path_factory.mktemp("mixed")
    texts = plan_corpus(default_catalogue(), n=60)
    gtok = train_tokenizer(texts, vocab_size=500)
    gtok.add_special_tokens({"bos_token": "<bos>"})
    gemma = save_agent(_tiny_gemma(gtok), gtok, root / "pretrained" / "gemma")
    ctok = train_tokenizer(texts, vocab_size=500)
    ctok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    ctok.eos_token, ctok.chat_template = "<|im_end|>", QWEN25_CHATML
    chat_spec = AgentSpec(name="chat", arch="qwen2", hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1,
                          head_dim=16, intermediate_size=64)
    chat = save_agent(build_model(chat_spec, ctok, seed=1), ctok, root / "pretrained" / "chat")
    agents = (f"team.agents=[{{name: gemma, arch: gemma3, path: '{gemma}', max_context: 1024, sft_lr_scale: 0.5, "
              f"marl_lr_scale: 0.5}}, {{name: chat, arch: qwen2, path: '{chat}', max_context: 1024}}, "
              "{name: tiny, arch: qwen3, hidden_size: 32, num_layers: 1, num_heads: 2, num_kv_heads: 1, head_dim: 16, "
              "intermediate_size: 64, max_context: 1024}]")
    cfg = load_config(overrides=[
        f"output_dir={root / 'run'}", agents, "team.vocab_size=400", *TINY_VIDEO,
        "cpp.plan_tokens=24", "cpp.revision_tokens=6", "cpp.answer_tokens=6", "cpp.max_rounds=2",
        "sft.train_videos=1", "sft.max_questions=3", "sft.max_steps=2", "sft.use_ray=false", "sft.batch_tokens=4096",
        "marl.steps=1", "marl.questions_per_step=1", "marl.train_videos=1", "marl.eval_videos=1",
        "marl.eval_questions=1", "marl.use_ray=false", "marl.checkpoint_every=1", "grpo.group_size=2"])
    annotate.main(cfg)
    sft_summary = sft.main(cfg)
    # as `m1 models choose-summariser` would store it: MARL rolls out with it and carries it over
    TeamDir(sft_summary["team"]).write_summariser_choice({"agent": "chat", "scores": {"gemma": 0.0, "chat": 1.0,
                                                                                     "tiny": 0.0}})
    marl_summary = marl.main(cfg)  # starts from <output_dir>/sft/team
    return cfg, root, gemma, chat, sft_summary, marl_summary


def test_sft_trains_every_agent_and_the_trained_copy_wins(run):
    cfg, root, gemma, chat, sft_summary, _ = run
    team_out = sft_summary["team"]
    for spec, base in zip(cfg.team.agents[:2], (gemma, chat), strict=True):
        d = agent_dir(team_out, spec)
        assert d != base and d.parent.name == "team"  # the trained copy, not the pretrained path
        before, _ = load_agent(base)
        after, _ = load_agent(d)
        pairs = zip(before.state_dict().values(), after.state_dict().values(), strict=True)
        assert any(not torch.equal(a, b) for a, b in pairs)
    assert len(sft_summary["agents"]) == 3


def test_marl_and_eval_run_each_agent_through_its_own_template(run):
    cfg, root, _, chat, _, marl_summary = run
    assert marl_summary["steps"] == 1 and marl_summary["after"]
    carried = TeamDir(marl_summary["team"]).summariser_choice()
    assert carried["agent"] == "chat" and carried["carried_from"] == marl_summary["start_team"]
    from actors.rollout import build_backends
    from m1.synth import read_split
    from m1.team.cpp import run_episode
    from m1.team.memory import SharedMemory
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue

    b = build_backends(cfg, marl_summary["team"], use_ray=False)
    q = read_split(root / "run" / "synth" / "test")[0]
    ep = run_episode(q, b.team, b.tools, complete_topology(3), catalogue(), cfg.cpp, seed=0, memory=SharedMemory())
    gtok, ctok = b.team.tokenizers[0], b.team.tokenizers[1]
    first = {a.name: a.turns[0].prompt_ids for a in ep.agents}
    assert first["gemma"][0] == gtok.bos_token_id
    assert first["chat"][0] == ctok.convert_tokens_to_ids("<|im_start|>")
    assert b.team.tokenizers[2].bos_token_id is None and not b.team.tokenizers[2].chat_template  # bare prompt
    assert json.loads((root / "run" / "marl" / "marl_summary.json").read_text())["steps"] == 1


def test_annotation_sft_and_marl_record_where_they_came_from(run, capsys):
    """Each stage records the commit, packages and machine it ran on, so two builds of one seed that
    disagree can be told apart (stop 37's seed-0 rebuild did not match and nothing said why)."""
    import subprocess

    from cli import main
    from m1.provenance import read, record

    cfg, root, _, _, sft_summary, marl_summary = run
    now = record()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    data = json.loads((root / "run" / "sft" / "data" / "manifest.json").read_text())
    team = json.loads((Path(sft_summary["team"]) / "team.json").read_text())
    marl_team = json.loads((Path(marl_summary["team"]) / "team.json").read_text())
    for rec in (data["provenance"], team["sft"]["provenance"], sft_summary["provenance"],
                marl_team["marl"]["provenance"], marl_summary["provenance"]):
        assert rec["commit"] == head and rec["packages"] == now["packages"]
        assert rec["versions"]["torch"] == torch.__version__
        assert rec["machine"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert marl_team["marl"]["provenance"]["from_step"] == 0  # a fresh MARL run, not a resume
    assert read(sft_summary["team"])[1] == team["sft"]["provenance"]
    assert read(marl_summary["team"])[1] == marl_team["marl"]["provenance"]  # the MARL record, not the SFT one
    assert main(["models", "provenance", sft_summary["team"], marl_summary["team"]]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "from_step: None -> 0"  # nothing else differs
