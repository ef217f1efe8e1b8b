"""benchmarks/collaboration.py: per-family scores, paired differences against the base system, the
cost table against 1 fps, and what the vote did to the agents' own answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from m1.evaluation.predictions import Prediction
from m1.schema import Family, Question, TaskType

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import collaboration  # noqa: E402


def _q(i: int, family: Family) -> Question:
    return Question(qid=f"q{i}", video="/v.mp4", question="?", options=["a", "b", "c", "d"], answer="A",
                    task_type=TaskType.MULTIPLE_CHOICE, family=family, duration=20.0)


QS = [_q(i, Family.SPATIAL if i < 4 else Family.LONG_VIDEO) for i in range(8)]


def _pred(system: str, q: Question, answer: str, agents: dict[str, str | None] | None = None) -> Prediction:
    return Prediction(qid=q.qid, system=system, prediction=answer, frames=10 if system == "team" else 4,
                      seconds=1.0, tool_calls=2, agent_answers=agents or {})


def test_the_report_scores_pairs_and_counts_the_vote():
    # the team is right everywhere; solo misses the four spatial questions
    team = {q.qid: _pred("team", q, "A", {"x": "A", "y": "B" if q.qid == "q0" else "A"}) for q in QS}
    solo = {q.qid: _pred("solo", q, "D" if q.family == Family.SPATIAL else "A") for q in QS}
    solo["q7"] = solo["q7"].model_copy(update={"error": "1 tool error(s), first: tool call exceeded tools.timeout"})
    results = collaboration.scored(QS, {"team": team, "solo": solo})
    text = collaboration.table(QS, results, "team", seed=0, resamples=500)
    rows = {line.split(" | ")[0].strip("| *"): line for line in text.splitlines() if line.startswith("| ")}
    assert "| 4 | 1.000 | 0.000 | +1.000 [+1.000, +1.000] |" in rows["spatial/acc"]
    assert "| 4 | 1.000 | 1.000 | +0.000 [+0.000, +0.000] |" in rows["long_video/acc"]
    assert "| 8 | 1.000 | 0.500 | +0.500 [" in rows["all"]
    # the cost table counts the questions whose answer met a tool error (a timeout under load, say)
    assert "| team | 10.0 | 20.0 | 1.00 | 2.00 | 0 | — |" in text
    assert "| solo | 4.0 | 20.0 | 1.00 | 2.00 | 1 | +6.0 [+6.0, +6.0] |" in text  # frames, paired like the scores
    both = collaboration.seed_mean([results["solo"], results["solo"]])
    assert both["q7"]["tool_errors"] == 2 and both["q0"]["tool_errors"] == 0 and both["q0"]["frames"] == 4
    inside = collaboration.inside_team(QS, team)
    assert "| x | 1.000 |" in inside and "| y | 0.875 |" in inside
    assert "disagreed on 1 of 8 questions; the team's answer beat the worst agent's on 1" in inside


def test_a_missing_base_system_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no predictions of 'team'"):
        collaboration.main(["--data-dir", str(tmp_path), "--eval-dir", str(tmp_path)])


def test_runs_of_other_evaluations_are_compared_by_name(tmp_path, monkeypatch):
    """--run NAME=DIR pairs one system of another m1 eval (e.g. the SFT team vs the SFT + MARL team)."""
    for name, wrong in (("sft", {"q0", "q1"}), ("marl", set())):
        d = tmp_path / name / "team"
        d.mkdir(parents=True)
        d.joinpath("predictions.jsonl").write_text("".join(
            _pred("team", q, "B" if q.qid in wrong else "A", {"x": "A"}).model_dump_json() + "\n" for q in QS))
    monkeypatch.setattr(collaboration, "load_benchmark", lambda *a: type("B", (), {"questions": QS})())
    out = tmp_path / "report.md"
    assert collaboration.main(["--data-dir", "unused", "--run", f"marl={tmp_path / 'marl' / 'team'}",
                               "--run", f"sft={tmp_path / 'sft' / 'team'}", "--base", "marl", "--md", str(out)]) == 0
    text = out.read_text()
    assert "| spatial/acc | 4 | 1.000 | 0.500 | +0.500 [" in text and "marl:" in text and "sft:" in text
    with pytest.raises(SystemExit, match="NAME=DIR"):
        collaboration.main(["--data-dir", "unused", "--run", "sft"])
    # two seeds of one row as their per-question mean: sft wrong on q0, q1; "sft2" wrong on q1 only
    d = tmp_path / "sft2" / "team"
    d.mkdir(parents=True)
    d.joinpath("predictions.jsonl").write_text("".join(
        _pred("team", q, "B" if q.qid == "q1" else "A", {"x": "A"}).model_dump_json() + "\n" for q in QS))
    runs = ["--run", f"marl={tmp_path / 'marl' / 'team'}", "--run", f"sft={tmp_path / 'sft' / 'team'}",
            "--run", f"sft2={d}"]
    assert collaboration.main(["--data-dir", "unused", *runs, "--mean", "sft_mean=sft+sft2", "--base", "marl",
                               "--md", str(out)]) == 0
    # per question: q0 (1 + 0) / 2, q1 0, the other two spatial questions 1
    assert "| spatial/acc | 4 | 1.000 | 0.500 | 0.750 | 0.625 |" in out.read_text()
    assert collaboration.main(["--data-dir", "unused", *runs, "--mean", "sft_mean=sft+sft2", "--base", "sft_mean",
                               "--md", str(out)]) == 0  # a seed mean can be the base
    assert "| spatial/acc | 4 | 1.000 | 0.500 | 0.750 | 0.625 | -0.375 [" in out.read_text()
    with pytest.raises(SystemExit, match="NAME=A\\+B"):
        collaboration.main(["--data-dir", "unused", *runs, "--mean", "m=sft+nothing", "--base", "marl"])


def test_runs_of_other_tools_are_not_paired(tmp_path, monkeypatch):
    """Two evaluations whose run.json records other tools code (or config) read other errors from the
    same call: refused unless --allow-tool-mismatch, which says so in the report."""
    for name, code in (("a", "1111222233334444"), ("b", "5555666677778888"), ("c", None)):
        d = tmp_path / name
        d.mkdir()
        d.joinpath("predictions.jsonl").write_text("".join(_pred("team", q, "A").model_dump_json() + "\n" for q in QS))
        if code:
            d.joinpath("run.json").write_text(json.dumps({"tools_code": code, "tools": {"noise": {"seed": 0}}}))
    monkeypatch.setattr(collaboration, "load_benchmark", lambda *a: type("B", (), {"questions": QS})())
    runs = ["--data-dir", "unused", "--run", f"a={tmp_path / 'a'}", "--run", f"b={tmp_path / 'b'}", "--base", "a"]
    with pytest.raises(SystemExit, match=r"different tools_code \(a: 1111222233334444; b: 5555666677778888\)"):
        collaboration.main(runs)
    out = tmp_path / "r.md"
    assert collaboration.main([*runs, "--allow-tool-mismatch", "--md", str(out)]) == 0
    assert "WARNING: the runs used different tools_code" in out.read_text()
    # the same code; a run that recorded none (older) is named, not refused
    (tmp_path / "b" / "run.json").write_text(json.dumps({"tools_code": "1111222233334444",
                                                         "tools": {"noise": {"seed": 0}}}))
    assert collaboration.main([*runs, "--run", f"c={tmp_path / 'c'}", "--md", str(out)]) == 0
    assert "Tools code 1111222233334444 (not recorded for c)." in out.read_text()
    (tmp_path / "b" / "run.json").write_text(json.dumps({"tools_code": "1111222233334444",
                                                         "tools": {"noise": {"seed": 1}}}))
    with pytest.raises(SystemExit, match="different tools "):
        collaboration.main(runs)


def test_the_1fps_cost_reads_durations_the_format_lacks(tmp_path):
    """VSI-Bench and Charades-STA rows carry no duration: the 1-fps column reads it from the video
    instead of counting it as 0 (it once halved the recorded 1-fps cost of M1-Synth's short videos)."""
    import numpy as np

    from m1.evaluation.summary import with_durations
    from m1.video import write_video

    video = tmp_path / "v.mp4"
    write_video(video, [np.zeros((64, 64, 3), np.uint8)] * 50, fps=5)  # 10 s
    bare = [q.model_copy(update={"video": str(video), "duration": None}) for q in QS]
    results = collaboration.scored(bare, {"team": {q.qid: _pred("team", q, "A") for q in bare}})
    with pytest.raises(ValueError, match="no duration"):
        collaboration.table(bare, results, "team", seed=0, resamples=100)
    filled = with_durations(bare)
    assert [q.duration for q in filled] == pytest.approx([10.0] * len(QS), abs=0.25)
    assert "| team | 10.0 | 10.0 |" in collaboration.table(filled, results, "team", seed=0, resamples=100)


def test_teacher_teams_are_paired_with_the_trained_team(tmp_path):
    """--teacher-teams-json reads benchmarks/teacher_teams.py's rows as teacher:<name>; rows without
    seconds show a dash, not a zero."""
    import json

    rows = {"oracle": [{"qid": q.qid, "score": 0.0 if q.family == Family.SPATIAL else 1.0, "frames": 8.0,
                        "tool_calls": 3} for q in QS],
            "verify": [{"qid": q.qid, "score": 1.0, "frames": 16.0, "tool_calls": 6, "seconds": 2.0} for q in QS]}
    path = tmp_path / "teams.json"
    path.write_text(json.dumps({"systems": rows, "walls": {}}))
    results = collaboration.scored(QS, {"team": {q.qid: _pred("team", q, "A") for q in QS}})
    results |= collaboration.from_noisy_tools(path, ["oracle", "verify"], prefix="teacher")
    text = collaboration.table(QS, results, "team", seed=0, resamples=200)
    assert "| teacher:oracle | 8.0 | 20.0 | — | 3.00 | — |" in text  # its rows do not record tool errors
    assert "| teacher:verify | 16.0 | 20.0 | 2.00 | 6.00 |" in text
    spatial = next(line for line in text.splitlines() if line.startswith("| spatial/acc"))
    assert "| 1.000 | 0.000 | 1.000 | +1.000 [+1.000, +1.000] | +0.000 [+0.000, +0.000] |" in spatial


def test_aggregations_score_the_base_run_under_other_rules(tmp_path, monkeypatch):
    """--aggregations adds BASE@RULE rows read from the agents' recorded answers and the run's run.json
    (agent order: the summariser is the last agent)."""
    import json

    d = tmp_path / "team"
    d.mkdir()
    # x, y, z: the vote (A) is right; z, the summariser, is wrong on the spatial questions; x is the surest
    lines = [_pred("team", q, "A", {"x": "A", "y": "A", "z": "B" if q.family == Family.SPATIAL else "A"})
             .model_copy(update={"agent_scores": {"x": -0.1, "y": -0.2, "z": -0.3}}) for q in QS]
    d.joinpath("predictions.jsonl").write_text("".join(p.model_dump_json() + "\n" for p in lines))
    settings = {"agents": ["x", "y", "z"], "cpp": {"aggregation": "vote"}, "topology": "complete"}
    d.joinpath("run.json").write_text(json.dumps({"settings": settings}))
    monkeypatch.setattr(collaboration, "load_benchmark", lambda *a: type("B", (), {"questions": QS})())
    out = tmp_path / "report.md"
    assert collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--base", "team",
                               "--aggregations", "summariser,top_score", "--md", str(out)]) == 0
    text = out.read_text()
    assert "| spatial/acc | 4 | 1.000 | 0.000 | 1.000 | +1.000 [+1.000, +1.000] | +0.000 [+0.000, +0.000] |" in text
    assert "team@summariser" in text and "team@top_score" in text and "team@summariser:" not in text
    # RULE/AGENT: the same answers with x as the summariser (a choice made after the evaluation)
    assert collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--base", "team",
                               "--aggregations", "summariser/x,summariser/z", "--md", str(out)]) == 0
    assert "| spatial/acc | 4 | 1.000 | 1.000 | 0.000 | +0.000 [+0.000, +0.000] | +1.000 [+1.000, +1.000] |" in \
        out.read_text()
    with pytest.raises(SystemExit, match="'w' is not an agent"):
        collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--aggregations", "vote/w"])
    d.joinpath("run.json").write_text(json.dumps({"settings": settings | {"topology": "no_comm"}}))
    with pytest.raises(SystemExit, match="exact only for a complete-topology"):
        collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--aggregations", "vote/x"])
    assert collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--base", "team",
                               "--aggregations", "summariser", "--md", str(out)]) == 0
    with pytest.raises(SystemExit, match="--aggregations nonsense"):
        collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--aggregations", "nonsense"])
    d.joinpath("run.json").unlink()
    with pytest.raises(SystemExit, match="run.json"):
        collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--aggregations", "summariser"])


