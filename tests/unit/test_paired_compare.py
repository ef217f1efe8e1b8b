"""benchmarks/paired_compare.py: pairing by question, per-family rows, the interval's verdict."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import paired_compare  # noqa: E402


def result(qid, family, score, frames=10):
    metric = "mIoU" if family == "grounding" else "accuracy"
    return {"qid": qid, "family": family, "metric": metric, "score": score, "frames": frames, "uniform_frames": 40}


def write(path, name, rows):
    path.write_text(json.dumps({name: rows}))
    return str(path)


def test_paired_rows_and_verdict(tmp_path, capsys):
    base = [result(f"q{i}", "reasoning" if i % 2 else "grounding", 0.0, 50) for i in range(40)]
    new = [result(f"q{i}", "reasoning" if i % 2 else "grounding", 1.0 if i < 30 else 0.0, 20) for i in range(40)]
    rows = paired_compare.compare({r["qid"]: r for r in base}, {r["qid"]: r for r in new}, resamples=500)
    assert [r["group"] for r in rows] == ["grounding/mIoU", "reasoning/accuracy", "all"]
    overall = rows[-1]
    assert overall["n"] == 40 and overall["diff"] == pytest.approx(0.75)
    assert 0 < overall["lo"] <= 0.75 <= overall["hi"] <= 1
    assert overall["base_frames"] == 50 and overall["new_frames"] == 20
    a = write(tmp_path / "a.json", "sft", base)
    b = write(tmp_path / "b.json", "marl", new)
    assert paired_compare.main([a, b, "--resamples", "500"]) == 0
    assert "the interval excludes 0" in capsys.readouterr().out


def test_unpaired_questions_are_refused_unless_intersected(tmp_path, capsys):
    a = write(tmp_path / "a.json", "sft", [result("q1", "reasoning", 1.0), result("q2", "reasoning", 0.0)])
    b = write(tmp_path / "b.json", "marl", [result("q1", "reasoning", 1.0)])
    with pytest.raises(SystemExit, match="unpaired questions"):
        paired_compare.main([a, b])
    assert paired_compare.main([a, b, "--intersect", "--resamples", "100"]) == 0
    assert "the interval includes 0" in capsys.readouterr().out
