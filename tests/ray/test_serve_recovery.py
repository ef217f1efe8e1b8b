"""A Serve deployment whose back-end actors are killed (issue 17, findings 2 and 3): the trace store
shared by the replicas, the replica's shared memory, one of its policy agents twice. Each time the
service must come back by itself: the store is restarted or found again by name, a replica whose
actors died for good fails Serve's health check and is replaced. Real kills (SIGKILL, ray.kill) on
a real deployment with the untrained tiny team; one replica, so every request meets the damage."""

import os
import signal
import socket
import time

import pytest
import requests

from m1.config import load_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
KEY = {"Authorization": "Bearer sesame"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from m1.synth import generate_split

    root = tmp_path_factory.mktemp("serve_recovery")
    generate_split(load_config(overrides=TINY).synth, root / "data", "test", 1, seed=2, progress=False)
    video = next((root / "data" / "test" / "videos").glob("*.mp4"))
    cfg = load_config(overrides=TINY + [
        f"output_dir={root / 'run'}", "ray.num_cpus=2", "ray.tool_workers=1", "cpp.max_rounds=1", "cpp.max_steps=1",
        f"serve.port={_free_port()}", f"serve.allowed_roots=[{root / 'data'}]", "serve.api_key=sesame",
        "serve.thumbnails=0", f"serve.spool_dir={root / 'spool'}"])
    import ray
    from ray import serve

    import jobs.serve as js

    if ray.is_initialized():
        ray.shutdown()
    url = js.start(cfg)
    yield url, video, cfg
    serve.shutdown()
    ray.shutdown()


def _alive(cls):
    import ray

    return [a for a in ray._private.state.actors().values() if a["ActorClassName"] == cls and a["State"] == "ALIVE"]


def _ask(url, video):
    try:
        return requests.post(f"{url}/v1/answer", headers=KEY, timeout=300,
                             json={"question": "Which colour?", "video_path": str(video), "options": ["red", "blue"]})
    except requests.RequestException as e:  # the proxy may drop a connection while a replica is replaced
        return e


def _recover(url, video, deadline_s=420.0):
    """Ask until an answer is 200; returns (seconds, statuses of the failed tries)."""
    t0, failed = time.monotonic(), []
    while time.monotonic() - t0 < deadline_s:
        r = _ask(url, video)
        if isinstance(r, requests.Response) and r.status_code == 200:
            return time.monotonic() - t0, failed
        failed.append(getattr(r, "status_code", type(r).__name__))
        time.sleep(2)
    pytest.fail(f"no answer within {deadline_s:.0f} s of the kill; failed tries: {failed}")


def _wait(cond, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.5)


def test_the_trace_store_survives_a_crash_and_a_kill(served):
    import ray

    from actors.serve import TRACE_STORE

    url, video, cfg = served
    r = _ask(url, video)
    assert r.status_code == 200, r.text
    (store,) = _alive("TraceStore")
    os.kill(store["Pid"], signal.SIGKILL)  # its process crashes: Ray restarts it (empty)
    seconds, failed = _recover(url, video)
    print(f"trace store crash: answered again after {seconds:.1f} s, failed tries {failed}")
    tid = _ask(url, video).json()["trace_id"]
    assert requests.get(f"{url}/v1/traces/{tid}", headers=KEY, timeout=30).status_code == 200
    ray.kill(ray.get_actor(TRACE_STORE, namespace=cfg.ray.namespace))  # killed for good: found again by name
    seconds, failed = _recover(url, video)
    print(f"trace store kill: answered again after {seconds:.1f} s, failed tries {failed}")
    health = requests.get(f"{url}/healthz", timeout=30)
    assert health.status_code == 200 and health.json()["traces"] >= 1, health.text
    (again,) = _alive("TraceStore")
    assert again["ActorID"] != store["ActorID"]


def test_a_dead_shared_memory_gets_the_replica_replaced(served):
    url, video, _ = served
    (replica,) = _alive("ServeReplica:m1:m1")
    (memory,) = _alive("SharedMemory")
    os.kill(memory["Pid"], signal.SIGKILL)  # max_restarts=0: dead for good
    seconds, failed = _recover(url, video)
    print(f"shared memory kill: answered again after {seconds:.1f} s, failed tries {failed}")
    (new_replica,) = _alive("ServeReplica:m1:m1")
    (new_memory,) = _alive("SharedMemory")
    assert new_replica["Pid"] != replica["Pid"] and new_memory["ActorID"] != memory["ActorID"]
    assert requests.get(f"{url}/healthz", timeout=30).status_code == 200


def test_a_policy_agent_dying_twice_gets_the_replica_replaced(served):
    url, video, _ = served
    (replica,) = _alive("ServeReplica:m1:m1")
    agent = _alive("PolicyAgent")[0]
    os.kill(agent["Pid"], signal.SIGKILL)  # first death: Ray restarts it (max_restarts=1)
    _wait(lambda: any(a["ActorID"] == agent["ActorID"] and a["NumRestarts"] == 1 for a in _alive("PolicyAgent")),
          "the policy agent's restart")
    (restarted,) = [a for a in _alive("PolicyAgent") if a["ActorID"] == agent["ActorID"]]
    os.kill(restarted["Pid"], signal.SIGKILL)  # second death: dead for good
    seconds, failed = _recover(url, video)
    print(f"policy agent killed twice: answered again after {seconds:.1f} s, failed tries {failed}")
    (new_replica,) = _alive("ServeReplica:m1:m1")
    assert new_replica["Pid"] != replica["Pid"]
    assert agent["ActorID"] not in {a["ActorID"] for a in _alive("PolicyAgent")} and len(_alive("PolicyAgent")) == 4
