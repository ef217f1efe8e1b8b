"""The small evaluation helper: per-question results from hand-made episodes and their summary."""

import sys
from pathlib import Path

import pytest

from m1.config import CPPConfig
from m1.evaluation.summary import markdown_table, result_from_episode, summarise, uniform_frames
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
    s = summarise([r, num])
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
