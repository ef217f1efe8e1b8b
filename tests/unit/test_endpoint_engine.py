"""Endpoint agents (m1.engines.endpoint) through the real ``openai`` client against a local HTTP
server speaking /v1/chat/completions (stdlib http.server, scripted replies by phase): the phase's
system prompt and the request's sampling reach the server, replies are cleaned and cut at stops,
the cache answers a repeated request without HTTP, a team of endpoint agents runs a whole CPP
episode on a real M1-Synth video, and training such a team fails with a message that says why.
The same engine against a real ``vllm serve`` is tests/engines_vllm/test_endpoint_vllm.py."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from m1.config import AgentSpec, EndpointConfig, TeamConfig
from m1.engines import make_engine
from m1.engines.base import SamplingSettings
from m1.engines.endpoint import SYSTEM_PROMPTS, EndpointEngine, EndpointError, check_trainable, phase_of

REPLIES = {  # what a well-behaved chat model answers at each moment (a fenced plan, like GPT-4o often does)
    "plan": "```\n1. global_sampling {\"n\":4}\n2. spatial {\"t\":\"$1.start\",\"question\":\"count\"}\n```",
    "revision": "DONE",
    "answer": "<think>the evidence says B</think>B",
}


class ChatServer:
    def __init__(self):
        self.bodies: list[dict] = []
        self.refuse: set[str] = set()  # request fields answered with 400, as api.openai.com does
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                if outer.refuse & set(body):
                    field = sorted(outer.refuse & set(body))[0]
                    data = json.dumps({"error": {"message": f"Unrecognized request argument supplied: {field}",
                                                 "type": "invalid_request_error"}}).encode()
                    self.send_response(400)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                system = body["messages"][0]["content"]
                phase = next(p for p, s in SYSTEM_PROMPTS.items() if s == system)
                payload = {"id": "c", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": REPLIES[phase]}}],
                           "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = ChatServer()
    yield s
    s.close()


def endpoint(server, tmp_path, **kw) -> EndpointConfig:
    return EndpointConfig(**{"base_url": server.url, "model": "gpt-test", "api_key_env": "M1_TEST_KEY", "backoff": 0.0,
                             "requests_per_minute": 60000, "cache_path": str(tmp_path / "cache.jsonl"), **kw})


def test_phase_from_the_prompt_cue():
    assert phase_of("#plan\nQ: x\nPlan:\n") == "plan"
    assert phase_of("#revise\n[a1.1] spatial: ...\nNext: 3\n") == "revision"
    assert phase_of("#answer\nEvidence:\nAnswer:\n") == "answer"


def test_requests_carry_phase_sampling_and_key_and_are_cached(server, tmp_path, monkeypatch):
    monkeypatch.setenv("M1_TEST_KEY", "sk-test")
    eng = EndpointEngine(endpoint(server, tmp_path), name="e1")
    s = SamplingSettings(temperature=0.7, top_p=1.0, max_new_tokens=40, seed=5, stop=["\n2."])
    c = eng.generate(["#plan\nQ: How many?\nPlan:\n"], s)[0]
    assert c.text == '1. global_sampling {"n":4}'  # fence stripped, cut before the stop string
    assert c.completion_ids == [] and c.logprobs == [] and c.prompt_ids == []
    body = server.bodies[-1]
    assert body["model"] == "gpt-test" and body["temperature"] == 0.7 and body["max_tokens"] == 40
    assert body["seed"] == 5 and body["messages"][0]["content"] == SYSTEM_PROMPTS["plan"]
    ans = eng.generate(["#answer\nEvidence:\nAnswer:\n"], SamplingSettings(temperature=0.0, max_new_tokens=4))[0]
    assert ans.text == "B"  # the reasoning block is not the answer
    n = len(server.bodies)
    again = EndpointEngine(endpoint(server, tmp_path), name="e2")  # a new engine reads the JSONL cache
    assert again.generate(["#plan\nQ: How many?\nPlan:\n"], s)[0].text == c.text
    assert len(server.bodies) == n and again.chat.usage["cached"] == 1
    with pytest.raises(EndpointError, match="prompts must be text"):
        eng.generate([[1, 2, 3]], s)


def test_training_an_endpoint_agent_says_it_needs_weights(server, tmp_path):
    spec = AgentSpec(name="gpt", arch="qwen2", engine="endpoint", endpoint=endpoint(server, tmp_path))
    eng = make_engine("endpoint", None, None, spec=spec)
    for call in (lambda: eng.compute_logprobs([[1]], [[2]]), lambda: eng.update_weights({})):
        with pytest.raises(EndpointError, match="training needs local weights"):
            call()
    with pytest.raises(EndpointError, match=r"agent 'gpt' generates through an endpoint .*training needs local"):
        check_trainable(TeamConfig(agents=[spec]).agents)
    with pytest.raises(ValueError, match="needs an `endpoint` section"):
        AgentSpec(name="x", arch="qwen2", engine="endpoint")


def test_a_team_of_endpoint_agents_runs_an_episode(server, tmp_path):
    from m1.config import CPPConfig, SynthConfig
    from m1.synth import generate_split, read_split
    from m1.team.cpp import LocalTeam, ToolRunner, run_episode
    from m1.team.memory import SharedMemory
    from m1.team.topology import complete_topology
    from m1.tools.registry import catalogue

    generate_split(SynthConfig(min_duration=8.0, max_duration=10.0), tmp_path, "test", 1, seed=3, progress=False)
    q = next(x for x in read_split(tmp_path / "test") if x.options)
    ep = endpoint(server, tmp_path)
    # a served model's context (configs/endpoint_team.yaml: 8192); prompts are counted without its tokenizer
    team_cfg = TeamConfig(agents=[AgentSpec(name=f"gpt-{i}", arch="qwen2", engine="endpoint", endpoint=ep,
                                            max_context=4096) for i in range(2)])
    team = LocalTeam.from_dir(str(tmp_path), team_cfg)
    ep_out = run_episode(q, team, ToolRunner(), complete_topology(2), catalogue(), CPPConfig(), seed=0,
                         memory=SharedMemory())
    assert ep_out.final_answer == "B" and ep_out.frames_used > 0
    assert all(not a.format_errors and [s.call.tool for s in a.steps][:1] == ["global_sampling"] for a in ep_out.agents)
    assert {b["messages"][0]["content"] for b in server.bodies} >= {SYSTEM_PROMPTS["plan"], SYSTEM_PROMPTS["answer"]}


def test_endpoint_team_config_loads_and_inits_without_weights(tmp_path):
    from m1.config import load_config
    from m1.models import init_team

    cfg = load_config("configs/endpoint_team.yaml")
    assert [a.engine for a in cfg.team.agents] == ["endpoint"] * 4
    assert cfg.team.agents[0].endpoint.model == "gpt-4o" and cfg.team.agents[0].endpoint.api_key_env == "OPENAI_API_KEY"
    assert init_team(cfg.team, tmp_path / "team") == {} and not (tmp_path / "team" / "gpt-4o-1").exists()


@pytest.mark.slow
def test_m1_eval_offers_the_endpoint_team(server, tmp_path, capsys):
    from cli import main
    from m1.config import load_config
    from m1.synth import generate_split

    tiny = ["synth.width=192", "synth.height=108", "synth.fps=5", "synth.min_duration=6", "synth.max_duration=8",
            "synth.min_scene_seconds=3", "synth.min_object_size=12", "synth.max_object_size=30"]
    generate_split(load_config(overrides=tiny).synth, tmp_path / "data", "test", 1, seed=3, progress=False)
    out = tmp_path / "eval"
    common = ["eval", "--benchmark", "m1_synth", "--data-dir", str(tmp_path / "data"), "--out", str(out),
              "--no-progress", "--limit", "2", f"output_dir={tmp_path / 'run'}", "cpp.max_rounds=1"]
    assert main([*common, "--system", "endpoint_team"]) == 2
    assert "endpoint_team needs --endpoint-url and --endpoint-model" in capsys.readouterr().err
    assert main([*common, "--system", "solver,endpoint_team", "--endpoint-url", server.url,
                 "--endpoint-model", "gpt-test", "--endpoint-agents", "4"]) == 0
    assert "endpoint_team: 2 answered now" in capsys.readouterr().err
    preds = [json.loads(line) for line in (out / "endpoint_team" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 2 and all(len(p["agent_answers"]) == 4 for p in preds)
    assert all(p["frames"] > 0 for p in preds)  # the agents' plans ran the tools
    assert (out / "endpoint_team" / "endpoint_cache.jsonl").is_file()
    assert "endpoint_team" in json.loads((out / "metrics.json").read_text())["systems"]


def test_answer_patterns_go_as_structured_outputs_until_a_server_refuses_them(server, tmp_path, monkeypatch):
    monkeypatch.setenv("M1_TEST_KEY", "sk-test")
    pattern = "(?:[ABCD])|(?:a0\\.1)"
    s = SamplingSettings(temperature=0.0, max_new_tokens=4, pattern=pattern)
    eng = EndpointEngine(endpoint(server, tmp_path), name="e1")
    assert eng.generate(["#answer\nQ: x?\nEvidence:\nAnswer:\n"], s)[0].text == "B"
    assert server.bodies[-1]["structured_outputs"] == {"regex": pattern}  # vLLM's server field
    server.refuse = {"structured_outputs"}
    other = EndpointEngine(endpoint(server, tmp_path, cache_path=None), name="e2")
    n = len(server.bodies)
    with pytest.warns(UserWarning, match="rejected structured_outputs"):
        assert other.generate(["#answer\nQ: y?\nEvidence:\nAnswer:\n"], s)[0].text == "B"
    assert "structured_outputs" in server.bodies[n] and "structured_outputs" not in server.bodies[n + 1]
    other.generate(["#answer\nQ: z?\nEvidence:\nAnswer:\n"], s)  # not sent again to this server
    assert len(server.bodies) == n + 3 and "structured_outputs" not in server.bodies[-1]
    # a 400 that is not about the field (here: every request refused) fails the request, typed, and
    # does not switch the constraint off
    server.refuse = {"messages"}
    strict = EndpointEngine(endpoint(server, tmp_path, cache_path=None), name="e4")
    with pytest.raises(EndpointError, match="failed"):
        strict.generate(["#answer\nQ: v?\nEvidence:\nAnswer:\n"], s)
    assert not strict.chat._rejects_structured and "structured_outputs" in server.bodies[-2]
    server.refuse = {"structured_outputs"}
    n = len(server.bodies)
    off = EndpointEngine(endpoint(server, tmp_path, cache_path=None, structured_outputs=False), name="e3")
    off.generate(["#answer\nQ: w?\nEvidence:\nAnswer:\n"], s)
    assert len(server.bodies) == n + 1 and "structured_outputs" not in server.bodies[-1]
