"""The real Ray Serve deployment on loopback: the app behind Serve's HTTP proxy, driving the
training actors (policy agents, tool pool, memory) with the untrained tiny team. The last two
tests crash a tool worker and then the replica (the failure drill of benchmarks/serve_load.py,
in small): they must stay last, the module's deployment is not the same afterwards."""

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests

from m1.config import load_config

pytestmark = [pytest.mark.ray, pytest.mark.slow]

TINY = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
        "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from m1.synth import generate_split

    root = tmp_path_factory.mktemp("serve_ray")
    cfg0 = load_config(overrides=TINY)
    generate_split(cfg0.synth, root / "data", "test", 1, seed=2, progress=False)
    video = next((root / "data" / "test" / "videos").glob("*.mp4"))
    port = _free_port()
    cfg = load_config(overrides=TINY + [
        f"output_dir={root / 'run'}", "ray.num_cpus=2", "ray.tool_workers=1", "cpp.max_rounds=1", "cpp.max_steps=2",
        f"serve.port={port}", f"serve.allowed_roots=[{root / 'data'}]", "serve.api_key=sesame", "serve.thumbnails=4",
        f"serve.spool_dir={root / 'spool'}"])
    import ray

    import jobs.serve as js

    # Serve's proxies take the JSON-503 middleware from the environment of the Ray they start in
    # (jobs.serve.start sets it before starting one); a Ray left running by an earlier test in
    # this process was started without it
    if ray.is_initialized():
        ray.shutdown()
    url = js.start(cfg)
    yield url, video, cfg
    from ray import serve

    serve.shutdown()
    import ray

    ray.shutdown()


def test_serve_deployment_answers_over_http(served):
    url, video, _ = served
    h = {"Authorization": "Bearer sesame"}
    health = requests.get(f"{url}/healthz", timeout=30).json()
    assert health["backends"] == "ray" and len(health["team"]) == 4
    assert requests.post(f"{url}/v1/answer", json={"question": "q", "video_path": str(video)}, timeout=30
                         ).status_code == 401
    r = requests.post(f"{url}/v1/answer", headers=h, timeout=300,
                      json={"question": "Which colour?", "video_path": str(video), "options": ["red", "blue"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["agents"]) == 4 and body["video_seconds"] > 5
    rec = requests.get(f"{url}/v1/traces/{body['trace_id']}", headers=h, timeout=30).json()
    assert rec["episode"]["question"]["question"] == "Which colour?"
    assert rec["episode"]["question"]["video"] == video.name  # the server path is not disclosed
    # a refusal through the Serve proxy keeps its status and JSON body
    bad = requests.post(f"{url}/v1/answer", headers=h, json={"question": "q", "video_path": "/etc/passwd"},
                        timeout=30)
    assert bad.status_code == 403 and bad.json()["error"]["code"] == "path_not_allowed"
    assert 'm1_requests_total{endpoint="/v1/answer",status="200"}' in requests.get(f"{url}/metrics", headers=h,
                                                                                   timeout=30).text


def test_openai_client_and_streaming_through_serve(served):
    import base64

    from openai import OpenAI

    url, video, _ = served
    client = OpenAI(base_url=f"{url}/v1", api_key="sesame", max_retries=0, timeout=300)
    data = "data:video/mp4;base64," + base64.b64encode(video.read_bytes()).decode()
    out = client.chat.completions.create(model="videochat-m1", messages=[{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": data}},
        {"type": "text", "text": "What moves?\nA. circle\nB. square"}]}])
    assert out.choices[0].message.role == "assistant" and out.choices[0].finish_reason == "stop"
    assert out.usage.completion_tokens > 0
    chunks = list(client.chat.completions.create(model="videochat-m1", stream=True, messages=[{"role": "user",
                  "content": [{"type": "video_url", "video_url": {"url": f"file://{video}"}},
                              {"type": "text", "text": "What happens?"}]}]))
    progress = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    assert progress.count("plan:") == 4 and progress.count("answer:") == 4
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert json.loads(chunks[-1].model_dump_json())["m1"]["trace_id"]


def _alive(cls):
    import ray

    return [a for a in ray._private.state.actors().values() if a["ActorClassName"] == cls and a["State"] == "ALIVE"]


def _ask(url, video, timeout=300, stream=False):
    return requests.post(f"{url}/v1/answer", headers={"Authorization": "Bearer sesame"}, timeout=timeout,
                         params={"stream": "true"} if stream else None,
                         json={"question": "Which colour?", "video_path": str(video), "options": ["red", "blue"]})


def test_a_crashed_tool_worker_is_replaced(served):
    url, video, _ = served
    (worker,) = _alive("ServeToolWorker")
    os.kill(worker["Pid"], signal.SIGKILL)
    r = _ask(url, video)  # its tool calls meet the dead worker: the pool waits for Ray's restart and retries
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 120  # Ray restarts the worker (if the episode called no tool, it may still be)
    while not _alive("ServeToolWorker") and time.monotonic() < deadline:
        time.sleep(0.5)
    (again,) = _alive("ServeToolWorker")
    assert again["ActorID"] == worker["ActorID"] and again["NumRestarts"] == 1 and again["Pid"] != worker["Pid"]


def test_a_crashed_replica_answers_json_503_then_serve_replaces_it(served):
    url, video, cfg = served
    (replica,) = _alive("ServeReplica:m1:m1")
    policies = {a["ActorID"] for a in _alive("PolicyAgent")}
    out = {}
    threads = [threading.Thread(target=lambda s=s: out.setdefault(s, _ask(url, video, stream=s)))
               for s in (False, True)]
    for t in threads:
        t.start()
    # until both questions are being answered (/metrics itself counts as 1) and both have made their
    # spool directory (in-flight counts from the middleware on, the directory comes a moment later)
    deadline = time.monotonic() + 60
    key = {"Authorization": "Bearer sesame"}
    while not ("m1_in_flight 3" in requests.get(f"{url}/metrics", headers=key, timeout=30).text
               and len(list(Path(cfg.serve.spool_dir).iterdir())) == 2):
        if time.monotonic() > deadline:
            pytest.fail("the two requests were never in flight together with their spool directories")
        time.sleep(0.1)
    os.kill(replica["Pid"], signal.SIGKILL)
    for t in threads:
        t.join(120)
    r = out[False]
    assert r.status_code == 503 and r.headers["content-type"] == "application/json", r.text
    assert r.json()["error"]["code"] == "replica_unavailable" and r.json()["error"]["type"] == "server_error"
    # the stream had started: it ends with an error event instead of breaking off
    events = out[True].text.strip().split("\n\n")
    assert events[0].startswith("event: progress") and events[-1].startswith("event: error\n"), events[-3:]
    assert json.loads(events[-1].split("data: ", 1)[1])["error"]["code"] == "replica_unavailable"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(1)
    r = _ask(url, video)
    assert r.status_code == 200, r.text
    # the replacement has its own agents (the dead replica's died with it) and removed the dead one's files
    assert len(_alive("PolicyAgent")) == 4 and not policies & {a["ActorID"] for a in _alive("PolicyAgent")}
    assert list(Path(cfg.serve.spool_dir).iterdir()) == []
