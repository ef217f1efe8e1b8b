"""What clients get when a replica dies under them (the proxy middleware) and what its dead
requests leave on disk (the spool sweep): the fast halves of the failure drill in
benchmarks/serve_load.py."""

import asyncio
import json
import subprocess
import sys

from m1.config.serve import ServeConfig
from m1.serving.inputs import RequestFiles, _host, _start_time, sweep_orphans
from m1.serving.proxy import CALLBACK, ProxyErrors, middlewares


def _call(app, path="/v1/answer"):
    sent = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(msg):
        sent.append(msg)

    asyncio.run(ProxyErrors(app)({"type": "http", "path": path, "method": "POST"}, receive, send))
    return sent


def _response(sent):
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


async def _silent(scope, receive, send):  # what Serve's proxy does when the replica died mid-request
    return None


def test_no_response_becomes_json_503():
    status, headers, body = _response(_call(_silent))
    assert status == 503 and headers[b"content-type"] == b"application/json" and headers[b"retry-after"] == b"1"
    err = json.loads(body)["error"]
    assert err["code"] == "replica_unavailable" and err["type"] == "server_error" and "retry" in err["message"]


def test_a_crash_in_the_proxy_becomes_json_503():
    async def boom(scope, receive, send):
        raise RuntimeError("lost")

    status, _, body = _response(_call(boom))
    assert status == 503 and json.loads(body)["error"]["code"] == "replica_unavailable"


def test_plain_text_proxy_errors_get_the_json_shape():
    async def backpressure(scope, receive, send):
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"Request dropped due to backpressure", "more_body": False})

    status, headers, body = _response(_call(backpressure))
    assert status == 503 and headers[b"content-type"] == b"application/json"
    assert json.loads(body)["error"] == {
        "message": "Request dropped due to backpressure",
        "type": "server_error",
        "code": "unavailable",
    }


def test_app_responses_pass_untouched():
    payload = json.dumps({"error": {"message": "x", "type": "server_error", "code": "backend_unavailable"}}).encode()

    async def app_error(scope, receive, send):
        await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    sent = _call(app_error)
    assert len(sent) == 2 and _response(sent) == (503, {b"content-type": b"application/json"}, payload)
    # outside /v1/ nothing is added, not even for a silent app
    assert _call(_silent, path="/-/healthz") == []


def test_a_cut_event_stream_ends_with_an_error_event():
    async def cut(scope, receive, send):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": b"event: progress\ndata: {}\n\n", "more_body": True})

    sent = _call(cut)
    assert sent[-1]["more_body"] is False
    last = sent[-1]["body"].decode()
    assert last.startswith("event: error\n")
    data = json.loads(last.split("data: ", 1)[1])
    assert data["status"] == 503 and data["error"]["code"] == "replica_unavailable"

    async def complete(scope, receive, send):
        await cut(scope, receive, send)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    assert b"event: error" not in b"".join(m.get("body", b"") for m in _call(complete))



def _stream_cut_after(*chunks):
    """What a client reads of an event stream whose replica died after sending ``chunks``."""

    async def cut(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        for c in chunks:
            await send({"type": "http.response.body", "body": c, "more_body": True})

    sent = _call(cut)
    assert sent[-1]["type"] == "http.response.body" and sent[-1]["more_body"] is False
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body").decode()


def test_a_stream_cut_after_its_last_event_is_closed_without_an_error():
    result = b'event: result\ndata: {"answer": "red"}\n\n'
    # the answer arrived whole (in one chunk or split): only the end of the body was lost
    assert _stream_cut_after(b"event: progress\ndata: {}\n\n", result).endswith(result.decode())
    assert _stream_cut_after(b"event: progress\ndata: {}\n\n" + result[:20], result[20:]).endswith(result.decode())
    assert _stream_cut_after(b'data: {"choices": []}\n\n', b"data: [DONE]\n\n").endswith("data: [DONE]\n\n")
    # cut inside the result event, or after a progress event: the stream ends with an error event
    for chunks in ([result[:25]], [result, b"event: progress\ndata: {}\n\n"], [b'data: {"choices": []}\n\n']):
        tail = _stream_cut_after(*chunks).rsplit("\n\n", 2)[-2]
        assert tail.startswith("event: error\n") and "replica_unavailable" in tail, chunks

def test_callback_for_ray_serve():
    from ray.serve._private.http_util import validate_http_proxy_callback_return
    from ray.serve._private.utils import call_function_from_import_path

    mws = validate_http_proxy_callback_return(call_function_from_import_path(CALLBACK))
    assert [m.cls for m in mws] == [ProxyErrors] and len(middlewares()) == 1


def test_sweep_removes_only_dead_processes_spool_dirs(tmp_path):
    cfg = ServeConfig(spool_dir=str(tmp_path))
    live = RequestFiles(cfg)  # ours: kept
    (live.dir / "video.mp4").write_bytes(b"x")
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    ).stdout.strip()
    host = _host()
    dead = tmp_path / f"m1-req-{host}-{dead_pid}.12345-abc"  # its process has exited
    reused = tmp_path / f"m1-req-{host}-1.{(_start_time(1) or 0) + 1}-abc"  # pid 1 now, but a different process
    other_host = tmp_path / f"m1-req-00000000-{dead_pid}.12345-abc"  # another machine's: not ours to judge
    legacy = tmp_path / "m1-req-abcdef"  # no owner recorded
    for d in (dead, reused, other_host, legacy):
        d.mkdir()
        (d / "video.mp4").write_bytes(b"x")
    removed = sweep_orphans(cfg)
    assert set(removed) == ({dead, reused} if _start_time(1) else {dead})
    assert live.dir.exists() and other_host.exists() and legacy.exists() and not dead.exists()
    live.cleanup()
    assert not live.dir.exists()
