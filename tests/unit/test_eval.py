"""The evaluation harness with scripted policies and fake tools (fast, no models, no video):
resume without duplication, torn/corrupt files, settings checks, the baselines' wiring, metrics
by hand, reports."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from m1.config import CPPConfig
from m1.engines.base import Completion
from m1.evaluation.harness import NoToolsSystem, TeamSystem, no_comm_topology, run_system, system_metrics
from m1.evaluation.predictions import PREDICTIONS, EvalError, Prediction, read_predictions
from m1.evaluation.report import render_markdown, write_report
from m1.schema import Question, TaskType, ToolResult, ToolSpec
from m1.team.plan import PromptLimits, byte_counter
from m1.team.topology import complete_topology

CATALOGUE = [
    ToolSpec(name="fine_browser", description="look closely", args_schema={
        "type": "object", "properties": {"start": {"type": "number"}, "end": {"type": "number"}}}),
    ToolSpec(name="global_sampling", description="n frames", args_schema={
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 64}}}),
]


class ScriptedTeam:
    """Each agent is a function prompt -> text (byte ids); every prompt is recorded."""

    def __init__(self, scripts):
        self.scripts, self.names, self.prompts = scripts, [f"agent{i}" for i in range(len(scripts))], []

    def counter(self, agent):
        return byte_counter

    def limits(self, agent, max_new_tokens, entry_tokens):
        return PromptLimits(max_context=4096, max_new_tokens=max_new_tokens, entry_tokens=4 * entry_tokens)

    def generate(self, requests):
        out = []
        for r in requests:
            self.prompts.append((r.agent, r.prompt))
            text = self.scripts[r.agent](r.prompt)
            ids = list(text.encode())
            out.append(Completion(prompt_ids=[1], completion_ids=ids, text=text, logprobs=[-0.5] * len(ids),
                                  finish_reason="stop"))
        return out


def phase(prompt):
    return prompt.split("\n", 1)[0]


def fixed(plan, answer):
    return lambda p: {"#plan": plan, "#revise": "KEEP", "#answer": answer}[phase(p)]


MANIFEST = {"benchmark": "videomme", "split": "test", "data_dir": "/data"}


def mc(i: int, answer: str = "B", category: str = "counting") -> Question:
    return Question(qid=f"q{i}", video=f"/v{i}.mp4", question=f"How many things in video {i}?",
                    options=["1", "2", "3", "4"], answer=answer, task_type=TaskType.MULTIPLE_CHOICE,
                    category=category)


QUESTIONS = [mc(i) for i in range(6)]


class FlakyTools:
    """Deterministic results (3 new frames per call); raises on the ``fail_on``-th question."""

    def __init__(self, fail_on: str | None = None):
        self.fail_on, self.episodes, self.calls = fail_on, [], []

    def run(self, episode_id, question, calls):
        if question.qid == self.fail_on:
            raise RuntimeError(f"tool worker died on {question.qid}")
        self.episodes.append(episode_id)
        self.calls += [(c.tool, dict(c.args)) for c in calls]
        if any(c.tool == "global_sampling" for c in calls):
            n = calls[0].args["n"]
            text = f"{n} frames over 9.0s, 1 shot(s) seen:\n" + "\n".join(f"t={i}.0 red circle" for i in range(n))
            return [ToolResult(tool=c.tool, args=c.args, text=text, frames_used=n, seconds=0.01) for c in calls]
        return [ToolResult(tool=c.tool, args=c.args, text="saw 2 things candidate=B conf=0.9", candidate="B",
                           confidence=0.9, frames_used=3, seconds=0.01) for c in calls]

    def end(self, episode_id):
        pass


def team_system(tools, name="team", topology=None, scripts=None):
    team = ScriptedTeam(scripts or [fixed('1. fine_browser {"start": 0, "end": 4}', "B")] * 3)
    backends = SimpleNamespace(team=team, tools=tools, memory=None, on_ray=False)
    return TeamSystem(name, backends, CATALOGUE, CPPConfig(max_rounds=2), topology or complete_topology(3),
                      seed=0, team_dir="/teams/t"), team


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_interrupted_run_resumes_without_duplication(tmp_path):
    tools = FlakyTools(fail_on="q3")
    system, _ = team_system(tools)
    with pytest.raises(RuntimeError, match="died on q3"):
        run_system(system, QUESTIONS, tmp_path, MANIFEST)
    assert [p["qid"] for p in lines(tmp_path / PREDICTIONS)] == ["q0", "q1", "q2"]

    tools.fail_on, tools.episodes = None, []
    res = run_system(system, QUESTIONS, tmp_path, MANIFEST)
    assert sorted(tools.episodes) == ["q3#team", "q4#team", "q5#team"]  # only the missing ones ran
    assert (res.reused, res.ran, res.torn_line_dropped) == (3, 3, False)
    qids = [p["qid"] for p in lines(tmp_path / PREDICTIONS)]
    assert sorted(qids) == [q.qid for q in QUESTIONS] and len(qids) == len(set(qids))
    # a third run does nothing; the resumed predictions equal an uninterrupted run's
    tools.episodes = []
    assert run_system(system, QUESTIONS, tmp_path, MANIFEST).ran == 0 and tools.episodes == []
    fresh = run_system(team_system(FlakyTools())[0], QUESTIONS, tmp_path / "fresh", MANIFEST)
    strip = {"seconds"}
    assert ({k: p.model_dump(exclude=strip) for k, p in res.predictions.items()}
            == {k: p.model_dump(exclude=strip) for k, p in fresh.predictions.items()})
    p0 = res.predictions["q0"]
    assert (p0.prediction, p0.frames, p0.tool_calls, p0.aggregation) == ("B", 3, 1, "vote")
    assert p0.agent_answers == {"agent0": "B", "agent1": "B", "agent2": "B"} and p0.plan_parse == 1.0


def test_a_second_run_into_the_same_directory_is_refused(tmp_path):
    """Two processes answering into one predictions file would each write the questions they share:
    the second is refused, naming the first; a holder that dies holds nothing."""
    import subprocess
    import sys

    hold = ("import sys, time; from pathlib import Path; from m1.evaluation.predictions import held\n"
            "with held(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    system, _ = team_system(FlakyTools())
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EvalError, match=rf"being written by another run \(pid {holder.pid}\)"):
            run_system(system, QUESTIONS, tmp_path, MANIFEST)
        assert not (tmp_path / PREDICTIONS).exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_system(system, QUESTIONS, tmp_path, MANIFEST).ran == len(QUESTIONS)


def test_concurrent_run_keeps_every_finished_question(tmp_path):
    tools = FlakyTools(fail_on="q2")
    system, _ = team_system(tools)
    system.concurrency = 2
    with pytest.raises(RuntimeError):
        run_system(system, QUESTIONS, tmp_path, MANIFEST)
    first = [p["qid"] for p in lines(tmp_path / PREDICTIONS)]
    assert "q2" not in first and len(first) == len(set(first))
    tools.fail_on = None
    res = run_system(system, QUESTIONS, tmp_path, MANIFEST)
    qids = [p["qid"] for p in lines(tmp_path / PREDICTIONS)]
    assert sorted(qids) == [q.qid for q in QUESTIONS] and len(qids) == 6 and res.ran == 6 - len(first)


def test_torn_last_line_is_dropped_and_rerun(tmp_path):
    tools = FlakyTools()
    system, _ = team_system(tools)
    run_system(system, QUESTIONS[:2], tmp_path, MANIFEST)
    path = tmp_path / PREDICTIONS
    whole = path.read_text()
    path.write_text(whole + '{"qid": "q2", "system": "te')  # the process died mid-write
    tools.episodes = []
    res = run_system(system, QUESTIONS[:3], tmp_path, MANIFEST)
    assert res.torn_line_dropped and tools.episodes == ["q2#team"]
    assert [p["qid"] for p in lines(path)] == ["q0", "q1", "q2"]


class TimingOutTools(FlakyTools):
    """A tool call on the questions in ``slow`` times out (as a hung tool, or a busy machine, makes it)."""

    def __init__(self, slow: set[str]):
        super().__init__()
        self.slow = slow

    def run(self, episode_id, question, calls):
        if question.qid not in self.slow:
            return super().run(episode_id, question, calls)
        self.episodes.append(episode_id)
        return [ToolResult(tool=c.tool, args=c.args, text="error: tool call exceeded tools.timeout=60.0 s",
                           error="tool call exceeded tools.timeout=60.0 s", error_kind="timeout") for c in calls]


def test_answers_that_met_a_tool_error_are_asked_again_on_request(tmp_path):
    tools = TimingOutTools(slow={"q1", "q4"})
    system, _ = team_system(tools)
    first = run_system(system, QUESTIONS, tmp_path, MANIFEST)
    assert {k for k, p in first.predictions.items() if p.error} == {"q1", "q4"}
    assert "timeout" in first.predictions["q1"].error and system_metrics("videomme", QUESTIONS,
                                                                         first.predictions)["with_tool_errors"] == 2
    # a plain resume keeps them: the answer met an error, but it is an answer
    tools.slow, tools.episodes = set(), []
    assert run_system(system, QUESTIONS, tmp_path, MANIFEST).ran == 0 and tools.episodes == []
    # asked again on request, only on the questions of this run: the one outside (q4) keeps its answer
    res = run_system(system, QUESTIONS[:3], tmp_path, MANIFEST, retry_tool_errors=True)
    assert (res.retried, res.ran, res.reused) == (1, 1, 2) and tools.episodes == ["q1#team"]
    recorded, _ = read_predictions(tmp_path / PREDICTIONS)
    assert sorted(recorded) == [f"q{i}" for i in range(6)] and recorded["q1"].error is None
    assert recorded["q1"].prediction == "B" and recorded["q4"].error is not None
    # nothing failed now: a second retry has nothing to ask
    assert run_system(system, QUESTIONS[:3], tmp_path, MANIFEST, retry_tool_errors=True).retried == 0


def test_corrupt_or_duplicated_files_are_refused(tmp_path):
    system, _ = team_system(FlakyTools())
    run_system(system, QUESTIONS[:2], tmp_path, MANIFEST)
    path = tmp_path / PREDICTIONS
    good = path.read_text().splitlines()
    path.write_text(good[0] + "\n" + good[0] + "\n")
    with pytest.raises(EvalError, match="'q0' appears twice"):
        run_system(system, QUESTIONS, tmp_path, MANIFEST)
    path.write_text("not json\n" + good[1] + "\n")
    with pytest.raises(EvalError, match="line 1 is not a prediction"):
        read_predictions(path)
    path.write_text(good[0].replace('"system":"team"', '"system":"solver"') + "\n")
    with pytest.raises(EvalError, match="system 'solver', not 'team'"):
        read_predictions(path, "team")


def test_resume_with_other_settings_is_refused(tmp_path):
    system, _ = team_system(FlakyTools())
    run_system(system, QUESTIONS[:2], tmp_path, MANIFEST)
    with pytest.raises(EvalError, match=r"split: was 'test', now 'val'.*--restart"):
        run_system(system, QUESTIONS, tmp_path, {**MANIFEST, "split": "val"})
    system.cpp = CPPConfig(max_rounds=3)
    with pytest.raises(EvalError, match="settings.cpp.max_rounds: was 2, now 3"):
        run_system(system, QUESTIONS, tmp_path, MANIFEST)


def test_run_json_records_the_tools_code_and_a_resume_across_it_is_refused(tmp_path, monkeypatch):
    """A change of the tools' code (e.g. the noise key) makes the same call read other errors: a resume
    must not mix predictions of two tool versions. The commit is recorded and not compared."""
    import m1.evaluation.harness as harness
    from m1.tools import code_fingerprint

    system, _ = team_system(FlakyTools())
    run_system(system, QUESTIONS[:2], tmp_path, MANIFEST)
    recorded = json.loads((tmp_path / "run.json").read_text())
    assert recorded["tools_code"] == code_fingerprint() and len(recorded["tools_code"]) == 16
    assert {"commit", "dirty", "packages", "versions", "machine"} <= set(recorded["provenance"])
    monkeypatch.setattr(harness, "provenance", lambda: {"commit": "another", "dirty": True})
    assert run_system(system, QUESTIONS[:3], tmp_path, MANIFEST).ran == 1  # another commit: resumes
    monkeypatch.setattr("m1.tools.code_fingerprint", lambda: "0123456789abcdef")
    with pytest.raises(EvalError, match=r"tools_code: was '[0-9a-f]{16}', now '0123456789abcdef'.*--restart"):
        run_system(system, QUESTIONS, tmp_path, MANIFEST)


def test_the_tools_fingerprint_follows_the_tools_code(tmp_path, monkeypatch):
    import shutil

    import m1.tools as tools_pkg

    root = tmp_path / "m1"
    for sub in tools_pkg.FINGERPRINTED:
        shutil.copytree(Path(tools_pkg.__file__).resolve().parents[1] / sub, root / sub)
    monkeypatch.setattr(tools_pkg, "__file__", str(root / "tools" / "__init__.py"))
    fresh = tools_pkg.code_fingerprint.__wrapped__
    before = fresh()
    assert before == tools_pkg.code_fingerprint()  # the copy hashes like the package
    with (root / "tools" / "noise.py").open("a") as f:
        f.write("\n# an edit\n")
    assert fresh() != before


def test_a_smaller_question_set_scores_only_its_questions(tmp_path):
    system, _ = team_system(FlakyTools())
    run_system(system, QUESTIONS[:4], tmp_path, MANIFEST)
    res = run_system(system, QUESTIONS[:2], tmp_path, MANIFEST)
    assert (res.ran, res.reused, res.extra_in_file, sorted(res.predictions)) == (0, 2, 2, ["q0", "q1"])
    assert system_metrics("videomme", QUESTIONS[:2], res.predictions)["score"]["n"] == 2


def test_no_comm_agents_never_see_each_other():
    def prompts_of(topology):
        scripts = [fixed(f'1. fine_browser {{"start": {i}, "end": 4}}', "B") for i in range(3)]
        system, team = team_system(FlakyTools(), topology=topology, scripts=scripts)
        system.predict(QUESTIONS[0])
        return [p for a, p in team.prompts if a == 0 and phase(p) in ("#revise", "#answer")]

    shared = prompts_of(complete_topology(3))
    alone = prompts_of(no_comm_topology(3))
    assert shared and alone
    assert any("[a1." in p for p in shared) and any("[a2." in p for p in shared)
    assert not any("[a1." in p or "[a2." in p for p in alone)
    assert all("[a0." in p for p in alone if phase(p) == "#answer")


def test_no_tools_answers_from_uniform_frames_only():
    tools = FlakyTools()
    team = ScriptedTeam([lambda p: "C", lambda p: "the answer is (A)"])
    single = NoToolsSystem(team, tools, CPPConfig(), agent=1, frames=5, seed=0, team_dir="/t")
    p = single.predict(QUESTIONS[0])
    assert tools.calls == [("global_sampling", {"n": 5})]  # no plan, no other tool
    [(agent, prompt)] = team.prompts
    assert agent == 1 and phase(prompt) == "#answer"
    assert all(f"t={i}.0 red circle" in prompt for i in range(5))  # every frame, one line each
    # the strict answer format failed, so the raw text goes to the official parser
    assert (p.prediction, p.frames, p.tool_calls, p.agent_answers) == ("the answer is (A)", 5, 1, {"agent1": None})
    assert system_metrics("videomme", [mc(0, answer="A")], {"q0": p})["score"]["overall"] == 100.0
    with pytest.raises(EvalError, match="frames must be in"):
        NoToolsSystem(team, tools, CPPConfig(), agent=0, frames=0, seed=0, team_dir="/t")


def pred(qid, text, frames, seconds, agents=None):
    return Prediction(qid=qid, system="team", prediction=text, frames=frames, seconds=seconds, tool_calls=2,
                      agent_answers=agents or {}, answer_parse=1.0)


def test_metrics_by_hand():
    qs = [mc(0, "A", "count"), mc(1, "B", "count"), mc(2, "C", "order"), mc(3, "D", "order")]
    preds = {
        "q0": pred("q0", "A", 10, 1.0, {"x": "A", "y": "B"}),
        "q1": pred("q1", "C", 20, 2.0, {"x": "C", "y": "B"}),
        "q2": pred("q2", "", 30, 3.0, {"x": None, "y": "C"}),  # no answer: unparseable, not missing
    }
    m = system_metrics("videomme", qs, preds)
    s = m["score"]
    assert (s["n"], s["overall"], s["unparseable"], s["missing"]) == (4, 25.0, 1, 1)
    assert s["by_category"] == {"count": 50.0, "order": 0.0}
    e = m["efficiency"]
    assert e["frames_per_query"]["mean"] == 20.0 and e["frames_per_query"]["median"] == 20.0
    assert e["seconds_per_query"]["mean"] == 2.0 and e["tool_calls_per_query"] == 2.0 and e["queries"] == 3
    # each agent scored alone over the questions it answered: x 1/3, y 2/3
    assert m["per_agent"]["x"]["overall"] == pytest.approx(100 / 3)
    assert m["per_agent"]["y"]["overall"] == pytest.approx(200 / 3)


def test_report_files(tmp_path):
    qs = [mc(0, "A", "count"), mc(1, "B", "order")]
    preds = {"team": [pred("q0", "A", 10, 1.0, {"x": "A", "y": "A"}), pred("q1", "A", 4, 0.5, {"x": "A", "y": "B"})],
             "solver": [pred("q0", "A", 3, 0.1), pred("q1", "B", 5, 0.2)]}
    metrics = {n: system_metrics("videomme", qs, {p.qid: p for p in ps}) for n, ps in preds.items()}
    paths = write_report(tmp_path, "videomme", "test", qs, metrics, preds, command="m1 eval ...")
    md = paths["markdown"].read_text()
    assert "| team | 2 | 50.0 | 0 | 0 | 7.0 | 7.0 | 0.8 | 0.8 | 2.0 |" in md
    assert "| solver | 2 | 100.0 |" in md
    assert "| count | 1 | 100.0 | 100.0 |" in md and "| order | 1 | 0.0 | 100.0 |" in md
    assert "| team | 50.0 | 50.0 | 100.0 |" in md  # per agent: x 50, y 100
    assert "![" in md and "m1 eval ..." in md
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(paths["metrics"].read_text())
    assert saved["systems"]["solver"]["score"]["overall"] == 100.0
    assert render_markdown("videomme", "test", qs, metrics, plot=None).count("![") == 0


def test_cli_errors_are_clear(tmp_path, capsys):
    from cli import main

    assert main(["eval", "--benchmark", "m1_synth", "--data-dir", str(tmp_path), "--system", "team,bogus"]) == 2
    assert "--system must list systems among" in capsys.readouterr().err
    assert main(["eval", "--benchmark", "nope", "--data-dir", str(tmp_path)]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    assert main(["eval", "--benchmark", "lvb", "--data-dir", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    # the fixture has annotations but no videos: every row is dropped, and the run says so
    fixture = "tests/fixtures/benchmarks/longvideobench"
    assert main(["eval", "--benchmark", "longvideobench", "--data-dir", fixture, "--system", "solver",
                 f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "missing_video" in err and "no question loaded" in err
