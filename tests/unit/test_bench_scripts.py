"""The benchmark shell scripts: syntax, and agent_removal.sh's leave-one-out logic with the evaluator
replaced by a recorder (the evaluations themselves are sft_eval.py's, tested in test_sft_eval.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([*ROOT.glob("benchmarks/*.sh"), *ROOT.glob("scripts/*.sh"), ROOT / ".ci" / "run"])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shell_syntax(script: Path) -> None:
    r = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


RECORDER = """#!{python}
import json, os, sys
args = sys.argv[1:]
if args[0] == "-c":  # the script's own one-liners run for real
    os.execv({python!r}, [{python!r}, *args])
with open(os.environ["CALLS"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[0].endswith("sft_eval.py"):
    open(args[args.index("--json") + 1], "w").write("{{}}")
else:
    print("Overall: new - base = +0.000")
"""


def _team(path: Path, names: list[str]) -> Path:
    path.mkdir(parents=True)
    (path / "team.json").write_text(json.dumps({"team": {"agents": [{"name": n} for n in names]}}))
    return path


def test_agent_removal_leaves_each_agent_out_once(tmp_path: Path) -> None:
    py = tmp_path / "py"
    py.write_text(RECORDER.format(python=sys.executable))
    py.chmod(0o755)
    calls, out = tmp_path / "calls.jsonl", tmp_path / "out"
    team = _team(tmp_path / "team", ["a", "b", "c"])
    out.mkdir()
    (out / "t.json").write_text("{}")  # the intact evaluation exists: reused, not rerun
    env = {**os.environ, "PY": str(py), "CALLS": str(calls), "HELDOUT": "/held", "OUT": str(out), "N": "7"}
    r = subprocess.run(["bash", str(ROOT / "benchmarks/agent_removal.sh"), f"t={team}"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    evals = [c for c in map(json.loads, calls.read_text().splitlines()) if c[0].endswith("sft_eval.py")]
    kept = {c[c.index("--json") + 1]: c[c.index("--agents") + 1] for c in evals}
    assert kept == {str(out / "t-without-a.json"): "b,c", str(out / "t-without-b.json"): "a,c",
                    str(out / "t-without-c.json"): "a,b"}
    assert all(c[c.index("--n") + 1] == "7" and c[c.index("--split") + 1] == "/held" for c in evals)
    assert sorted(p.name for p in out.glob("compare-*.md")) == [f"compare-t-without-{x}.md" for x in "abc"]
    assert "t without b: Overall" in r.stdout

    calls.unlink()  # a second run finds everything done and evaluates nothing
    r = subprocess.run(["bash", str(ROOT / "benchmarks/agent_removal.sh"), f"t={team}"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not any(json.loads(c)[0].endswith("sft_eval.py") for c in calls.read_text().splitlines())


def test_agent_removal_usage(tmp_path: Path) -> None:
    r = subprocess.run(["bash", str(ROOT / "benchmarks/agent_removal.sh")], capture_output=True, text=True,
                       env={**os.environ, "HELDOUT": str(tmp_path)})
    assert r.returncode == 2 and "usage" in r.stderr
