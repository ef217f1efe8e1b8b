"""The plugin's ``serve_url=`` mode: one question to a running ``m1 serve`` (``POST /v1/answer``).

No lmms-eval import here. The server answers with the team's final answer (a letter for multiple
choice, canonical text otherwise), frames used and tool calls; the seconds are this client's wall
time for the request. The server must be allowed to read the video (``serve.allowed_roots``).
"""

from __future__ import annotations

import time
from typing import Any

from m1.schema import Question


class ServeAnswerError(RuntimeError):
    """The endpoint answered with an error status (its JSON error body is in the message)."""


def ask_serve(url: str, q: Question, timeout: float, api_key: str | None = None) -> dict[str, Any]:
    """``{"answer", "frames", "seconds", "tool_calls"}`` for ``q`` from the endpoint at ``url``."""
    import requests

    body = {"question": q.question, "video_path": q.video, "options": q.options, "task_type": q.task_type.value}
    headers = {"X-API-Key": api_key} if api_key else {}
    t0 = time.perf_counter()
    r = requests.post(f"{url.rstrip('/')}/v1/answer", json=body, headers=headers, timeout=timeout)
    if r.status_code != 200:
        raise ServeAnswerError(f"{url}/v1/answer answered {r.status_code} for {q.qid}: {r.text[:300]}")
    out = r.json()
    return {"answer": out.get("answer") or "", "frames": int(out.get("frames_used", 0)),
            "seconds": time.perf_counter() - t0, "tool_calls": int(out.get("tool_calls", 0))}
