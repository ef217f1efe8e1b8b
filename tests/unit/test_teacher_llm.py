"""The LLM teacher against a real OpenAI-compatible HTTP server on localhost (stdlib http.server
serving /v1/chat/completions, generating with the project's HFEngine and a tiny model), driven by
the real ``openai`` client: retries on 429/500, no retry on 400, the response cache (a second
identical request makes no HTTP call, also across instances), the rate limit, the usage log."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from m1.checkpoint import train_tokenizer
from m1.config import AgentSpec, LLMTeacherConfig
from m1.engines.base import SamplingSettings
from m1.engines.hf import HFEngine
from m1.models import build_model
from m1.schema import Question, TaskType
from m1.team.cpp import GenRequest, Phase
from m1.train.teachers import SYSTEM_PROMPTS, LLMTeacher, TeacherError, clean_reply

Q = Question(qid="q", video="/v.mp4", question="What colour?", options=["red", "blue"], answer="B",
             task_type=TaskType.MULTIPLE_CHOICE)


def request(phase, prompt, agent=0):
    return GenRequest(agent, prompt, SamplingSettings(max_new_tokens=8), phase, Q, 0, f"a{agent}")


class Server:
    """An OpenAI-compatible chat endpoint; ``fail`` is a queue of HTTP statuses to answer first."""

    def __init__(self, engine):
        self.engine, self.fail, self.arrivals, self.bodies = engine, [], [], []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.arrivals.append(time.monotonic())
                outer.bodies.append(body)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                if outer.fail:
                    status = outer.fail.pop(0)
                    return self._send(status, {"error": {"message": f"injected {status}", "type": "test"}},
                                      {"Retry-After": "0"} if status == 429 else {})
                prompt = "\n".join(m["content"] for m in body["messages"])
                c = outer.engine.generate([prompt[-200:]], SamplingSettings(
                    temperature=0.0, max_new_tokens=min(8, body.get("max_tokens") or 8)))[0]
                self._send(200, {
                    "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"```\n{c.text}\n```"}}],
                    "usage": {"prompt_tokens": len(c.prompt_ids), "completion_tokens": len(c.completion_ids),
                              "total_tokens": len(c.prompt_ids) + len(c.completion_ids)}})

            def _send(self, status, payload, headers=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    torch.set_num_threads(1)
    tok = train_tokenizer(["#plan Q: What colour? 1. fine_browser {} KEEP DONE candidate=B"] * 4, vocab_size=300)
    spec = AgentSpec(name="t", arch="qwen2", hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16,
                     intermediate_size=64, max_context=512)
    s = Server(HFEngine(build_model(spec, tok, seed=0), tok))
    yield s
    s.close()


def teacher(server, tmp_path, **kw):
    base = dict(base_url=server.url, model="tiny-hf", backoff=0.01, max_backoff=0.05, requests_per_minute=6000,
                cache_path=str(tmp_path / "cache.jsonl"), usage_log=str(tmp_path / "usage.jsonl"),
                usd_per_m_prompt=1.0, usd_per_m_completion=2.0)
    return LLMTeacher(LLMTeacherConfig(**{**base, **kw}))


def test_retries_then_answers_and_logs_usage(server, tmp_path):
    server.fail[:] = [429, 500, 503]
    n0 = len(server.arrivals)
    t = teacher(server, tmp_path)
    text = t.write(request(Phase.PLAN, "#plan\nQ: What colour?\nPlan:\n"))
    assert len(server.arrivals) - n0 == 4  # three failures, then success
    assert t.usage["retries"] == 3 and t.usage["requests"] == 1 and "```" not in text
    body = server.bodies[-1]
    assert body["model"] == "tiny-hf" and body["messages"][0]["role"] == "system"
    assert body["messages"][0]["content"] == SYSTEM_PROMPTS[Phase.PLAN]
    assert body["messages"][1]["content"] == "#plan\nQ: What colour?\nPlan:\n"
    log = [json.loads(x) for x in (tmp_path / "usage.jsonl").read_text().splitlines()]
    assert len(log) == 1 and log[0]["attempts"] == 4 and not log[0]["cached"]
    assert log[0]["prompt_tokens"] > 0 and log[0]["completion_tokens"] > 0
    assert log[0]["cost_usd"] == pytest.approx((log[0]["prompt_tokens"] + 2 * log[0]["completion_tokens"]) / 1e6)
    assert t.usage["cost_usd"] == pytest.approx(log[0]["cost_usd"])


def test_cache_serves_identical_requests_without_http(server, tmp_path):
    t = teacher(server, tmp_path)
    answer = "#answer\nEvidence:\nAnswer:\n"
    first = t.write(request(Phase.ANSWER, answer))
    n = len(server.arrivals)
    assert t.write(request(Phase.ANSWER, answer, agent=3)) == first
    assert len(server.arrivals) == n and t.usage["cached"] == 1
    again = teacher(server, tmp_path)  # a new process reads the cache file
    assert again.write(request(Phase.ANSWER, answer)) == first and len(server.arrivals) == n
    # the phase comes from the request, not the prompt's first line: another system prompt, a new request
    t.write(request(Phase.REVISION, answer))
    assert len(server.arrivals) == n + 1 and server.bodies[-1]["messages"][0]["content"] == SYSTEM_PROMPTS[
        Phase.REVISION]
    log = [json.loads(x) for x in (tmp_path / "usage.jsonl").read_text().splitlines()]
    assert [r["cached"] for r in log] == [False, True, True, False]


def test_rate_limit_spaces_requests(server, tmp_path):
    # the limiter's own clock, not arrival times at the server: on a loaded machine a request that
    # left late arrives close to the next one although the limiter spaced their departures correctly
    now, slept, sent = [100.0], [], []

    def sleep(d):
        slept.append(d)
        now[0] += d

    t = LLMTeacher(teacher(server, tmp_path, requests_per_minute=600, cache_path=None).cfg,  # one per 0.1 s
                   clock=lambda: now[0], sleep=sleep)
    n = len(server.arrivals)
    for i in range(4):
        t.chat([{"role": "user", "content": f"#plan {i}"}])
        sent.append(now[0])
    assert len(server.arrivals) == n + 4
    assert slept == pytest.approx([0.1, 0.1, 0.1]) and sent == pytest.approx([100.0, 100.1, 100.2, 100.3])
    now[0] += 1.0  # a quiet second: the next request goes at once
    t.chat([{"role": "user", "content": "#plan later"}])
    assert len(slept) == 3


def test_non_retryable_errors_and_exhausted_retries_are_typed(server, tmp_path):
    server.fail[:] = [400]
    n = len(server.arrivals)
    with pytest.raises(TeacherError, match="BadRequestError"):
        teacher(server, tmp_path).chat([{"role": "user", "content": "x"}])
    assert len(server.arrivals) == n + 1
    server.fail[:] = [500, 500, 500]
    with pytest.raises(TeacherError, match="InternalServerError"):
        teacher(server, tmp_path, max_retries=2).chat([{"role": "user", "content": "y"}])
    assert len(server.arrivals) == n + 4 and not server.fail
    dead = LLMTeacher(LLMTeacherConfig(base_url="http://127.0.0.1:9/v1", max_retries=1, backoff=0.0, timeout=2))
    with pytest.raises(TeacherError, match="APIConnectionError"):
        dead.chat([{"role": "user", "content": "z"}])
    assert dead.usage["retries"] == 1


def test_clean_reply_strips_fences_and_reasoning():
    assert clean_reply("<think>first rough</think>\n```text\n1. spatial {}\n```") == "1. spatial {}"
    assert clean_reply("  KEEP \n") == "KEEP" and clean_reply("") == ""
