"""The real Ray Serve deployment on loopback: the app behind Serve's HTTP proxy, driving the
training actors (policy agents, tool pool, memory) with the untrained tiny team."""

import json
import socket

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
        f"serve.port={port}", f"serve.allowed_roots=[{root / 'data'}]", "serve.api_key=sesame", "serve.thumbnails=4"])
    import jobs.serve as js

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
    assert 'm1_requests_total{endpoint="/v1/answer",status="200"}' in requests.get(f"{url}/metrics", timeout=30).text


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
