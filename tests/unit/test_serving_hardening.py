"""Serving against hostile input (issue 17): files outside the allowed roots must stay unreadable
through playlists and lists FFmpeg would follow (HLS, ffconcat, a text "video"), whether they are
uploaded, named by path or fetched; malformed requests are 4xx, not 500/503; 5xx bodies carry no
back-end internals; a URL fetch has an overall deadline. Real files, a real HTTP stack."""

from __future__ import annotations

import errno
import http.server
import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_fixtures import make_service, planning_team, serving  # noqa: E402

H = {"X-API-Key": "k3y"}


def _frames(n: int = 20):
    for i in range(n):
        yield np.full((48, 64, 3), 10 * i, np.uint8)


@contextmanager
def watch_opens(path: Path):
    """``path`` becomes a FIFO; yields the list of times anyone opened it for reading (a reader's
    open of a FIFO waits for a writer, which a thread here offers and records)."""
    os.mkfifo(path)
    opens: list[float] = []
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # succeeds only while someone reads
            except OSError as e:
                assert e.errno == errno.ENXIO, e
                time.sleep(0.005)
                continue
            opens.append(time.monotonic())
            os.close(fd)  # the reader sees an empty file

    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        yield opens
    finally:
        stop.set()
        th.join(5)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """root/ (allowed), outside/secret.mp4 (a real video), outside/trap.mp4 (a FIFO), an HTTP server."""
    from m1.video import write_video

    base = tmp_path_factory.mktemp("hardening")
    (base / "root").mkdir()
    (base / "outside").mkdir()
    secret = write_video(base / "outside" / "secret.mp4", _frames(), fps=10, codec="h264", gop=5)
    inside = write_video(base / "root" / "ok.mp4", _frames(), fps=10, codec="h264", gop=5)
    return base, secret, inside


def playlist(target: str) -> str:
    return f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n"


def attacks(secret: Path) -> dict[str, str]:
    """Name -> contents of files FFmpeg would follow to ``secret`` (or play as a video)."""
    return {
        "abs.m3u8": playlist(str(secret)),
        "url.m3u8": playlist(f"file://{secret}"),
        "rel.m3u8": playlist(f"../../../../../../..{secret}"),
        "list.ffconcat": f"ffconcat version 1.0\nfile '{secret}'\n",
        "list.txt": f"file '{secret}'\n",
        "readme.txt": "".join(f"line {i}: text FFmpeg's tty demuxer renders as frames\n" for i in range(400)),
    }


@pytest.fixture(scope="module")
def api(tree):
    base, _, _ = tree
    svc = make_service(planning_team(), [f"serve.allowed_roots=[{base / 'root'}]", "serve.api_key=k3y",
                                         "serve.allow_urls=true", "serve.allow_private_urls=true",
                                         f"serve.spool_dir={base / 'spool'}", "serve.thumbnails=0"])
    with serving(svc) as url:
        yield url


