"""The OpenAI-compatible VLM back-end against a real HTTP server (vlm_server.py) serving the tiny
random Qwen2.5-VL built from config: request shapes (image_url / video_url parts), retries after
503, the response cache and the cost log, and the tools running on it. ~10 s."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m1.config.sft import LLMTeacherConfig
from m1.config.tools import ToolsConfig
from m1.schema import Question, TaskType, ToolCall
from m1.tools.context import ToolContext, VideoStore
from m1.tools.perception.vlm import OpenAIVLM, VLMBackend, VLMError, build_tiny_vlm, get_backend, parse_letter
from m1.tools.perception.vlm_server import VLMServer
from m1.tools.registry import execute

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    return VLMBackend(build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny"), "cpu", max_new_tokens=4)


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(n)]


def _cfg(url: str, tmp_path, **kw) -> LLMTeacherConfig:
    return LLMTeacherConfig(base_url=url, model="tiny-vl", timeout=30, backoff=0.01, max_backoff=0.05,
                            requests_per_minute=6000, cache_path=str(tmp_path / "cache.jsonl"),
                            usage_log=str(tmp_path / "usage.jsonl"), **kw)


def test_answers_over_http_with_retries_cache_and_cost_log(backend, tmp_path):
    with VLMServer(backend, fail_first=2) as srv:
        vlm = OpenAIVLM(_cfg(srv.base_url, tmp_path))
        caps = vlm.caption(_frames(2))
        assert len(caps) == 2 and all(isinstance(c, str) for c in caps)
        assert vlm.usage["retries"] == 2 and srv.requests == 4
        letter, conf = vlm.answer(_frames(1), "What is shown?", ["a cat", "a dog", "a car"])
        assert (letter in "ABC" and conf == 0.5) or (letter == "A" and conf == 0.0)
        again = vlm.answer(_frames(1), "What is shown?", ["a cat", "a dog", "a car"])
        assert again == (letter, conf) and vlm.usage["cached"] == 1 and srv.requests == 5
        log = [json.loads(x) for x in (tmp_path / "usage.jsonl").read_text().splitlines()]
        assert [r["cached"] for r in log] == [False, False, False, True]
        assert log[0]["attempts"] == 3 and log[0]["prompt_tokens"] == 2  # one image part + the text part
        assert all(r["cost_usd"] >= 0 for r in log)


def test_video_url_part_and_tools_on_the_endpoint(backend, tmp_path):
    from m1.synth.render import encode_video
    from m1.synth.world import EventLog, Scene

    log = EventLog(video_id="v", seed=0, width=160, height=96, fps=5, duration=2.0, metres_per_pixel=0.01,
                   caption_top=80, objects=[], captions=[],
                   scenes=[Scene(index=0, start=0.0, end=2.0, texture="noise", brightness=110, tint=(0, 0, 0),
                                 texture_seed=1)])
    video = str(tmp_path / "v.mp4")
    encode_video(log, video)
    with VLMServer(backend, video_frames=2) as srv:
        vlm = OpenAIVLM(_cfg(srv.base_url, tmp_path))
        text, conf = vlm.answer_video(video, "What happens?")
        assert isinstance(text, str) and conf == 0.5 and srv.requests == 1
        cfg = ToolsConfig(backend="vlm", vlm_api=_cfg(srv.base_url, tmp_path / "t"), global_frames=2)
        assert isinstance(get_backend(cfg), OpenAIVLM)
        q = Question(qid="q", video=video, question="Is the scene calm?", options=["yes", "no"],
                     task_type=TaskType.MULTIPLE_CHOICE)
        r = execute(ToolCall(tool="global_sampling", args={"n": 2}), ToolContext(video, q, cfg, VideoStore()))
        assert r.error is None and all("vlm_caption" in f for f in r.payload["frames"])
        with pytest.raises(VLMError, match="does not exist"):
            vlm.answer_video(tmp_path / "none.mp4", "q")


def test_a_dead_endpoint_is_a_clear_vlm_error(tmp_path):
    vlm = OpenAIVLM(_cfg("http://127.0.0.1:9/v1", tmp_path, max_retries=1))
    with pytest.raises(VLMError, match="VLM endpoint: endpoint http://127.0.0.1:9/v1 failed"):
        vlm.caption(_frames(1))
    assert parse_letter(" b.", 3) == "B" and parse_letter("none", 2) is None