def test_the_rllib_planners_episodes_are_paired_by_question(tmp_path, monkeypatch):
    d = tmp_path / "team"
    d.mkdir()
    d.joinpath("predictions.jsonl").write_text("".join(_pred("team", q, "A").model_dump_json() + "\n" for q in QS))
    episodes = tmp_path / "episodes.jsonl"
    episodes.write_text("".join(
        json.dumps({"system": system, "qid": q.qid, "family": "x", "score": float(system == "ppo" or i % 2),
                    "frames": 7}) + "\n" for system in ("ppo", "solver") for i, q in enumerate(QS)))
    monkeypatch.setattr(collaboration, "load_benchmark", lambda *a: type("B", (), {"questions": QS})())
    out = tmp_path / "report.md"
    assert collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--planner-episodes", str(episodes),
                               "--md", str(out)]) == 0
    text = out.read_text()
    assert "| **all** | 8 | 1.000 | 1.000 | 0.500 | +0.000 [+0.000, +0.000] | +0.500 [" in text
    assert "| planner:ppo | 7.0 | 20.0 | — | — |" in text
    with pytest.raises(SystemExit, match="no file"):
        collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--planner-episodes", str(tmp_path / "x")])


def test_synth_question_ids_pair_with_the_loaded_formats_ids(tmp_path):
    """The planner's cache keeps questions.jsonl's ids; Charades-STA and VSI-Bench rows load with their own."""
    from m1.config import load_config
    from m1.synth import generate_split, read_split

    tiny = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
            "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
    generate_split(load_config(overrides=tiny).synth, tmp_path, "test", 2, seed=3, progress=False)
    loaded = collaboration.load_benchmark("m1_synth", tmp_path, "test").questions
    qids = collaboration.synth_qids(loaded, tmp_path / "test")
    neutral = read_split(tmp_path / "test")
    assert set(qids) == {q.qid for q in neutral} and sorted(qids.values()) == sorted(q.qid for q in loaded)
    by_id = {q.qid: q for q in loaded}
    for q in neutral:
        assert by_id[qids[q.qid]].answer == q.answer or q.task_type != TaskType.MULTIPLE_CHOICE
    assert any(k != v for k, v in qids.items())  # grounding and spatial rows were renamed by their formats


