"""The small evaluation helper: per-question results from hand-made episodes and their summary."""

import sys
from pathlib import Path

import pytest

from m1.config import CPPConfig
from m1.evaluation.summary import (
    RESULT_FIELDS,
    headline,
    markdown_table,
    result_from_episode,
    summarise,
    uniform_frames,
)
from m1.schema import Family, Question, TaskType
from m1.team.cpp import run_episode
from m1.team.topology import complete_topology

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, ScriptedTeam  # noqa: E402
from test_sft_filter import Tools, script  # noqa: E402

MC = Question(qid="m", video="/v.mp4", question="?", options=["a", "b"], answer="B", duration=30.4,
              task_type=TaskType.MULTIPLE_CHOICE, family=Family.REASONING)
NUM = Question(qid="n", video="/v.mp4", question="how far?", answer="2.0", duration=12.0,
               task_type=TaskType.NUMERIC, family=Family.SPATIAL)


def run(q, scripts):
    return run_episode(q, ScriptedTeam(scripts), Tools(), complete_topology(len(scripts)), CATALOGUE, CPPConfig())


def test_results_and_summary_from_episodes():
    good = run(MC, [script('1. fine_browser {"start":1,"end":2}', "B"), script("garbage", "B"),
                    script('1. fine_browser {"start":1,"end":2}', "zzz")])
    r = result_from_episode(good)
    assert (r.score, r.metric, r.answer) == (1.0, "accuracy", "B")
    assert r.plan_parse == pytest.approx(2 / 3) and r.answer_parse == pytest.approx(2 / 3)
    assert r.tool_calls == 1 and r.steps_per_agent == pytest.approx(2 / 3) and r.uniform_frames == 30
    num = result_from_episode(run(NUM, [script('1. global_sampling {"n":4}', "2.4")]))
    assert num.metric == "MRA" and num.score == pytest.approx(0.7)  # 20% error: thresholds 0.50..0.80 hit
    s = summarise([f"{x.family}/{x.metric}" for x in (r, num)],
                  [{f: getattr(x, f) for f in RESULT_FIELDS} for x in (r, num)])
    assert list(s) == ["reasoning/accuracy", "spatial/MRA", "all"] and list(s["all"]) == ["n", *RESULT_FIELDS]
    assert s["reasoning/accuracy"]["n"] == 1 and s["spatial/MRA"]["score"] == pytest.approx(num.score)
    assert s["all"]["score"] == pytest.approx((1.0 + num.score) / 2)
    assert s["all"]["uniform_frames"] == pytest.approx((30 + 12) / 2)
    table = markdown_table({"team": [r, num]})
    assert "| team | all | 2 |" in table and table.count("\n") == 4


def test_uniform_frames_needs_a_duration():
    assert uniform_frames(MC, fps=2.0) == 61
    with pytest.raises(ValueError, match="no duration"):
        uniform_frames(MC.model_copy(update={"duration": None}))


def test_evaluate_team_seeds_each_question_like_m1_eval():
    from m1.evaluation.harness import question_seed
    from m1.evaluation.summary import evaluate_team

    qs = [MC, NUM]
    team = ScriptedTeam([script('1. global_sampling {"n":4}', "B")])
    _, episodes = evaluate_team(qs, team, Tools(), CATALOGUE, CPPConfig(), seed=3)
    assert [ep.seed for ep in episodes] == [question_seed(3, "m"), question_seed(3, "n")]
    assert episodes[0].seed != episodes[1].seed


def test_summarise_groups_rows_and_headline_flattens_it():
    rows = [{"score": 1.0, "frames": 4, "tool_calls": 1}, {"score": 0.25, "frames": 8, "tool_calls": 2},
            {"score": 0.5, "frames": 0, "tool_calls": 0}]
    s = summarise(["spatial", "grounding", "spatial"], rows)
    assert list(s) == ["grounding", "spatial", "all"]
    assert s["grounding"] == {"n": 1, "score": 0.25, "frames": 8.0, "tool_calls": 2.0}
    assert s["spatial"] == {"n": 2, "score": 0.75, "frames": 2.0, "tool_calls": 0.5}
    assert s["all"]["n"] == 3 and s["all"]["score"] == pytest.approx(1.75 / 3) and s["all"]["frames"] == 4.0
    assert headline(s) == pytest.approx({"accuracy": 1.75 / 3, "frames_per_query": 4.0, "tool_calls_per_query": 1.0,
                                         "score/grounding": 0.25, "score/spatial": 0.75})
    assert summarise([], []) == {}
    assert headline({}) == {"accuracy": 0.0, "frames_per_query": 0.0, "tool_calls_per_query": 0.0}
    with pytest.raises(ValueError, match="2 groups but 1 rows"):
        summarise(["a", "b"], [{"score": 1.0}])
