"""`ray job submit ... -- python jobs/marl.py` against a head started with `ray start --head`."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HEAD_TEMP = "M1_TEST_RAY_HEAD_TEMP"  # own_head's env names its temp dir here, for the logs of a failed submit


def free_port() -> int:
    """A TCP port no process listens on now (the kernel's choice for port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def own_head():
    """A Ray head of its own: ``ray start --head --block`` in its own process group and temp dir,
    stopped by signalling that group, so that no other Ray on the machine is touched (``ray stop``
    has no per-cluster form: it stops every Ray of this user)."""
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    temp = Path(tempfile.mkdtemp(prefix="m1ray", dir="/tmp"))  # short: Ray's socket paths have a length limit
    # the dashboard agent's HTTP port defaults to 52365 for every Ray on the machine: where another Ray
    # (a user's job beside the suite) holds it, this head's agent cannot bind it and never registers, and
    # every submit is answered "No available agent to submit job"
    start = [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus", "2", "--port", "6391",
             "--dashboard-host", "127.0.0.1", "--dashboard-port", "8275", "--include-dashboard", "true",
             "--dashboard-agent-listen-port", str(free_port()), "--disable-usage-stats", "--temp-dir", str(temp)]
    proc = subprocess.Popen(start, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not head_is_up(env):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start --head did not come up (exit {proc.poll()})")
            time.sleep(2)
        yield {**env, HEAD_TEMP: str(temp)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # --block stops the processes it started, then exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _processes_under(temp):  # anything of this head's that outlived it (own session)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def head_is_up(env: dict[str, str]) -> bool:
    """The GCS answers ``ray status`` and the dashboard (the job server) answers HTTP: the dashboard
    comes up seconds after the GCS, and a submit in between is refused a connection."""
    # Ray 2.60 heads enable token authentication; the CLI must be told to send the token
    if subprocess.run([str(BIN / "ray"), "status", "--address", "127.0.0.1:6391"],
                      env={**env, "RAY_AUTH_MODE": "token"}, capture_output=True, timeout=60).returncode != 0:
        return False
    try:
        urllib.request.urlopen("http://127.0.0.1:8275/api/version", timeout=10)
    except urllib.error.HTTPError:
        return True  # it answered (401 without the token): the server is up
    except OSError:
        return False
    return True


@pytest.fixture
def head():
    with own_head() as env:
        yield env


def _processes_under(temp: Path) -> list[int]:
    """PIDs whose command line names ``temp`` (this head's raylet, GCS, agents and workers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and d.name != str(os.getpid()):
            with contextlib.suppress(OSError):
                if str(temp) in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    out.append(int(d.name))
    return out


HEAD_LOGS = ("dashboard_agent.log", "dashboard_agent.err", "dashboard.log")


def head_logs(env: dict[str, str], names: tuple[str, ...] = HEAD_LOGS, tail: int = 2000) -> str:
    """The last ``tail`` characters of the head's dashboard logs, to say why a job found no agent."""
    logs = Path(env.get(HEAD_TEMP, "/nonexistent")) / "session_latest" / "logs"
    out = []
    for name in names:
        with contextlib.suppress(OSError):
            out.append(f"--- {name}\n" + (logs / name).read_text(errors="replace")[-tail:])
    return "\n".join(out) or f"(no dashboard logs under {logs})"


def submit(cmd: list[str], env: dict[str, str], wait_agent_s: float = 360.0) -> subprocess.CompletedProcess:
    """``ray job submit``, retried while the head's job agent has not registered yet: right after
    ``ray start --head`` on a loaded machine the job server answers 500 "No available agent to
    submit job" (no job is created then, so retrying is safe). 180 s was not enough on the 2-core
    machine running an SFT and an annotation beside the suite; the test's own timeout leaves room
    for the wait and the job. An agent that never registers (its port taken: :func:`own_head`)
    shows in the head's logs, which a failed submit prints."""
    deadline = time.monotonic() + wait_agent_s
    while True:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
        waiting = ("No available agent" in r.stderr + r.stdout or "Connection refused" in r.stderr + r.stdout)
        if r.returncode == 0 or not waiting or time.monotonic() > deadline:
            return r
        time.sleep(5)


@pytest.mark.timeout(1200)  # up to 6 min for the job agent to register, then the 1-step MARL job
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
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:] + "\n" + head_logs(env)
    assert "succeeded" in r.stdout + r.stderr
    summary = json.loads((out / "marl" / "marl_summary.json").read_text())
    assert summary["steps"] == 1 and summary["use_ray"] is True
    assert (out / "marl" / "checkpoint" / "learner.pt").is_file()
    assert shutil.which("ray", path=str(BIN))


def test_the_head_stops_only_its_own_ray():
    """Another Ray on the machine (a user's job beside the suite) outlives the head's teardown."""
    other = subprocess.Popen([sys.executable, "-c", "import ray, time; ray.init(num_cpus=1, include_dashboard=False); "
                              "print('up', flush=True); time.sleep(600)"], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "up"
        with own_head() as env:
            assert head_is_up(env)
        time.sleep(2)
        assert other.poll() is None, "stopping the test's head stopped another Ray"
        assert not head_is_up(env), "the test's head still runs"
    finally:
        other.kill()
        other.wait()
