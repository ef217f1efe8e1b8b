"""`m1 run` — the tiny end-to-end pipeline — with minimal settings: every stage runs, the table is
written, and a rerun continues from what the first run left instead of redoing it."""

import json

import pytest

from cli import main

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY = ["sft.train_videos=2", "sft.epochs=0.2", "marl.steps=1", "marl.eval_videos=1", "marl.eval_questions=3",
        "marl.questions_per_step=1", "grpo.group_size=2", "synth.min_duration=8", "synth.max_duration=10",
        "synth.width=320", "synth.height=180", "synth.max_object_size=48", "ray.num_cpus=2"]


def test_pipeline_runs_every_stage_and_resumes(tmp_path, capsys):
    out = tmp_path / "pipe"
    assert main(["run", f"output_dir={out}", *TINY]) == 0
    printed = capsys.readouterr().out
    assert "| team after SFT + MARL |" in printed and "| reference solver (oracle) |" in printed
    summary = json.loads((out / "pipeline_summary.json").read_text())
    assert set(summary["table"]) == {"answer prior (no video)", "reference solver (oracle)", "team after SFT",
                                     "team after SFT + MARL"}
    assert summary["test_questions"] == 3
    assert (out / "sft" / "team" / "team.json").is_file() and (out / "marl" / "checkpoint" / "learner.pt").is_file()
    first = (out / "sft" / "data" / "examples.jsonl").stat().st_mtime_ns
    # rerun: annotation and SFT are reused; MARL resumes at its last step (no new training steps)
    assert main(["run", f"output_dir={out}", *TINY]) == 0
    again = json.loads((out / "pipeline_summary.json").read_text())
    assert (out / "sft" / "data" / "examples.jsonl").stat().st_mtime_ns == first
    assert again["timings_s"]["sft"] < 5 and again["timings_s"]["data+annotation"] < 5
    steps = [json.loads(x)["step"] for x in (out / "marl" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1]
