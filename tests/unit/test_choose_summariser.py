"""The team's summariser: chosen as its best agent scored alone on a validation split, stored in
team.json, and applied with the precedence explicit cpp.summariser > stored choice > last agent."""

import json
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, RecordingTools, ScriptedTeam, fixed  # noqa: E402

from m1.checkpoint import ModelError, TeamDir  # noqa: E402
from m1.config import CPPConfig, TeamConfig, load_config  # noqa: E402
from m1.data import load_benchmark, score  # noqa: E402
from m1.evaluation.harness import solo_topology  # noqa: E402
from m1.evaluation.predictions import EvalError, Prediction  # noqa: E402
from m1.evaluation.summariser import choose_summariser, pick  # noqa: E402
from m1.models import with_team_summariser  # noqa: E402
from m1.schema import Question, TaskType  # noqa: E402
from m1.team.cpp import StaleSummariserWarning, run_episode, summariser_index, team_summariser  # noqa: E402
from m1.team.memory import SharedMemory  # noqa: E402
from m1.team.rollout import Backends  # noqa: E402
from m1.team.topology import complete_topology  # noqa: E402

NAMES = ["small", "mid", "large"]


def test_precedence_explicit_then_stored_then_last():
    assert summariser_index(NAMES, CPPConfig()) == 2
    assert summariser_index(NAMES, CPPConfig(), stored="small") == 0
    assert summariser_index(NAMES, CPPConfig(summariser="mid"), stored="small") == 1
    with pytest.raises(ValueError, match="cpp.summariser = 'gone' is not an agent"):
        summariser_index(NAMES, CPPConfig(summariser="gone"), stored="small")


def test_a_stale_stored_choice_is_ignored_with_a_warning():
    with pytest.warns(StaleSummariserWarning, match="'gone' is not an agent of the team.*using the last agent"):
        assert summariser_index(NAMES, CPPConfig(), stored="gone") == 2


def team_dir(tmp_path, choice=None):
    td = TeamDir(tmp_path / "team")
    td.write_manifest(TeamConfig(), seed=0)  # a manifest only: no model is loaded here
    if choice is not None:
        td.write_summariser_choice(choice)
    return td


def test_the_stored_choice_is_read_from_the_manifest(tmp_path):
    cfg = load_config()
    names = [a.name for a in cfg.team.agents]
    old = team_dir(tmp_path)  # a manifest written before the field existed
    assert old.summariser_choice() is None and team_summariser(cfg.cpp, names, old.root) is cfg.cpp
    td = team_dir(tmp_path, {"agent": names[0], "scores": {n: 1.0 for n in names}})
    body = json.loads(td.manifest_path.read_text())
    assert body["summariser"]["agent"] == names[0] and body["seed"] == 0 and "team" in body  # the rest is kept
    assert team_summariser(cfg.cpp, names, td.root).summariser == names[0]
    assert with_team_summariser(cfg, td.root).cpp.summariser == names[0]
    explicit = load_config(overrides=[f"cpp.summariser={names[1]}"])
    assert with_team_summariser(explicit, td.root).cpp.summariser == names[1]
    # narrowed by team.use to agents without the chosen one: warned, the last agent of the narrowed team
    narrowed = load_config(overrides=[f"team.use=[{names[1]},{names[2]}]"])
    with pytest.warns(StaleSummariserWarning):
        assert with_team_summariser(narrowed, td.root).cpp.summariser is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert with_team_summariser(cfg, tmp_path / "no-team").cpp.summariser is None  # no manifest: no choice


def test_a_malformed_choice_is_a_clear_error(tmp_path):
    td = team_dir(tmp_path)
    with pytest.raises(ModelError, match="needs an 'agent' name"):
        td.write_summariser_choice({"scores": {}})
    body = json.loads(td.manifest_path.read_text())
    td.manifest_path.write_text(json.dumps({**body, "summariser": "large"}))
    with pytest.raises(ModelError, match="must be an object with an 'agent' name"):
        td.summariser_choice()


def mc(i, answer):
    return Question(qid=f"v{i}", video="/v.mp4", question=f"What colour {i}?", options=["red", "green", "blue", "cyan"],
                    answer=answer, task_type=TaskType.MULTIPLE_CHOICE)


