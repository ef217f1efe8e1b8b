"""Ray Serve proxy middleware: the proxy's own failures on ``/v1/*`` in the API's JSON error shape.

The app renders every error as ``{"error": {...}}`` (:mod:`m1.serving.errors`), but some failures
never reach it: when a replica dies with requests in flight, Serve's HTTP proxy sends *nothing*
for them and uvicorn answers a bare ``500 Internal Server Error`` (text/plain); a streamed answer
cut by a dying replica just stops; the proxy's own refusals (backpressure 503, its request
timeout 408) are plain text. :class:`ProxyErrors` wraps the proxy's ASGI app and turns these into

- ``503 replica_unavailable`` (JSON, ``Retry-After``) when the app sent no response at all: the
  request was not completed and may be retried;
- a final SSE ``error`` event (the app's own stream-error shape) when an event stream ends
  without its last chunk, unless the app's last event already ended the answer (``result``,
  ``error`` or ``data: [DONE]`` arrived whole, only the end of the body was lost): that stream
  is just closed, so a client never reads an error after a complete answer (an event cut in
  its middle is ended before the error event, so the error is always an event of its own);
- the same status with a JSON body when the proxy answers a plain-text error.

Responses that come from the app (JSON errors, answers, streams) pass through untouched.

It runs in the proxy actors, which Ray Serve configures from the environment of their node:
``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=m1.serving.proxy:middlewares`` (:data:`CALLBACK`).
``jobs/serve.py`` sets it before it starts a local Ray; a cluster sets it on every node
(``clusters/kuberay/rayservice-serve.yaml``). Imports nothing heavy: the proxy loads it at start.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from m1.serving.errors import ApiError

CALLBACK = "m1.serving.proxy:middlewares"
ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
_CODES = {
    408: "proxy_timeout",
    429: "overloaded",
    500: "proxy_error",
    502: "bad_gateway",
    503: "unavailable",
    504: "proxy_timeout",
}

log = logging.getLogger(__name__)


def _terminal(event: bytes) -> bool:
    """Whether an SSE event ends an answer: /v1/answer's ``result`` or ``error``, chat's ``[DONE]``."""
    return event.startswith((b"event: result\n", b"event: error\n")) or event.strip() == b"data: [DONE]"


def _body(status: int, code: str, message: str) -> bytes:
    return json.dumps(ApiError(status, code, message).body()).encode()


def replica_unavailable() -> tuple[int, bytes]:
    return 503, _body(
        503,
        "replica_unavailable",
        "the server replica handling this request stopped before it "
        "answered (it crashed or was restarted); the request was not completed: retry it",
    )


class ProxyErrors:
    """Pure ASGI middleware (see the module docstring)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        st: dict[str, Any] = {"started": False, "ended": False, "sse": False, "held": None, "text": b"",
                              "complete": False, "tail": b""}

        async def guarded(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in msg.get("headers", [])}
                ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
                if msg["status"] >= 400 and not ctype.startswith("application/json"):
                    st["held"] = msg  # the proxy's plain-text error: answered in JSON once its body is read
                    return
                st["started"], st["sse"] = True, ctype.startswith("text/event-stream")
            elif msg["type"] == "http.response.body":
                if st["held"] is not None:
                    st["text"] += msg.get("body", b"")
                    if not msg.get("more_body", False):
                        status = st["held"]["status"]
                        text = st["text"].decode("utf-8", "replace").strip() or "error"
                        st["held"], st["started"], st["ended"] = None, True, True
                        await self._send(send, status, _body(status, _CODES.get(status, "proxy_error"), text))
                    return
                if not msg.get("more_body", False):
                    st["ended"] = True
                elif st["sse"] and msg.get("body"):  # whole events so far, and whether the last ends the answer
                    *events, st["tail"] = (st["tail"] + msg["body"]).split(b"\n\n")
                    if events := [e for e in events if e.strip()]:
                        st["complete"] = _terminal(events[-1])
                    st["complete"] = st["complete"] and not st["tail"].strip()
            await send(msg)

        failure: BaseException | None = None
        try:
            await self.app(scope, receive, guarded)
        except Exception as e:  # noqa: BLE001 - answered below like a response that never came
            failure = e
        try:
            if st["held"] is not None:  # a plain-text error whose body never finished
                status = st["held"]["status"]
                await self._send(send, status, _body(status, _CODES.get(status, "proxy_error"), "error"))
            elif not st["started"]:
                await self._send(send, *replica_unavailable())
            elif not st["ended"] and st["sse"] and st["complete"]:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif not st["ended"] and st["sse"]:
                status, body = replica_unavailable()
                data = json.dumps(json.loads(body) | {"status": status})
                await send(
                    {
                        "type": "http.response.body",
                        # a cut event is ended first, so that the error is an event of its own
                        "body": (b"\n\n" if st["tail"].strip() else b"") + f"event: error\ndata: {data}\n\n".encode(),
                        "more_body": False,
                    }
                )
        except Exception:  # noqa: BLE001 - the client is gone
            log.debug("could not send the failure response", exc_info=True)
        if failure is not None:
            log.warning("request %s failed in the proxy: %s", scope.get("path"), failure)

    @staticmethod
    async def _send(send: Any, status: int, body: bytes) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status in (429, 503):
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def middlewares() -> list[Any]:
    """The callback named by ``RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH`` (:data:`CALLBACK`)."""
    from starlette.middleware import Middleware

    return [Middleware(ProxyErrors)]
