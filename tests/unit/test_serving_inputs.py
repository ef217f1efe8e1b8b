"""Serving input policy without a server: allowed roots and symlink escapes, the URL policy,
data: URLs and size limits, spool cleanup, chat message conversion, Prometheus text."""

import asyncio
import base64
import io

import pytest

from m1.config.serve import ServeConfig
from m1.schema import TaskType
from m1.serving.chat import split_options, to_question
from m1.serving.errors import ApiError
from m1.serving.inputs import RequestFiles, check_url, resolve_local
from m1.serving.metrics import Metrics
from m1.serving.types import ChatCompletionRequest


def _code(fn, *a):
    with pytest.raises(ApiError) as e:
        fn(*a)
    return e.value.status, e.value.code


def test_paths_only_inside_allowed_roots(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    (root / "ok.mp4").write_bytes(b"x")
    (outside / "secret.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "dirlink").symlink_to(outside)
    cfg = ServeConfig(allowed_roots=[str(root)])
    assert resolve_local(str(root / "ok.mp4"), cfg) == (root / "ok.mp4").resolve()
    assert resolve_local("ok.mp4", cfg) == (root / "ok.mp4").resolve()  # relative to the first root
    assert _code(resolve_local, str(root / ".." / "outside" / "secret.mp4"), cfg) == (403, "path_not_allowed")
    assert _code(resolve_local, str(root / "link.mp4"), cfg) == (403, "path_not_allowed")  # symlink escape
    assert _code(resolve_local, str(root / "dirlink" / "secret.mp4"), cfg) == (403, "path_not_allowed")
    assert _code(resolve_local, "/etc/passwd", cfg) == (403, "path_not_allowed")
    assert _code(resolve_local, "/no/such/file", cfg) == (403, "path_not_allowed")  # no existence oracle outside
    assert _code(resolve_local, str(root / "missing.mp4"), cfg) == (404, "video_not_found")
    assert _code(resolve_local, str(root), cfg) == (404, "video_not_found")  # a directory
    assert _code(resolve_local, str(root / "ok.mp4"), ServeConfig()) == (403, "paths_disabled")


def test_url_policy():
    off = ServeConfig()
    assert _code(check_url, "https://example.com/v.mp4", off) == (403, "urls_disabled")
    on = ServeConfig(allow_urls=True, url_schemes=["https"])
    assert _code(check_url, "ftp://example.com/v.mp4", on) == (400, "url_scheme_not_allowed")
    assert _code(check_url, "http://example.com/v.mp4", on) == (400, "url_scheme_not_allowed")
    on = ServeConfig(allow_urls=True)
    for private in ("http://127.0.0.1/v.mp4", "http://localhost:8000/v.mp4", "http://10.1.2.3/v",
                    "http://169.254.169.254/latest/meta-data", "http://[::1]/v", "http://[::ffff:127.0.0.1]/v",
                    "http://0.0.0.0/v"):
        assert _code(check_url, private, on) == (403, "url_not_allowed"), private
    assert _code(check_url, "http://user:pw@example.com/v", on)[1] == "bad_url"
    assert _code(check_url, "http:///nohost", on)[1] == "bad_url"
    assert check_url("http://127.0.0.1:9/v.mp4", ServeConfig(allow_urls=True, allow_private_urls=True)).port == 9
    with pytest.raises(ValueError, match="only http and https"):
        ServeConfig(url_schemes=["file"])


def test_spooling_limits_and_cleanup(tmp_path):
    cfg = ServeConfig(max_upload_mb=1, spool_dir=str(tmp_path / "spool"))
    files = RequestFiles(cfg)
    p = files.save_data_url("data:video/mp4;base64," + base64.b64encode(b"abc").decode())
    assert p.read_bytes() == b"abc" and p.name == "video" and p.parent == files.dir
    big = base64.b64encode(b"\0" * (2 * 2**20)).decode()
    assert _code(files.save_data_url, "data:video/mp4;base64," + big) == (413, "upload_too_large")
    assert _code(files.save_data_url, "data:video/mp4,abc")[1] == "bad_data_url"
    assert _code(files.save_data_url, "data:video/mp4;base64,@@@")[1] == "bad_data_url"

    class Upload:
        def __init__(self, data, filename):
            self.buf, self.filename = io.BytesIO(data), filename

        async def read(self, n):
            return self.buf.read(n)

    saved = asyncio.run(files.save_upload(Upload(b"x" * 10, "../../etc/evil.mp4")))
    # neither the client's name nor its suffix is used (a suffix would not pick the demuxer anyway)
    assert saved.parent == files.dir and saved.name == "video"
    with pytest.raises(ApiError) as e:
        asyncio.run(files.save_upload(Upload(b"x" * (2**20 + 1), "v.mp4")))
    assert e.value.status == 413
    files.cleanup()
    assert list((tmp_path / "spool").iterdir()) == []


def test_chat_messages_to_question():
    assert split_options("Which?\nA. red\nB. blue") == ("Which?", ["red", "blue"])
    assert split_options("Which?\nB. red\nA. blue") == ("Which?\nB. red\nA. blue", [])  # not in order
    req = ChatCompletionRequest.model_validate({"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "file:///v.mp4"}},
                                     {"type": "text", "text": "Which colour?\n(A) red\n(B) blue"}]}]})
    q = to_question(req)
    assert (q.video_url, q.question, q.options, q.task_type) == ("file:///v.mp4", "Which colour?", ["red", "blue"],
                                                                 TaskType.MULTIPLE_CHOICE)
    req = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": "x"}}, {"type": "text", "text": "When?"}]}],
        "m1": {"task_type": "grounding", "seed": 3}})
    assert to_question(req).task_type == TaskType.GROUNDING and to_question(req).seed == 3
    no_video = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": "hi"}]})
    assert _code(to_question, no_video) == (400, "video_required")
    no_text = ChatCompletionRequest.model_validate({"messages": [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": "x"}}]}]})
    assert _code(to_question, no_text) == (400, "question_required")


def test_prometheus_text():
    m = Metrics()
    m.request("/v1/answer", 200, 0.3)
    m.request("/v1/answer", 403, 0.001)
    m.error("/v1/answer", "path_not_allowed")
    m.episode(frames=20, seconds=0.3)
    text = m.render()
    assert 'm1_requests_total{endpoint="/v1/answer",status="200"} 1' in text
    assert 'm1_errors_total{endpoint="/v1/answer",code="path_not_allowed"} 1' in text
    assert 'm1_request_seconds_bucket{endpoint="/v1/answer",le="0.005"} 1' in text
    assert 'm1_request_seconds_bucket{endpoint="/v1/answer",le="0.5"} 2' in text
    assert 'm1_frames_per_query_bucket{le="16"} 0' in text and 'm1_frames_per_query_bucket{le="32"} 1' in text
    assert "m1_frames_per_query_sum 20.000000" in text and "m1_request_seconds_count{endpoint=\"/v1/answer\"} 2" in text
