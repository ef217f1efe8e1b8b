"""The VLM back-end on a tiny randomly initialised Qwen2.5-VL built from config (no hub).

What is asserted: shapes, types and plumbing — batched captions equal one-by-one captions
(left padding is right), answer confidences are the probabilities the model assigns, every bad
input is a ``VLMError``, ``tools.backend=vlm`` adds VLM captions / candidates through the tools
and the CLI, and the CPU default never touches the VLM. What is not: caption or answer quality
(the weights are random), and the CUDA path (no GPU here).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from cli import main as cli_main
from m1.config.tools import ToolsConfig
from m1.schema import Question, TaskType, ToolCall
from m1.synth.render import encode_video
from m1.synth.world import Caption, EventLog, Keyframe, Scene, SynthObject
from m1.tools.context import ToolContext, VideoStore
from m1.tools.perception import vlm as vlm_mod
from m1.tools.perception.vlm import VLMBackend, VLMError, build_tiny_vlm, get_backend
from m1.tools.registry import execute

torch.set_num_threads(1)
W, H = 320, 180


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny_vlm(tmp_path_factory.mktemp("vlm") / "tiny")


@pytest.fixture(scope="module")
def backend(tiny_dir):
    return VLMBackend(tiny_dir, "cpu", max_new_tokens=5)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    obj = SynthObject(
        id=0, scene=0, colour="red", shape="square", size=30, enter_side="left", exit_side=None,
        keyframes=[Keyframe(t=0.3, x=-15, y=60), Keyframe(t=1.5, x=120, y=60), Keyframe(t=4.0, x=120, y=60)],
    )  # fmt: skip
    log = EventLog(
        video_id="v", seed=0, width=W, height=H, fps=8, duration=4.0, metres_per_pixel=0.01,
        caption_top=int(H * 0.84),
        scenes=[Scene(index=0, start=0.0, end=4.0, texture="checker", brightness=110, tint=(0, 0, 0), texture_seed=1)],
        objects=[obj], captions=[Caption(text="RAVEN", start=1.0, end=3.0, scene=0)],
    )  # fmt: skip
    path = tmp_path_factory.mktemp("vlmvid") / "v.mp4"
    encode_video(log, path)
    return str(path)


def _frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (90 + 10 * i, 160, 3), dtype=np.uint8) for i in range(n)]


def _ctx(video, tiny_dir=None, text=None, options=None):
    cfg = ToolsConfig() if tiny_dir is None else ToolsConfig(backend="vlm", vlm_model=str(tiny_dir))
    task = TaskType.MULTIPLE_CHOICE if options else TaskType.OPEN_ENDED
    q = None if text is None else Question(qid="q", video=video, question=text, options=options or [], task_type=task)
    return ToolContext(video, q, cfg, VideoStore())


# ------------------------------------------------------------------ the back-end itself
def test_captions_are_one_string_per_frame_and_batching_does_not_change_them(backend):
    frames = _frames(vlm_mod.CAPTION_BATCH + 2)  # two generate() chunks, frames of different sizes
    caps = backend.caption(frames)
    assert len(caps) == len(frames) and all(isinstance(c, str) for c in caps)
    # Left padding must not change a row's greedy continuation: batch == one by one.
    for i in (0, 3, len(frames) - 1):
        assert backend.caption([frames[i]]) == [caps[i]]


def test_multiple_choice_answer_is_the_most_probable_letter(backend):
    frames = _frames(3)
    options = ["one", "two", "three", "four"]
    letter, conf = backend.answer(frames, "How many objects?", options)
    assert letter in "ABCD" and isinstance(conf, float)
    # The confidence is the chosen letter's probability renormalised over the 4 letters: >= 1/4, <= 1.
    assert 0.25 <= conf <= 1.0
    probs = backend.choice_probs([frames[0]], "Is it red?", ("yes", "no"))
    assert len(probs) == 1 and len(probs[0]) == 2 and math.isclose(sum(probs[0]), 1.0, rel_tol=1e-5)


def test_open_answer_confidence_is_the_generated_tokens_probability(tiny_dir):
    one = VLMBackend(tiny_dir, "cpu", max_new_tokens=1)
    frames = _frames(2, seed=3)
    text, conf = one.answer(frames, "What happens?")
    assert isinstance(text, str)
    # With one new token, the confidence is the greedy token's probability under a plain forward pass.
    inputs = one._inputs([frames], ["What happens?"])
    with torch.no_grad():
        p = one.model(**inputs).logits[0, -1].float().softmax(-1).max().item()
    assert conf == pytest.approx(p, rel=1e-4)


def test_choice_probs_batch_over_frames(backend):
    probs = backend.choice_probs(_frames(vlm_mod.CAPTION_BATCH + 1), "Does this frame show a red square?")
    assert len(probs) == vlm_mod.CAPTION_BATCH + 1
    assert all(len(p) == 2 and math.isclose(sum(p), 1.0, rel_tol=1e-5) for p in probs)


def test_bad_inputs_raise_vlm_error(backend, tiny_dir, tmp_path):
    with pytest.raises(VLMError, match="not a directory"):
        VLMBackend(tmp_path / "missing")
    with pytest.raises(VLMError, match="no config.json"):
        VLMBackend(tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(VLMError, match="CUDA is not available"):
            VLMBackend(tiny_dir, "cuda")
    with pytest.raises(VLMError, match="not a torch device"):
        VLMBackend(tiny_dir, "potato")
    with pytest.raises(VLMError, match="empty"):
        backend.caption([])
    with pytest.raises(VLMError, match=r"images\[1\] must be an HxWx3 uint8"):
        backend.caption([_frames(1)[0], np.zeros((8, 8), np.uint8)])
    with pytest.raises(VLMError, match="HxWx3 uint8"):
        backend.caption([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(VLMError, match="question is empty"):
        backend.answer(_frames(1), "  ")
    with pytest.raises(VLMError, match="at most 10"):
        backend.answer(_frames(1), "Which?", [str(i) for i in range(11)])
    with pytest.raises(VLMError, match="needs tools.vlm_model"):
        get_backend(ToolsConfig(backend="vlm"))
    with pytest.raises(VLMError, match="needs tools.backend='vlm'"):
        get_backend(ToolsConfig())


# ------------------------------------------------------------------ through the tools
def test_cpu_default_is_unchanged_and_never_loads_the_vlm(video, monkeypatch):
    def boom(cfg):  # noqa: ANN001, ANN202
        raise AssertionError("the CPU back-end must not load a VLM")

    monkeypatch.setattr(vlm_mod, "get_backend", boom)
    ctx = _ctx(video, text="What colour is the sky?", options=["red", "green", "blue", "grey"])
    res = execute(ToolCall(tool="global_sampling", args={"n": 4}), ctx)
    assert res.error is None and "vlm" not in res.text
    assert all("vlm_caption" not in f for f in res.payload["frames"])
    sp = execute(ToolCall(tool="spatial", args={}), ctx)
    # No classical form matches and there is no VLM to ask: the general, evidence-scored candidate.
    assert sp.error is None and sp.payload["evidence"].startswith("general: ") and sp.confidence <= 0.6


def test_vlm_backend_adds_captions_to_global_sampling_and_rough_browser(video, tiny_dir):
    cpu = execute(ToolCall(tool="global_sampling", args={"n": 4}), _ctx(video))
    ctx = _ctx(video, tiny_dir)
    res = execute(ToolCall(tool="global_sampling", args={"n": 4}), ctx)
    assert res.error is None, res.error
    frames = res.payload["frames"]
    assert len(frames) == 4 and all(isinstance(f["vlm_caption"], str) for f in frames)
    assert res.text.count("vlm: ") == 4
    # The classical part of every frame is untouched, and no extra frame was looked at.
    assert [{k: v for k, v in f.items() if k != "vlm_caption"} for f in frames] == cpu.payload["frames"]
    assert res.frames_used == cpu.frames_used
    rough = execute(ToolCall(tool="rough_browser", args={"fps": 1.0}), ctx)
    assert rough.error is None, rough.error
    assert "frames: " in rough.text and all(isinstance(f["vlm_caption"], str) for f in rough.payload["frames"])


def test_vlm_candidate_only_where_the_classical_matcher_has_none(video, tiny_dir):
    opts = ["red", "green", "blue", "grey"]
    sp = execute(ToolCall(tool="spatial", args={}), _ctx(video, tiny_dir, "What colour is the sky?", opts))
    assert sp.error is None, sp.error
    assert sp.candidate in "ABCD" and 0.25 <= sp.confidence <= 1.0
    assert sp.payload["evidence"].startswith(f"vlm on {ToolsConfig().global_frames} frame(s)")
    # A question the classical forms answer keeps the classical candidate and evidence.
    q, o = "How many different objects appear in the video?", ["1", "2", "3", "4"]
    cpu = execute(ToolCall(tool="fine_browser", args={}), _ctx(video, None, q, o))
    withvlm = execute(ToolCall(tool="fine_browser", args={}), _ctx(video, tiny_dir, q, o))
    assert cpu.candidate == "A" and (withvlm.candidate, withvlm.payload["evidence"]) == ("A", cpu.payload["evidence"])
    fb = execute(
        ToolCall(tool="fine_browser", args={"start": 1.0, "end": 3.0}), _ctx(video, tiny_dir, "What happens here?")
    )
    assert fb.error is None and isinstance(fb.candidate, str) and fb.payload["evidence"].startswith("vlm on 8 frame")
    gr = execute(ToolCall(tool="grounding", args={"query": "a dog barks"}), _ctx(video, tiny_dir))
    assert gr.error is None, gr.error
    s, e = (float(x) for x in gr.candidate.split())
    assert 0.0 <= s < e <= 4.0 and gr.payload["evidence"].startswith("vlm: p(yes)=")


def test_cli_runs_global_sampling_with_the_vlm_switch(video, tiny_dir, capsys):
    args = ["tools", "run", "global_sampling", video, "--json", "--args", '{"n": 3}']
    rc = cli_main([*args, "tools.backend=vlm", f"tools.vlm_model={tiny_dir}"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["error"] is None and len(out["payload"]["frames"]) == 3
    assert all(isinstance(f["vlm_caption"], str) for f in out["payload"]["frames"])
    rc = cli_main([*args, "tools.backend=vlm", "tools.vlm_model="])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and "needs tools.vlm_model" in out["error"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA; not run on the CPU machines")
def test_cuda_path_runs_in_bf16(tiny_dir):
    gpu = VLMBackend(tiny_dir, "cuda", max_new_tokens=3)
    assert gpu.model.dtype == torch.bfloat16 and next(gpu.model.parameters()).is_cuda
    caps = gpu.caption(_frames(3))
    letter, conf = gpu.answer(_frames(2), "Which?", ["a", "b"])
    assert len(caps) == 3 and letter in "AB" and 0.5 <= conf <= 1.0
