"""benchmarks/teacher_teams.py: the SFT teachers run as teams on held-out questions, keyed by the qids
`m1 eval` writes (so collaboration.py --teacher-teams-json pairs them), with the verifying teacher
reading more than the oracle under noisy tools."""

import json
import sys
from pathlib import Path

import pytest

from cli import main as m1
from m1.config import load_config
from m1.data import load_benchmark

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import teacher_teams  # noqa: E402

pytestmark = pytest.mark.slow

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]


def test_teacher_teams_on_m1_eval_qids(tmp_path, capsys):
    from m1.synth import generate_split

    generate_split(load_config(overrides=TINY).synth, tmp_path / "data", "test", 1, seed=3, progress=False)
    assert m1(["models", "init", "--out", str(tmp_path / "team")]) == 0  # only its tokenizers are read
    out = tmp_path / "teams.json"
    assert teacher_teams.main(["--config", "configs/noisy.yaml", "--data-dir", str(tmp_path / "data"),
                               "--team", str(tmp_path / "team"), "--limit", "4", "--json", str(out),
                               "--out", str(tmp_path / "teams.md")]) == 0
    rows = json.loads(out.read_text())["systems"]
    assert list(rows) == ["oracle", "verify"]
    evaluated = {q.qid for q in load_benchmark("m1_synth", tmp_path / "data", "test").questions}
    for name, rs in rows.items():
        assert len(rs) == 4 and {r["qid"] for r in rs} <= evaluated, name
        assert all(0.0 <= r["score"] <= 1.0 and r["frames"] > 0 and r["uniform_frames"] > 0 for r in rs)
    assert [r["qid"] for r in rows["oracle"]] == [r["qid"] for r in rows["verify"]]
    # each verifying agent reads the question at its own step: more distinct calls than the oracle team's
    assert sum(r["tool_calls"] for r in rows["verify"]) > sum(r["tool_calls"] for r in rows["oracle"])
    text = (tmp_path / "teams.md").read_text()
    assert text.startswith("4 questions") and "| oracle |" in text and "verify - oracle" in text
    with pytest.raises(SystemExit, match="--teachers: the llm teacher needs an endpoint"):
        teacher_teams.main(["--data-dir", "x", "--team", "y", "--teachers", "llm"])
