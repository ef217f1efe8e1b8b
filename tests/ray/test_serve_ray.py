"""The real Ray Serve deployment on loopback: the app behind Serve's HTTP proxy, driving the
training actors (policy agents, tool pool, memory) with the untrained tiny team. The last two
tests crash a tool worker and then the replica (the failure drill of benchmarks/serve_load.py,
in small): they must stay last, the module's deployment is not the same afterwards."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.ray, pytest.mark.slow]

# the deployment: tests/ray/conftest.py (served)
SERVE_OVERRIDES = ["cpp.max_steps=2", "serve.thumbnails=4"]


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


def _ask(url, video, timeout=300):
    return requests.post(f"{url}/v1/answer", headers={"Authorization": "Bearer sesame"}, timeout=timeout,
                         json={"question": "Which colour?", "video_path": str(video), "options": ["red", "blue"]})


def _stream(url, video, out, first_progress):
    """The streamed question: its status, content type and every event received (``out``);
    ``first_progress`` is set once a whole ``progress`` event has arrived at this client."""
    try:
        with requests.post(f"{url}/v1/answer", headers={"Authorization": "Bearer sesame"}, timeout=300,
                           stream=True, params={"stream": "true"},
                           json={"question": "Which colour?", "video_path": str(video), "options": ["red", "blue"]}
                           ) as r:
            out["status"], out["ctype"], out["events"] = r.status_code, r.headers.get("content-type", ""), []
            buf = b""
            for chunk in r.iter_content(chunk_size=None):
                *done, buf = (buf + chunk).split(b"\n\n")
                out["events"] += [e.decode() for e in done]
                if any(e.startswith(b"event: progress\n") for e in done):
                    first_progress.set()
            out["events"] += [buf.decode()] if buf.strip() else []
    except requests.RequestException as e:  # reported by the assertions (out has no full stream)
        out["stream_error"] = repr(e)


def test_a_crashed_tool_worker_is_replaced(served, alive):
    url, video, _ = served
    (worker,) = alive("ServeToolWorker")
    os.kill(worker["Pid"], signal.SIGKILL)
    r = _ask(url, video)  # its tool calls meet the dead worker: the pool waits for Ray's restart and retries
    assert r.status_code == 200, r.text
    deadline = time.monotonic() + 120  # Ray restarts the worker (if the episode called no tool, it may still be)
    while not alive("ServeToolWorker") and time.monotonic() < deadline:
        time.sleep(0.5)
    (again,) = alive("ServeToolWorker")
    assert again["ActorID"] == worker["ActorID"] and again["NumRestarts"] == 1 and again["Pid"] != worker["Pid"]


def test_a_crashed_replica_answers_json_503_then_serve_replaces_it(served, alive):
    url, video, cfg = served
    (replica,) = alive("ServeReplica:m1:m1")
    policies = {a["ActorID"] for a in alive("PolicyAgent")}
    out, first_progress = {}, threading.Event()
    streamed = threading.Thread(target=_stream, args=(url, video, out, first_progress))
    streamed.start()
    # the stream has begun only once its first event reached the client: killed before that, the
    # request is answered with a JSON 503 like any other (the app's events never left the replica)
    if not first_progress.wait(120):
        pytest.fail(f"the streamed answer delivered no progress event within 120 s: {out}")
    plain = threading.Thread(target=lambda: out.setdefault("plain", _ask(url, video)))
    plain.start()
    # until the plain question is being answered as well (the stream, it and /metrics itself: 3) and
    # has made its spool directory (in-flight counts from the middleware on, the directory comes later)
    deadline = time.monotonic() + 60
    key = {"Authorization": "Bearer sesame"}
    while not ("m1_in_flight 3" in requests.get(f"{url}/metrics", headers=key, timeout=30).text
               and len(list(Path(cfg.serve.spool_dir).iterdir())) == 2):
        if time.monotonic() > deadline:
            pytest.fail(f"the two requests were never in flight together with their spool directories: {out}")
        time.sleep(0.1)
    if not streamed.is_alive():
        pytest.fail(f"the streamed answer ended before the replica could be killed: {out}")
    os.kill(replica["Pid"], signal.SIGKILL)
    for t in (plain, streamed):
        t.join(120)
    r = out["plain"]
    assert r.status_code == 503 and r.headers["content-type"] == "application/json", r.text
    assert r.json()["error"]["code"] == "replica_unavailable" and r.json()["error"]["type"] == "server_error"
    # the stream had started: it ends with an error event instead of breaking off
    events = out.get("events", [])
    assert out.get("status") == 200 and "stream_error" not in out and out["ctype"].startswith("text/event-stream"), out
    assert events[0].startswith("event: progress\n") and events[-1].startswith("event: error\n"), events[-3:]
    assert not any(e.startswith("event: result") for e in events), events[-3:]
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
    assert len(alive("PolicyAgent")) == 4 and not policies & {a["ActorID"] for a in alive("PolicyAgent")}
    assert list(Path(cfg.serve.spool_dir).iterdir()) == []