def test_item_vote_reaggregation_by_category_against_a_chosen_system(tmp_path, monkeypatch):
    """--aggregations item_vote scores the base run's open-ended answers voted item by item; --versus takes
    the differences against that row; --by category splits the family into its kinds of list."""
    qs = [Question(qid=f"o{i}", video="/v.mp4", question="?", answer="a, b, c", task_type=TaskType.OPEN_ENDED,
                   family=Family.OPEN_ENDED, category="caption_sequence" if i < 2 else "motion_sequence",
                   duration=20.0, meta={"open_metric": "sequence"}) for i in range(4)]
    # the summariser (z, last) misreads one item; x and y misread others: only the item vote is right
    agents = {"x": "a, b, x", "y": "y, b, c", "z": "a, z, c"}
    d = tmp_path / "team"
    d.mkdir()
    d.joinpath("predictions.jsonl").write_text(
        "".join(_pred("team", q, agents["z"], agents).model_dump_json() + "\n" for q in qs))
    d.joinpath("run.json").write_text(json.dumps({"settings": {"agents": ["x", "y", "z"], "topology": "complete",
                                                               "cpp": {"open_ended_aggregation": "item_vote"}}}))
    monkeypatch.setattr(collaboration, "load_benchmark", lambda *a: type("B", (), {"questions": qs})())
    out = tmp_path / "report.md"
    assert collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--base", "team", "--aggregations",
                               "vote,item_vote", "--versus", "team@item_vote", "--by", "category",
                               "--md", str(out)]) == 0
    text = out.read_text()
    third = 2 * 2 / 6  # item F1 of a, z, c against a, b, c
    assert "| category / metric | n | team | team@vote | team@item_vote | team@item_vote − team [95% CI] |" in text
    assert f"| caption_sequence/F1 | 2 | {third:.3f} | {third:.3f} | 1.000 | {1 - third:+.3f} " in text
    assert f"| motion_sequence/F1 | 2 | {third:.3f} |" in text
    with pytest.raises(SystemExit, match="--versus 'nope' is not a system"):
        collaboration.main(["--data-dir", "unused", "--run", f"team={d}", "--base", "team", "--versus", "nope"])


