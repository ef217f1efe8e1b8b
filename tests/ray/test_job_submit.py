"""`ray job submit ... -- python jobs/marl.py` against a head started with `ray start --head`."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def head():
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    start = [str(BIN / "ray"), "start", "--head", "--num-cpus", "2", "--port", "6391", "--dashboard-host",
             "127.0.0.1", "--dashboard-port", "8275", "--include-dashboard", "true", "--disable-usage-stats"]
    subprocess.run(start, check=True, env=env, capture_output=True, timeout=180)
    yield env
    # `ray stop` has no per-cluster form: this also stops any other Ray of this user on the machine
    # (a job started beside the test suite loses its raylet), so don't run Ray work beside the tests.
    subprocess.run([str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True, timeout=120)


def submit(cmd: list[str], env: dict[str, str], wait_agent_s: float = 180.0) -> subprocess.CompletedProcess:
    """``ray job submit``, retried while the head's job agent has not registered yet: right after
    ``ray start --head`` on a loaded machine the job server answers 500 "No available agent to
    submit job" (no job is created then, so retrying is safe)."""
    deadline = time.monotonic() + wait_agent_s
    while True:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
        if r.returncode == 0 or "No available agent" not in r.stderr + r.stdout or time.monotonic() > deadline:
            return r
        time.sleep(5)


def test_marl_job_runs_under_ray_job_submit(head, tmp_path):
    out = tmp_path / "run"
    # Ray 2.60 heads enable token authentication; the CLI must be told to send the token
    env = {**head, "RAY_AUTH_MODE": "token"}
    cmd = [str(BIN / "ray"), "job", "submit", "--address", "http://127.0.0.1:8275", "--working-dir", str(ROOT),
           "--", "python", "jobs/marl.py", f"output_dir={out}", "marl.steps=1", "marl.train_videos=1",
           "marl.eval_videos=1", "marl.eval_questions=1", "marl.questions_per_step=1", "grpo.group_size=2",
           "cpp.max_rounds=1", "synth.min_duration=6", "synth.max_duration=8", "synth.width=192",
           "synth.height=108", "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
    r = submit(cmd, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "succeeded" in r.stdout + r.stderr
    summary = json.loads((out / "marl" / "marl_summary.json").read_text())
    assert summary["steps"] == 1 and summary["use_ray"] is True
    assert (out / "marl" / "checkpoint" / "learner.pt").is_file()
    assert shutil.which("ray", path=str(BIN))
