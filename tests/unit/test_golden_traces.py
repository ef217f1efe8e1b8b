"""Pinned episode traces: fixed seeds give exactly the recorded plans, tool calls, tool outputs,
prompts, answers and frames — for the oracle teacher team (the SFT annotation path, real tools on
a real M1-Synth video) and for an untrained tiny team sampling at temperature (the MARL rollout
path). The fixture was written before the library was reorganised into ``team/``, ``train/`` and
``evaluation/``; a refactor that changes any of these changes behaviour.

Regenerate (only for a deliberate behaviour change, said so in the commit):
``M1_WRITE_GOLDEN=1 python -m pytest tests/unit/test_golden_traces.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from m1.config import load_config

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden_traces.json"
TINY = [
    "team.agents=[{name: a, arch: qwen2, hidden_size: 32, num_layers: 1, num_heads: 2, num_kv_heads: 1, "
    "head_dim: 16, intermediate_size: 64, max_context: 1024}, {name: b, arch: qwen3, hidden_size: 32, "
    "num_layers: 1, num_heads: 2, num_kv_heads: 1, head_dim: 16, intermediate_size: 64, max_context: 1024}]",
    "team.vocab_size=400", "cpp.plan_tokens=24", "cpp.revision_tokens=8", "cpp.answer_tokens=6",
    "cpp.max_rounds=2", "sampling.train.temperature=1.0",
    "synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
    "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30",
]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def digest(ep) -> dict:
    """Everything an episode decides, with long texts as hashes; paths and timings left out."""
    mem = {e.id: e for e in ep.memory}
    return {
        "qid": ep.question.qid,
        "agents": [{
            "agent": t.agent,
            "plans": t.plans,
            "turns": [[u.kind, u.round, _sha(u.prompt), u.text, u.parsed, u.error_kind, u.memory_seen]
                      for u in t.turns],
            "steps": [[s.step, s.round, s.call.tool, json.dumps(s.call.args, sort_keys=True), s.cached,
                       s.ref_error, _sha(mem[s.memory_id].text), mem[s.memory_id].candidate,
                       mem[s.memory_id].error] for s in t.steps],
            "answer": t.answer,
        } for t in ep.agents],
        "final": [ep.final_answer, ep.aggregation, ep.votes],
        "frames": ep.frames_used,
        "tool_calls": ep.tool_calls,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from m1.models import init_team
    from m1.synth import generate_split, read_split

    root = tmp_path_factory.mktemp("golden")
    cfg = load_config(overrides=TINY)
    generate_split(cfg.synth, root / "data", "test", 2, seed=11, progress=False)
    init_team(cfg.team, root / "team", seed=0)
    qs = read_split(root / "data" / "test")
    # one question per family, in a fixed order
    picked = {}
    for q in qs:
        picked.setdefault(q.family.value, q)
    return cfg, [picked[k] for k in sorted(picked)], root


def episodes(cfg, questions, team_dir):
    from m1.checkpoint import agent_dir, load_tokenizer
    from m1.team.cpp import LocalTeam, ToolRunner, run_episode
    from m1.team.memory import SharedMemory
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue
    from m1.train.teachers import OracleTeacher, TeacherTeam

    tools = ToolRunner(cfg.tools, cfg.video)
    cat = catalogue()
    out = {"teacher": [], "student": []}
    tok = load_tokenizer(agent_dir(team_dir, cfg.team.agents[0]))
    teacher = TeacherTeam(OracleTeacher(cfg.sft, seed=3), [a.name for a in cfg.team.agents], tok,
                          [a.max_context for a in cfg.team.agents])
    for q in questions:
        teacher.question = q
        ep = run_episode(q, teacher, tools, complete_topology(2), cat, cfg.cpp, seed=7, memory=SharedMemory())
        out["teacher"].append(digest(ep))
    students = LocalTeam.from_dir(str(team_dir), cfg.team)
    for q in questions[:2]:
        ep = run_episode(q, students, tools, complete_topology(2), cat, cfg.cpp, cfg.sampling.train, seed=5,
                         memory=SharedMemory())
        out["student"].append(digest(ep))
    return out


@pytest.mark.slow
def test_episode_traces_match_the_pinned_fixture(world):
    cfg, questions, root = world
    got = json.loads(json.dumps(episodes(cfg, questions, root / "team")))
    if os.environ.get("M1_WRITE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert len(got["teacher"]) == 4 and len(got["student"]) == 2
    for kind in ("teacher", "student"):
        for g, w in zip(got[kind], want[kind], strict=True):
            assert g == w, f"{kind} episode {w['qid']} differs from the pinned trace"