def test_reparse_reads_recorded_answers_through_todays_parser_for_each_aggregated_system(tmp_path, monkeypatch):
    """Answers recorded before structured lists refused evidence labels (stop 41) vote as lists when read as
    they ran; --reparse reads them as today's parser would (unparseable), so they no longer outvote the one
    real list; --aggregate reads more systems than the base again."""
    qs = [Question(qid=f"o{i}", video="/v.mp4", question="?", answer="a, b, c", task_type=TaskType.OPEN_ENDED,
                   family=Family.OPEN_ENDED, category="caption_sequence", duration=20.0,
                   meta={"open_metric": "sequence"}) for i in range(2)]
    agents = {"x": "a, b, c", "y": "a1", "z": "a2.1.2"}  # the summariser z and y: labels of lines not shown
    settings = {"settings": {"agents": ["x", "y", "z"], "topology": "complete", "cpp": {}}}
    for system in ("team", "no_comm"):
        d = tmp_path / system
        d.mkdir()
        d.joinpath("predictions.jsonl").write_text(
            "".join(_pred(system, q, agents["z"], agents).model_dump_json() + "\n" for q in qs))
        d.joinpath("run.json").write_text(json.dumps(settings))
    monkeypatch.setattr(collaboration, "load_benchmark", lambda *a: type("B", (), {"questions": qs})())
    base = ["--data-dir", "unused", "--run", f"team={tmp_path / 'team'}", "--run", f"no_comm={tmp_path / 'no_comm'}",
            "--aggregations", "item_vote", "--aggregate", "team,no_comm"]
    for flags, want in (([], "0.000"), (["--reparse"], "1.000")):
        out = tmp_path / "report.md"
        assert collaboration.main([*base, *flags, "--md", str(out)]) == 0
        text = out.read_text()
        assert "| family / metric | n | team | no_comm | team@item_vote | no_comm@item_vote |" in text
        assert f"| open_ended/F1 | 2 | 0.000 | 0.000 | {want} | {want} |" in text
    with pytest.raises(SystemExit, match="must be a system read"):
        collaboration.main([*base[:6], "--aggregations", "item_vote", "--aggregate", "team,solo"])
    with pytest.raises(SystemExit, match="act on --aggregations"):
        collaboration.main([*base[:6], "--reparse"])  # alone it would change nothing, silently


