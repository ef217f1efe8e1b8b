"""A Serve deployment whose back-end actors are killed (issue 17, findings 2 and 3): the trace store
shared by the replicas, the replica's shared memory, one of its policy agents twice. Each time the
service must come back by itself: the store is restarted or found again by name, a replica whose
actors died for good fails Serve's health check and is replaced. Real kills (SIGKILL, ray.kill) on
a real deployment with the untrained tiny team; one replica, so every request meets the damage."""

import os
import signal
import time

import pytest
import requests

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# the deployment: tests/ray/conftest.py (served)
SERVE_OVERRIDES = ["cpp.max_steps=1", "serve.thumbnails=0"]
KEY = {"Authorization": "Bearer sesame"}


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


def test_the_trace_store_survives_a_crash_and_a_kill(served, alive):
    import ray

    from actors.serve import TRACE_STORE

    url, video, cfg = served
    r = _ask(url, video)
    assert r.status_code == 200, r.text
    (store,) = alive("TraceStore")
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
    (again,) = alive("TraceStore")
    assert again["ActorID"] != store["ActorID"]


def test_a_dead_shared_memory_gets_the_replica_replaced(served, alive):
    url, video, _ = served
    (replica,) = alive("ServeReplica:m1:m1")
    (memory,) = alive("SharedMemory")
    os.kill(memory["Pid"], signal.SIGKILL)  # max_restarts=0: dead for good
    seconds, failed = _recover(url, video)
    print(f"shared memory kill: answered again after {seconds:.1f} s, failed tries {failed}")
    (new_replica,) = alive("ServeReplica:m1:m1")
    (new_memory,) = alive("SharedMemory")
    assert new_replica["Pid"] != replica["Pid"] and new_memory["ActorID"] != memory["ActorID"]
    assert requests.get(f"{url}/healthz", timeout=30).status_code == 200


def test_a_policy_agent_dying_twice_gets_the_replica_replaced(served, alive):
    url, video, _ = served
    (replica,) = alive("ServeReplica:m1:m1")
    agent = alive("PolicyAgent")[0]
    os.kill(agent["Pid"], signal.SIGKILL)  # first death: Ray restarts it (max_restarts=1)
    _wait(lambda: any(a["ActorID"] == agent["ActorID"] and a["NumRestarts"] == 1 for a in alive("PolicyAgent")),
          "the policy agent's restart")
    (restarted,) = [a for a in alive("PolicyAgent") if a["ActorID"] == agent["ActorID"]]
    os.kill(restarted["Pid"], signal.SIGKILL)  # second death: dead for good
    seconds, failed = _recover(url, video)
    print(f"policy agent killed twice: answered again after {seconds:.1f} s, failed tries {failed}")
    (new_replica,) = alive("ServeReplica:m1:m1")
    assert new_replica["Pid"] != replica["Pid"]
    assert agent["ActorID"] not in {a["ActorID"] for a in alive("PolicyAgent")} and len(alive("PolicyAgent")) == 4
