"""`m1 ask` end to end on a generated video with an untrained tiny team."""

import pytest

from cli import main
from m1.config import load_config
from m1.team.trace import Episode

pytestmark = pytest.mark.slow

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    from m1.synth import generate_split

    out = tmp_path_factory.mktemp("askv")
    generate_split(load_config(overrides=TINY).synth, out, "test", 1, seed=1, progress=False)
    return next((out / "test" / "videos").glob("*.mp4"))


def test_ask_prints_a_trace_and_json(video, tmp_path, capsys):
    out = str(tmp_path / "run")
    html = tmp_path / "trace.html"
    (tmp_path / "run" / "team").mkdir(parents=True)
    assert main(["ask", str(video), "Which colour?", "--options", "red", "green", "blue", "cyan",
                 f"output_dir={out}", "cpp.max_rounds=2", "--html", str(html), "--team", f"{out}/team"]) == 0
    captured = capsys.readouterr()
    assert "UNTRAINED tiny team" in captured.err
    assert "Q: Which colour?" in captured.out and "   D. cyan" in captured.out
    assert captured.out.count("── agent ") == 4 and "final answer:" in captured.out
    assert html.read_text().startswith("<!doctype html>")
    # second run reuses the team, --json gives a full, valid trace; the trailing override is honoured
    assert main(["ask", str(video), "when does a circle move?", "--task", "grounding", "--json",
                 f"output_dir={out}", "sampling.eval.temperature=1.0", "--team", f"{out}/team"]) == 0
    captured = capsys.readouterr()
    assert "UNTRAINED" not in captured.err
    ep = Episode.model_validate_json(captured.out)
    assert ep.question.task_type == "grounding" and len(ep.agents) == 4
    assert all(t.completion_ids for a in ep.agents for t in a.turns)


def test_ask_errors_are_clear(video, tmp_path, capsys):
    assert main(["ask", str(tmp_path / "missing.mp4"), "q"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["ask", str(video), "q", "--task", "mc"]) == 2
    assert "--task mc needs --options" in capsys.readouterr().err
    assert main(["ask", str(video), "q", "--team", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_ask_without_a_trained_team_answers_with_the_tools_and_says_so(video, tmp_path, capsys):
    import json

    from cli.commands.ask import newest_trained_team

    out = tmp_path / "run"
    html = tmp_path / "t.html"
    assert main(["ask", str(video), "How many objects are visible at the end of the video?", "--options", "0", "1",
                 "2", "3", "4", f"output_dir={out}", "--html", str(html)]) == 0
    captured = capsys.readouterr()
    assert "no trained team under" in captured.err and "tools alone" in captured.err
    assert "── fine_browser" in captured.out and "answer: " in captured.out
    assert "general: matching objects per frame" in captured.out  # what the tools saw, not a template
    assert "<h3>fine_browser" in html.read_text()
    assert not (out / "team").exists()  # no random-weight team was written
    # A trained team's manifest (sft/marl provenance) is what makes it the default.
    for name, body in (("a", {"seed": 0}), ("b", {"seed": 0, "sft": {}})):
        (out / name).mkdir(parents=True)
        (out / name / "team.json").write_text(json.dumps(body))
    assert newest_trained_team(out) == out / "b"
    assert newest_trained_team(tmp_path / "empty") is None
