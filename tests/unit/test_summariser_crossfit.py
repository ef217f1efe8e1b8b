"""benchmarks/summariser_crossfit.py: each agent as the summariser of one recorded team run, and the
best agent chosen by two-fold cross-fitting over videos (no answer scored by a choice that saw it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from m1.evaluation.predictions import Prediction
from m1.schema import Family, Question, TaskType

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import summariser_crossfit  # noqa: E402


def _q(i: int) -> Question:
    return Question(qid=f"q{i}", video=f"/v{i // 2}.mp4", question="?", options=["a", "b", "c", "d"], answer="A",
                    task_type=TaskType.MULTIPLE_CHOICE, family=Family.SPATIAL if i < 6 else Family.LONG_VIDEO,
                    duration=20.0, meta={"video_id": f"v{i // 2}"})


QS = [_q(i) for i in range(8)]  # four videos of two questions: folds {v0, v2} and {v1, v3}


def _run(tmp_path, answers, topology="complete"):
    d = tmp_path / "team"
    d.mkdir(exist_ok=True)
    lines = [Prediction(qid=q.qid, system="team", prediction=answers[q.qid]["z"], frames=1, seconds=1.0,
                        tool_calls=1, agent_answers=answers[q.qid], aggregation="summariser") for q in QS]
    d.joinpath("predictions.jsonl").write_text("".join(p.model_dump_json() + "\n" for p in lines))
    settings = {"agents": ["x", "y", "z"], "cpp": {"aggregation": "summariser"}, "topology": topology}
    d.joinpath("run.json").write_text(json.dumps({"settings": settings}))
    return d


def test_folds_keep_a_videos_questions_together():
    a, b = summariser_crossfit.folds(QS)
    assert [q.qid for q in a] == ["q0", "q1", "q4", "q5"] and [q.qid for q in b] == ["q2", "q3", "q6", "q7"]


def test_each_fold_is_summarised_by_the_agent_best_on_the_other(tmp_path, monkeypatch, capsys):
    # x is right on fold 0's videos only, y on fold 1's only, z (the run's summariser) never:
    # cross-fitting picks y for fold 0 and x for fold 1, so it scores 0 where a choice in hindsight scores 1
    fold0 = {"v0", "v2"}
    answers = {q.qid: {"x": "A" if q.meta["video_id"] in fold0 else "B",
                       "y": "B" if q.meta["video_id"] in fold0 else "A", "z": "C"} for q in QS}
    d = _run(tmp_path, answers)
    monkeypatch.setattr(summariser_crossfit, "load_benchmark", lambda *a: type("B", (), {"questions": QS})())
    out = tmp_path / "out.json"
    assert summariser_crossfit.main(["--data-dir", "unused", "--eval-dir", str(d), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [f["agent"] for f in res["folds"]] == ["y", "x"]
    assert res["rows"]["cross-fitted best agent"]["score"] == 0.0
    assert res["rows"]["x as summariser"]["score"] == 0.5 and res["rows"]["run's summariser (z)"]["score"] == 0.0
    assert "| x as summariser | 0.500 | +0.500 [" in capsys.readouterr().out
    # --families narrows the questions; a family with none is an error, not an empty table
    assert summariser_crossfit.main(["--data-dir", "unused", "--eval-dir", str(d), "--families", "long_video",
                                     "--json", str(out)]) == 0
    assert json.loads(out.read_text())["questions"] == 2
    with pytest.raises(SystemExit, match="no question"):
        summariser_crossfit.main(["--data-dir", "unused", "--eval-dir", str(d), "--families", "grounding"])


def test_a_run_without_a_complete_topology_is_refused(tmp_path):
    d = _run(tmp_path, {q.qid: {"x": "A", "y": "A", "z": "A"} for q in QS}, topology="no_comm")
    with pytest.raises(SystemExit, match="exact only for a complete-topology"):
        summariser_crossfit.main(["--data-dir", "unused", "--eval-dir", str(d)])


def test_a_run_recorded_before_the_item_vote_is_read_under_the_summariser_it_used():
    """A run.json predating cpp.open_ended_aggregation aggregated open-ended lists by the summariser: read
    again, it must not take today's default (the item vote) and change its recorded answers."""
    from m1.evaluation.harness import recorded_cpp

    q = Question(qid="o", video="/v.mp4", question="?", answer="a, b", task_type=TaskType.OPEN_ENDED,
                 family=Family.OPEN_ENDED, meta={"open_metric": "sequence"})
    pred = Prediction(qid="o", system="team", prediction="x, y", frames=1, seconds=1.0, tool_calls=1,
                      agent_answers={"p": "a, b", "r": "a, b", "s": "x, y"})
    old = summariser_crossfit.per_agent_scores([q], {"o": pred}, ["p", "r", "s"], {"aggregation": "vote"})
    assert old == {"p": {"o": 1.0}, "r": {"o": 1.0}, "s": {"o": 0.0}}  # the summariser's own list
    new = summariser_crossfit.per_agent_scores([q], {"o": pred}, ["p", "r", "s"],
                                               {"aggregation": "vote", "open_ended_aggregation": "item_vote"})
    assert new == {"p": {"o": 1.0}, "r": {"o": 1.0}, "s": {"o": 1.0}}  # the vote, whoever summarises
    assert recorded_cpp({})["open_ended_aggregation"] == "summariser"