def test_reparsed_keeps_what_still_parses():
    from m1.evaluation.harness import reparsed

    lst = Question(qid="o", video="/v.mp4", question="?", answer="a, b", task_type=TaskType.OPEN_ENDED,
                   meta={"open_metric": "set"})
    assert reparsed("red circle, blue square", lst) == "red circle, blue square"
    assert reparsed("a1", lst) is None and reparsed(None, lst) is None
    assert reparsed("a1", lst.model_copy(update={"meta": {}})) == "a1"  # free text keeps it
    assert reparsed("B", QS[0]) == "B" and reparsed("7", QS[0]) is None  # a letter of the options


def test_question_sets_pool_with_their_ids_prefixed(tmp_path, monkeypatch):
    """Several --data-dirs pool held-out sets evaluated separately (ids repeat across data seeds): each
    --run names one directory per set, in order, and a question counts once per set."""
    for s in ("set100", "set200"):
        for name in ("sft", "marl"):
            d = tmp_path / s / name
            d.mkdir(parents=True)
            wrong = {"q0"} if (s, name) == ("set200", "sft") else set()  # sft misses one spatial question of set200
            d.joinpath("predictions.jsonl").write_text("".join(
                _pred("team", q, "B" if q.qid in wrong else "A").model_dump_json() + "\n" for q in QS))
    monkeypatch.setattr(collaboration, "load_benchmark", lambda *a: type("B", (), {"questions": QS})())
    dirs = {name: f"{tmp_path / 'set100' / name},{tmp_path / 'set200' / name}" for name in ("sft", "marl")}
    out = tmp_path / "r.md"
    assert collaboration.main(["--data-dir", "/d/oeh100", "--data-dir", "/d/oeh200", "--run", f"sft={dirs['sft']}",
                               "--run", f"marl={dirs['marl']}", "--base", "sft", "--md", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("16 questions answered by every system")
    assert "| spatial/acc | 8 | 0.875 | 1.000 | -0.125 [" in text  # base − system, as everywhere
    with pytest.raises(SystemExit, match="wants 2 comma-separated directories"):
        collaboration.main(["--data-dir", "a", "--data-dir", "b", "--run", f"sft={tmp_path / 'set100' / 'sft'}"])
    # the RLlib planner's episodes, one file per set: ids prefixed the same way, so they pair per set
    eps = []
    for s in ("set100", "set200"):
        eps.append(tmp_path / s / "episodes.jsonl")
        eps[-1].write_text("".join(json.dumps({"system": "ppo", "qid": q.qid, "family": "x", "frames": 3,
                                               "score": float(not (s == "set100" and q.qid == "q1"))}) + "\n"
                                   for q in QS))
    assert collaboration.main(["--data-dir", "/d/oeh100", "--data-dir", "/d/oeh200", "--run", f"sft={dirs['sft']}",
                               "--planner-episodes", f"{eps[0]},{eps[1]}", "--base", "sft", "--md", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("16 questions answered by every system (sft, planner:ppo)")
    # sft misses set200's q0, the planner set100's q1: equal means, each pair told apart
    assert "| **all** | 16 | 0.938 | 0.938 | +0.000 [" in text
    with pytest.raises(SystemExit, match="--planner-episodes: 2 --data-dirs pool 2 question sets"):
        collaboration.main(["--data-dir", "a", "--data-dir", "b", "--run", f"sft={dirs['sft']}",
                            "--planner-episodes", "x.jsonl", "--base", "sft"])
    assert collaboration.set_label(["/x/oeh100", "/y/oeh100"], 1) == "set1"
