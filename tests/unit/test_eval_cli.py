"""`m1 eval` end to end on a tiny generated M1-Synth split: every system, the report, and resume."""

import json

import pytest

from cli import main
from m1.config import load_config
from m1.data import load_benchmark, score
from m1.evaluation.predictions import Prediction

pytestmark = pytest.mark.slow

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
SYSTEMS = ["solver", "no_tools", "no_comm", "team"]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from m1.synth import generate_split

    out = tmp_path_factory.mktemp("evalsynth")
    generate_split(load_config(overrides=TINY).synth, out, "test", 1, seed=3, progress=False)
    return out


def predictions(path):
    return [Prediction.model_validate_json(line) for line in path.read_text().splitlines()]


def test_m1_eval_on_m1_synth_writes_the_report_and_resumes(split, tmp_path, capsys):
    out = tmp_path / "eval"
    common = ["eval", "--benchmark", "m1_synth", "--data-dir", str(split), "--out", str(out), "--no-progress"]
    overrides = [f"output_dir={tmp_path / 'run'}", "cpp.max_rounds=1", "cpp.plan_tokens=48"]
    assert main([*common, "--system", "solver", "--limit", "2", *overrides]) == 0
    assert "solver: 2 answered now, 0 reused" in capsys.readouterr().err

    assert main([*common, "--compare", "--limit", "4", *overrides]) == 0
    captured = capsys.readouterr()
    assert "solver: 2 answered now, 2 reused" in captured.err  # the earlier two were not redone
    assert all(f"{s}: 4 answered now, 0 reused" in captured.err for s in SYSTEMS[1:])
    assert "UNTRAINED" in captured.err and "report:" in captured.out

    questions = load_benchmark("m1_synth", split, "test", limit=4).questions
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["systems"]) == SYSTEMS and metrics["questions"] == 4
    for s in SYSTEMS:
        preds = predictions(out / s / "predictions.jsonl")
        assert sorted(p.qid for p in preds) == sorted(q.qid for q in questions)
        m = metrics["systems"][s]
        assert m == json.loads((out / s / "metrics.json").read_text())
        # the stored metrics are the official score of the stored predictions
        assert m["score"] == score("m1_synth", questions, {p.qid: p.prediction for p in preds})
        assert m["efficiency"]["frames_per_query"]["mean"] == pytest.approx(sum(p.frames for p in preds) / 4)
        assert all(p.seconds > 0 for p in preds)
    no_tools = predictions(out / "no_tools" / "predictions.jsonl")
    assert all(0 < p.frames <= 8 and p.tool_calls == 1 and len(p.agent_answers) == 1 for p in no_tools)
    assert all(len(p.agent_answers) == 4 for p in predictions(out / "team" / "predictions.jsonl"))
    assert any(p.frames > 0 for p in predictions(out / "solver" / "predictions.jsonl"))

    md = (out / "report.md").read_text()
    assert md.startswith("# m1 eval: m1_synth (test)") and "## Summary" in md and "## by category" in md
    assert all(f"| {s} | 4 |" in md for s in SYSTEMS) and "--compare" in md and "![" in md
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"

    before = {s: (out / s / "predictions.jsonl").read_text() for s in SYSTEMS}
    assert main([*common, "--compare", "--limit", "4", *overrides]) == 0
    err = capsys.readouterr().err
    assert all(f"{s}: 0 answered now, 4 reused" in err for s in SYSTEMS)
    assert before == {s: (out / s / "predictions.jsonl").read_text() for s in SYSTEMS}

    # a seeded sample stratified by family: recorded, the same questions again, and no --limit beside it
    sampled = tmp_path / "sampled"
    scommon = [*common[:5], "--out", str(sampled), "--no-progress", "--system", "solver", *overrides]
    assert main([*scommon, "--sample", "3", "--sample-seed", "1"]) == 0
    assert "--sample 3 --sample-seed 1: 3 of" in capsys.readouterr().err
    run = json.loads((sampled / "solver" / "run.json").read_text())
    assert run["sample"] == {"n": 3, "seed": 1} and run["tools_code"]
    first = sorted(p.qid for p in predictions(sampled / "solver" / "predictions.jsonl"))
    assert main([*scommon, "--sample", "3", "--sample-seed", "1"]) == 0
    assert "solver: 0 answered now, 3 reused" in capsys.readouterr().err
    assert main([*scommon, "--sample", "3", "--limit", "2"]) == 2 and len(first) == 3

    # other settings on the same predictions are refused, not mixed in
    assert main([*common, "--system", "team", "--limit", "4", f"output_dir={tmp_path / 'run'}"]) == 2
    assert "cpp.max_rounds: was 1, now 6" in capsys.readouterr().err