def test_choose_summariser_scores_each_agent_alone_and_stores_the_best(tmp_path):
    questions = [mc(0, "B"), mc(1, "B"), mc(2, "A"), mc(3, "C")]
    # alone, agent0 (always B) gets 2/4, agent1 (always A) 1/4, agent2 (always C) 1/4: the best is not the last
    scripts = [fixed('1. global_sampling {"n":4}', x) for x in "BAC"]
    team = ScriptedTeam(scripts)
    backends = Backends(team, RecordingTools(), SharedMemory(), on_ray=False)
    td = team_dir(tmp_path)
    cfg = load_config(overrides=["cpp.max_rounds=1"])
    out = tmp_path / "choice"
    choice = choose_summariser(backends, cfg, td.root, "m1_synth", "val", questions, tmp_path / "data", out)
    assert choice["agent"] == "agent0" and choice["scores"] == {"agent0": 50.0, "agent1": 25.0, "agent2": 25.0}
    assert td.summariser_choice() == choice and choice["split"] == "val" and choice["questions"] == 4
    for name in team.names:  # each agent ran alone: its predictions carry only its own answer
        preds = [Prediction.model_validate_json(x) for x in (out / name / "predictions.jsonl").read_text().splitlines()]
        assert [list(p.agent_answers) for p in preds] == [[name]] * 4
        assert score("m1_synth", questions, {p.qid: p.prediction for p in preds})["overall"] == choice["scores"][name]
        assert json.loads((out / name / "run.json").read_text())["settings"]["cpp"]["summariser"] == name
    # the team now runs with agent0 as summariser: it wins a 1-1-1 tie
    cpp = team_summariser(cfg.cpp, team.names, td.root)
    ep = run_episode(questions[0], team, RecordingTools(), complete_topology(3), CATALOGUE, cpp, seed=0)
    assert ep.summariser == 0 and ep.votes == {"A": 1, "B": 1, "C": 1} and ep.final_answer == "B"
    # a rerun reuses every prediction and chooses the same
    n_requests = len(team.requests)
    again = choose_summariser(backends, cfg, td.root, "m1_synth", "val", questions, tmp_path / "data", out)
    assert again["agent"] == "agent0" and len(team.requests) == n_requests


def test_choosing_by_team_scores_each_agent_in_the_summarisers_role_from_one_team_run(tmp_path):
    questions = [mc(0, "B"), mc(1, "B"), mc(2, "A"), mc(3, "C")]
    # alone agent0 and agent1 (always B) get 2/4, agent2 (always A) 1/4; in the team B wins 2-1 whoever
    # summarises, so every agent summarises the team equally well and the tie goes to the last
    scripts = [fixed('1. global_sampling {"n":4}', x) for x in "BBA"]
    team = ScriptedTeam(scripts)
    backends = Backends(team, RecordingTools(), SharedMemory(), on_ray=False)
    cfg = load_config(overrides=["cpp.max_rounds=1"])
    alone = choose_summariser(backends, cfg, team_dir(tmp_path / "a").root, "m1_synth", "val", questions,
                              tmp_path / "data", tmp_path / "alone")
    assert alone["agent"] == "agent1" and alone["by"] == "alone"
    n_requests = len(team.requests)
    td = team_dir(tmp_path / "t")
    out = tmp_path / "by_team"
    choice = choose_summariser(backends, cfg, td.root, "m1_synth", "val", questions, tmp_path / "data", out,
                               by="team")
    assert choice["scores"] == {"agent0": 50.0, "agent1": 50.0, "agent2": 50.0} and choice["agent"] == "agent2"
    assert choice["by"] == "team" and td.summariser_choice() == choice
    preds = [Prediction.model_validate_json(x) for x in (out / "team" / "predictions.jsonl").read_text().splitlines()]
    assert [set(p.agent_answers) for p in preds] == [set(team.names)] * 4  # one team run, every agent answered
    assert not (out / "agent0").exists()
    once = len(team.requests) - n_requests
    assert once > 0
    # a rerun reuses the team's predictions: no generation at all
    assert choose_summariser(backends, cfg, td.root, "m1_synth", "val", questions, tmp_path / "data", out,
                             by="team")["agent"] == "agent2"
    assert len(team.requests) - n_requests == once
    with pytest.raises(EvalError, match="unknown way"):
        choose_summariser(backends, cfg, td.root, "m1_synth", "val", questions, tmp_path / "data", out, by="vote")
    # where the vote ties 1-1-1 the summariser decides: each agent's score is the team's under its answer
    tied = Backends(ScriptedTeam([fixed('1. global_sampling {"n":4}', x) for x in "BAC"]), RecordingTools(),
                    SharedMemory(), on_ray=False)
    choice = choose_summariser(tied, cfg, team_dir(tmp_path / "tied").root, "m1_synth", "val", questions,
                               tmp_path / "data", tmp_path / "tied_out", by="team")
    assert choice["scores"] == {"agent0": 50.0, "agent1": 25.0, "agent2": 25.0} and choice["agent"] == "agent0"