@contextmanager
def http_files(files: dict[str, bytes]):
    """A static HTTP server on 127.0.0.1 serving ``files`` by name."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _upload(url: str, name: str, data: bytes) -> requests.Response:
    return requests.post(f"{url}/v1/answer", headers=H, timeout=60, files={"video": (name, data)},
                         data={"question": "What is shown?"})


def _refused(r: requests.Response) -> dict:
    assert r.status_code == 422, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["code"] == "bad_video" and "not a supported video container" in err["message"], err
    return err


def test_uploaded_playlists_lists_and_text_cannot_read_outside_files(api, tree):
    base, secret, _ = tree
    for name, text in attacks(secret).items():
        _refused(_upload(api, name, text.encode()))
    # the same upload named like a video, and a real video named like a playlist: the bytes decide
    _refused(_upload(api, "clip.mp4", playlist(str(secret)).encode()))
    r = _upload(api, "clip.m3u8", secret.read_bytes())
    assert r.status_code == 200 and 1.9 < r.json()["video_seconds"] < 2.2, r.text[:300]
    assert list((base / "spool").iterdir()) == []


def test_playlists_never_open_their_target_and_reveal_no_existence(api, tree):
    base, _, _ = tree
    trap = base / "outside" / "trap.mp4"
    pairs = []
    with watch_opens(trap) as opens:
        for target in (str(trap), f"file://{trap}"):
            pairs.append((_upload(api, "x.m3u8", playlist(target).encode()),
                          _upload(api, "x.m3u8", playlist(target.replace("trap", "gone")).encode())))
        pairs.append((_upload(api, "x.ffconcat", f"ffconcat version 1.0\nfile '{trap}'\n".encode()),
                      _upload(api, "x.ffconcat", f"ffconcat version 1.0\nfile '{base / 'gone.mp4'}'\n".encode())))
        time.sleep(0.1)
    assert opens == []  # the decoder never opened the file the playlist names
    for exists, missing in pairs:
        assert _refused(exists) == _refused(missing)  # no existence oracle: the same error either way


def test_playlists_by_path_inside_a_root(api, tree):
    base, secret, inside = tree
    for name, text in attacks(secret).items():
        (base / "root" / name).write_text(text)
        r = requests.post(f"{api}/v1/answer", headers=H, timeout=60,
                          json={"question": "q", "video_path": str(base / "root" / name)})
        _refused(r)
    ok = requests.post(f"{api}/v1/answer", headers=H, timeout=60, json={"question": "q", "video_path": str(inside)})
    assert ok.status_code == 200 and 1.9 < ok.json()["video_seconds"] < 2.2, ok.text[:300]


def test_fetched_playlists_cannot_read_outside_files(api, tree):
    base, secret, _ = tree
    served = {name: text.encode() for name, text in attacks(secret).items()} | {"real.m3u8": secret.read_bytes()}
    with http_files(served) as origin:
        for name in attacks(secret):
            r = requests.post(f"{api}/v1/answer", headers=H, timeout=60,
                              json={"question": "q", "video_url": f"{origin}/{name}"})
            _refused(r)
        r = requests.post(f"{api}/v1/answer", headers=H, timeout=60,
                          json={"question": "q", "video_url": f"{origin}/real.m3u8"})
        assert r.status_code == 200 and 1.9 < r.json()["video_seconds"] < 2.2, r.text[:300]
    assert list((base / "spool").iterdir()) == []


def _err(r: requests.Response, status: int, code: str) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    err = r.json()["error"]
    assert err["code"] == code, err
    return err["message"]


def test_malformed_requests_are_4xx_without_echo_or_disclosure(api, tree):
    base, _, inside = tree

    def post(body):
        return requests.post(f"{api}/v1/answer", headers=H, timeout=60, json=body)

    long_name = "a" * 300  # a path component over 255 bytes: the OS error would name the allowed root
    for path in (long_name, f"{base / 'root'}/{long_name}.mp4", f"{base / 'root'}/{'b/' * 3000}x.mp4"):
        msg = _err(post({"question": "q", "video_path": path}), 400, "bad_path")
        assert str(base) not in msg and "a" * 100 not in msg
    huge = "/x/" + "c" * 1_000_000
    msg = _err(post({"question": "q", "video_path": huge}), 403, "path_not_allowed")
    assert len(msg) < 400  # a 1 MB input is not echoed back
    r = requests.post(f"{api}/v1/answer", headers=H, timeout=60, files={"video": ("v.mp4", inside.read_bytes())},
                      data={"question": "q", "options": "[" * 5000})
    _err(r, 400, "bad_options")
    for url in ("http://127.0.0.1:9/v\t.mp4", "http://127.0.0.1:9/a b.mp4", "http://exa\tmple.com/v.mp4"):
        _err(post({"question": "q", "video_url": url}), 400, "bad_url")
    chat = {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": str(inside)}},
                                                      {"type": "text", "text": "what \ud800 is shown?"}]}]}
    # json.dumps writes the lone surrogate as the escape "\ud800", which JSON parsers accept
    r = requests.post(f"{api}/v1/chat/completions", headers=H | {"Content-Type": "application/json"},
                      data=json.dumps(chat), timeout=60)
    assert "valid Unicode" in _err(r, 422, "invalid_request")
    r = requests.post(f"{api}/v1/chat/completions", headers=H | {"Content-Type": "application/json"},
                      data=json.dumps({"model": "m\udfff", "messages": [{"role": "user", "content": [
                          chat["messages"][0]["content"][0], {"type": "text", "text": "ok?"}]}]}), timeout=60)
    _err(r, 422, "invalid_request")
    assert requests.get(f"{api}/healthz", timeout=10).status_code == 200


RAY_TEXT = ("The actor died unexpectedly before finishing this task. class_name: PolicyAgentActor "
            "actor_id: 8f3c2a1b9d7e6f5a4b3c2d1e01000000 pid: 41234 namespace: m1-serve ip: 10.1.2.3 "
            "The worker exited: SYSTEM_ERROR_EXIT, exit code 1")


def test_server_errors_carry_no_backend_internals(tree, caplog):
    base, _, inside = tree
    broken = planning_team()

    def die(requests_):
        raise RuntimeError(RAY_TEXT)

    broken.generate = die
    svc = make_service(broken, [f"serve.allowed_roots=[{base / 'root'}]", f"serve.spool_dir={base / 'spool6'}"])
    with serving(svc) as url, caplog.at_level("ERROR", logger="m1.serving"):
        r = requests.post(f"{url}/v1/answer", json={"question": "q", "video_path": str(inside)}, timeout=60)
        msg = _err(r, 503, "backend_unavailable")
        s = requests.post(f"{url}/v1/answer?stream=true", json={"question": "q", "video_path": str(inside)},
                          timeout=60)
        last = s.text.strip().split("\n\n")[-1]
        assert last.startswith("event: error") and "backend_unavailable" in last

        def count():
            raise ConnectionError(RAY_TEXT)

        svc.store.count = count  # /healthz over a dead trace store
        hmsg = _err(requests.get(f"{url}/healthz", timeout=10), 500, "internal_error")
    for text in (msg, last, hmsg):
        for secret in ("actor_id", "8f3c2a1b", "41234", "10.1.2.3", "m1-serve", "SYSTEM_ERROR_EXIT", "PolicyAgent"):
            assert secret not in text, (secret, text)
        assert "incident " in text
    incident = msg.rsplit("incident ", 1)[1].rstrip(")")
    logged = [rec.getMessage() for rec in caplog.records if incident in rec.getMessage()]
    assert len(logged) == 1 and "actor_id: 8f3c2a1b" in logged[0]  # the operator still gets the details


@contextmanager
def trickling_server(bytes_per_s: float = 10.0, headers_too: bool = False):
    """An HTTP server on 127.0.0.1 that sends a video of 'Content-Length: 10000' at ``bytes_per_s``
    (with ``headers_too``: the header block itself trickles); counts the requests it got."""
    seen, stop = [], threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the stdlib's name
            seen.append(self.path)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 10000\r\n\r\n"
            body = b"\0" * 10000
            data = head + body if headers_too else body
            if not headers_too:
                self.wfile.write(head)
            try:
                for i in range(len(data)):
                    if stop.is_set():
                        return
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(1 / bytes_per_s)
            except OSError:
                return  # the client hung up

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    finally:
        stop.set()
        srv.shutdown()
        srv.server_close()


def _timed_post(url: str, body: dict) -> tuple[float, requests.Response]:
    t0 = time.monotonic()
    r = requests.post(f"{url}/v1/answer", json=body, timeout=30)
    return time.monotonic() - t0, r


def test_a_trickling_url_ends_at_its_deadline_and_starves_nothing(tree):
    base, _, _ = tree
    svc = make_service(planning_team(), ["serve.allow_urls=true", "serve.allow_private_urls=true",
                                         "serve.url_timeout=1.5", "serve.request_timeout=20", "serve.concurrency=1",
                                         f"serve.spool_dir={base / 'spool4'}"])
    with serving(svc) as url, trickling_server() as (origin, seen), trickling_server(headers_too=True) as (slow, _):
        for src in (f"{origin}/v.mp4", f"{slow}/v.mp4"):  # a trickling body, a trickling header block
            took, r = _timed_post(url, {"question": "q", "video_url": src})
            assert _err(r, 504, "url_timeout") and 1.4 < took < 4.0, (took, r.text)
        # 8 trickling fetches at once (more than the input threads): /healthz stays fast meanwhile
        out: list = []
        bodies = [{"question": "q", "video_url": f"{origin}/{i}.mp4"} for i in range(8)]
        threads = [threading.Thread(target=lambda b=b: out.append(_timed_post(url, b))) for b in bodies]
        for t in threads:
            t.start()
        _wait_for(lambda: len(seen) >= 4)
        for _ in range(5):
            t0 = time.monotonic()
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
            assert time.monotonic() - t0 < 1.0
            time.sleep(0.2)
        for t in threads:
            t.join(30)
        assert len(out) == 8 and all(r.status_code == 504 for _, r in out)
        assert max(took for took, _ in out) < 12.0  # queued behind the input threads, never beyond the deadlines
    assert list((base / "spool4").iterdir()) == []


def test_the_fetch_counts_against_the_request_timeout(tree):
    base, _, _ = tree
    svc = make_service(planning_team(), ["serve.allow_urls=true", "serve.allow_private_urls=true",
                                         "serve.url_timeout=30", "serve.request_timeout=2",
                                         f"serve.spool_dir={base / 'spool4b'}"])
    with serving(svc) as url, trickling_server() as (origin, _):
        took, r = _timed_post(url, {"question": "q", "video_url": f"{origin}/v.mp4"})
        assert r.status_code == 504 and r.json()["error"]["code"] in ("timeout", "url_timeout"), r.text
        assert 1.9 < took < 4.5, took


def _wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_healthz_reports_dead_backends(tree):
    base, _, inside = tree
    svc = make_service(planning_team(), [f"serve.allowed_roots=[{base / 'root'}]",
                                         f"serve.spool_dir={base / 'spool2'}"])
    with serving(svc) as url:
        assert requests.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"
        svc.dead_backends = lambda: ["policy agent agent2", "shared memory"]
        msg = _err(requests.get(f"{url}/healthz", timeout=10), 503, "backends_unavailable")
        assert "policy agent agent2, shared memory" in msg