def test_ties_go_to_the_later_agent_and_bad_input_is_refused():
    assert pick({"a": 50.0, "b": 50.0, "c": 10.0}) == "b"
    assert pick({"a": 0.0, "b": 0.0}) == "b"
    with pytest.raises(EvalError):
        pick({})
    with pytest.raises(EvalError):
        solo_topology(3, 3)
    t = solo_topology(3, 1)
    assert t.active_agents == [1] and t.edges == ()


TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
SMALL_TEAM = ["team.use=[qwen2-small,qwen3-small]", "cpp.max_rounds=1", "cpp.plan_tokens=32", "cpp.answer_tokens=8"]


@pytest.mark.slow  # ~17 s on an idle 2-core machine: synth, models init, the command, one eval question
def test_the_command_on_a_tiny_team_stores_the_choice_and_eval_and_serving_use_it(tmp_path, capsys):
    from cli import main
    from m1.serving.service import build_local_service

    data, team = tmp_path / "data", tmp_path / "team"
    assert main(["synth", "--out", str(data), "--split", "val", "--n", "2", "--no-progress", *TINY]) == 0
    assert main(["models", "init", "--out", str(team), *SMALL_TEAM]) == 0
    capsys.readouterr()
    choose = ["models", "choose-summariser", "--team", str(team), "--data-dir", str(data), "--split", "val",
              "--limit", "2", "--no-progress", *SMALL_TEAM]
    assert main(choose) == 0
    printed = capsys.readouterr().out
    choice = TeamDir(team).summariser_choice()
    assert set(choice["scores"]) == {"qwen2-small", "qwen3-small"} and choice["agent"] == pick(choice["scores"])
    assert f"summariser of {team.resolve()}: {choice['agent']}" in printed
    out = team / "summariser_eval" / "m1_synth-val"
    for name, s in choice["scores"].items():  # each score is the official score of that agent's stored predictions
        preds = [Prediction.model_validate_json(x) for x in (out / name / "predictions.jsonl").read_text().splitlines()]
        qs = load_benchmark("m1_synth", data, "val", limit=2).questions
        assert len(preds) == 2 and score("m1_synth", qs, {p.qid: p.prediction for p in preds})["overall"] == s

    ev = tmp_path / "eval"
    assert main(["eval", "--benchmark", "m1_synth", "--data-dir", str(data), "--split", "val", "--limit", "1",
                 "--team", str(team), "--out", str(ev), "--system", "team,solo", "--no-progress", *SMALL_TEAM]) == 0
    assert json.loads((ev / "team" / "run.json").read_text())["settings"]["cpp"]["summariser"] == choice["agent"]
    # solo: the best single agent (the chosen summariser) alone, for the team-vs-best-agent comparison
    solo = json.loads((ev / "solo" / "run.json").read_text())["settings"]
    assert solo["topology"] == "solo" and solo["cpp"]["summariser"] == choice["agent"]
    [p] = [Prediction.model_validate_json(x) for x in (ev / "solo" / "predictions.jsonl").read_text().splitlines()]
    assert list(p.agent_answers) == [choice["agent"]]
    assert build_local_service(load_config(overrides=SMALL_TEAM), team).cpp.summariser == choice["agent"]

    assert main(["models", "choose-summariser", "--team", str(tmp_path / "nowhere"), "--data-dir", str(data)]) == 2
    assert "holds no team" in capsys.readouterr().err


def test_a_single_agent_run_without_a_stored_choice_says_it_is_the_last_agent_not_the_best():
    from m1.evaluation.summariser import unchosen_agent_note

    names = ["qwen2-small", "qwen2-base", "qwen3-small", "qwen3-base"]
    note = unchosen_agent_note(["team", "solo"], None, None, names, "/t")
    assert note is not None and "'qwen3-base'" in note and "choose-summariser --team /t" in note
    assert "solo answer" in note
    assert unchosen_agent_note(["team", "solo"], None, "qwen2-base", names, "/t") is None  # stored or set
    assert unchosen_agent_note(["solo"], "qwen2-small", None, names, "/t") is None  # --agent
    assert unchosen_agent_note(["team", "no_comm"], None, None, names, "/t") is None  # no single-agent system
