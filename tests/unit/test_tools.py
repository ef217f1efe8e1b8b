"""The seven tools and the registry on a hand-written M1-Synth event log (exact ground truth):
asserted positions, counts, intervals, captions; every error path returns ToolResult(error=...)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tool_video import encode

from m1.config.tools import ToolsConfig
from m1.schema import Question, TaskType, ToolCall, ToolErrorKind, ToolResult
from m1.tools.context import ToolContext, VideoStore
from m1.tools.registry import catalogue, execute


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return encode("t", tmp_path_factory.mktemp("tools"))


def _ctx(video, text=None, options=None, task=TaskType.OPEN_ENDED, **cfg):
    q = None if text is None else Question(qid="q", video=video, question=text, options=options or [], task_type=task)
    return ToolContext(video, q, ToolsConfig(**cfg), VideoStore())


def _run(ctx, tool, **args):
    return execute(ToolCall(tool=tool, args=args), ctx)


def _iou(a, b):
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0])) / (max(a[1], b[1]) - min(a[0], b[0]))


def test_catalogue_lists_the_seven_tools_with_schemas():
    specs = catalogue()
    assert [s.name for s in specs] == ["global_sampling", "video_retrieval", "image_retrieval", "rough_browser",
                                       "fine_browser", "spatial", "grounding"]
    assert all(s.description and s.args_schema["type"] == "object" for s in specs)
    assert set(specs[3].args_schema["properties"]) == {"start", "end", "fps"}


def test_registry_errors_never_raise(video, tmp_path):
    ctx = _ctx(video)
    K = ToolErrorKind

    def failed(r, kind, words):
        assert r.error_kind == kind and words in r.error and r.text == f"error: {r.error}" and not r.ok
        return True

    assert failed(_run(ctx, "zoom"), K.UNKNOWN_TOOL, "unknown tool")
    assert failed(_run(ctx, "global_sampling", n=0), K.BAD_ARGS, "bad arguments")
    assert failed(_run(ctx, "global_sampling", frames=3), K.BAD_ARGS, "bad arguments")
    assert failed(_run(ctx, "rough_browser", start=5, end=2), K.UNUSABLE_ARGS, "greater than start")
    assert failed(_run(ctx, "rough_browser", start=50), K.UNUSABLE_ARGS, "beyond the video")
    assert failed(_run(_ctx(str(tmp_path / "none.mp4")), "global_sampling"), K.VIDEO_ERROR, "does not exist")
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    assert failed(_run(_ctx(str(bad)), "spatial", t=1.0), K.VIDEO_ERROR, "not a readable video")
    assert failed(_run(ctx, "grounding"), K.UNUSABLE_ARGS, "query is required")
    assert failed(_run(_ctx(video, timeout=1e-6), "rough_browser"), K.TIMEOUT, "timeout")
    assert _run(ctx, "global_sampling", n=2).error_kind is None


def test_a_tool_bug_is_an_internal_error(video, monkeypatch):
    import dataclasses

    from m1.tools.builtin import TOOLS

    def broken(ctx, args):
        raise KeyError("frames")

    monkeypatch.setitem(TOOLS, "spatial", dataclasses.replace(TOOLS["spatial"], run=broken))
    r = _run(_ctx(video), "spatial", t=1.0)
    assert r.error_kind == ToolErrorKind.INTERNAL and r.error == "spatial failed: KeyError: 'frames'"


def test_an_error_always_has_its_kind():
    call = ToolCall(tool="spatial", args={"t": 1.0})
    with pytest.raises(ValueError, match="error and error_kind go together"):
        ToolResult(tool="spatial", error="it broke")
    with pytest.raises(ValueError, match="error and error_kind go together"):
        ToolResult(tool="spatial", error_kind=ToolErrorKind.TIMEOUT)
    r = ToolResult.failure(call, ToolErrorKind.TIMEOUT, "too slow", frames=2, seconds=1.5)
    assert (r.text, r.error_kind, r.frames_used, r.args) == ("error: too slow", "timeout", 2, {"t": 1.0})
    assert ToolResult.model_validate_json(r.model_dump_json()) == r


def test_global_sampling_describes_frames_and_counts_them(video):
    ctx = _ctx(video)
    r = _run(ctx, "global_sampling", n=4)
    assert r.ok and r.frames_used == 4 and len(r.payload["frames"]) == 4
    assert [f["t"] for f in r.payload["frames"]] == [1.0, 3.0, 5.0, 7.0]
    names = [{o["name"] for o in f["objects"]} for f in r.payload["frames"]]
    assert names[1] == {"red square", "blue circle"} and names[3] == {"green triangle"}
    assert [f["caption"] for f in r.payload["frames"]] == ["RAVEN", None, None, None]
    assert "2 shot(s)" in r.text
    again = _run(ctx, "global_sampling", n=4)
    assert again.text == r.text and again.frames_used == 0  # same frames: nothing new looked at


def test_rough_browser_shots_objects_captions(video):
    r = _run(_ctx(video), "rough_browser")
    p = r.payload
    assert len(p["shots"]) == 2 and abs(p["shots"][0]["end"] - 5.0) <= 1.0
    assert {o["name"] for o in p["objects"]} == {"red square", "blue circle", "green triangle"}
    assert [c["text"] for c in p["captions"]] == ["RAVEN"]
    assert r.frames_used == 4


def test_spatial_positions_distance_direction(video):
    r = _run(_ctx(video), "spatial", t=2.0)
    objs = {o["name"]: o for o in r.payload["frame"]["objects"]}
    assert abs(objs["red square"]["x"] - 100) <= 3 and abs(objs["red square"]["y"] - 80) <= 3
    assert abs(objs["blue circle"]["x"] - 300) <= 3 and abs(objs["blue circle"]["y"] - 120) <= 3
    assert abs(objs["red square"]["size"] - 40) <= 3
    q = "At 2.0 s, what is the distance between the centres of the red square and the blue circle (in metres)?"
    r = _run(_ctx(video, q, task=TaskType.NUMERIC), "spatial")
    assert abs(float(r.candidate) - math.hypot(200, 40) * 0.01) < 0.05 and r.confidence > 0.5
    assert r.text.endswith(f"candidate={r.candidate} conf={r.confidence:.2f}")
    q = "At 2.0 s, in which direction from the red square is the blue circle?"
    opts = ["upper-left", "lower-left", "upper-right", "lower-right"]
    r = _run(_ctx(video, q, opts, TaskType.MULTIPLE_CHOICE), "spatial")
    assert r.candidate == "D"
    r = _run(_ctx(video, "What is the width of the green triangle in centimetres?"), "spatial")
    assert abs(float(r.candidate) - 44) <= 2


def test_grounding_intervals(video):
    for text, truth in [("the red square stands still.", (1.5, 3.0)), ("the caption RAVEN is shown.", (1.0, 3.0)),
                        ("the green triangle is on screen.", (5.5, 8.0)), ("the red square moves down.", (3.0, 4.0))]:
        ctx = _ctx(video)
        r = _run(ctx, "grounding", query=text)
        s, e = map(float, r.candidate.split())
        assert _iou((s, e), truth) >= 0.8, (text, s, e)
        assert (r.payload["start"], r.payload["end"]) == (s, e)
        assert 0 < ctx.frames_used < 40  # far fewer than the 80 frames of the video


def test_fine_browser_candidates(video):
    q = "How many times does the red square come to a stop?"
    r = _run(_ctx(video, q, ["0", "1", "2", "3"], TaskType.MULTIPLE_CHOICE), "fine_browser")
    assert r.candidate == "C", r.text  # still at 1.5-3.0 and 4.0-5.0
    q = "How many shots, separated by hard cuts, does the video contain?"
    r = _run(_ctx(video, q, ["3", "1", "2", "4"], TaskType.MULTIPLE_CHOICE), "fine_browser")
    assert r.candidate == "C"
    q = "What text was shown on screen when the red square appeared?"
    r = _run(_ctx(video, q, ["MAPLE", "RAVEN", "TRUCK", "HARP"], TaskType.MULTIPLE_CHOICE), "fine_browser")
    assert r.candidate == "B"
    # A segment without a question: observations of motion.
    r = _run(_ctx(video), "fine_browser", start=0.0, end=5.0)
    assert r.candidate is None and "red square: right" in r.text and "still 1.5" in r.text and "down 3.0" in r.text


def test_a_guess_no_better_than_chance_is_no_candidate(video):
    """A relative-direction question has a template only in ``spatial``; ``fine_browser``'s
    general evidence scorer cannot tell the options apart, and must abstain rather than offer a
    sub-chance guess that trained agents would follow (benchmarks/pipeline.md, issue 18)."""
    from m1.tools.evidence import Candidate, above_chance

    q = "At 2.5 s, is the red square to the left or to the right of the blue circle?"
    opts = ["left", "right", "above", "below"]
    r = _run(_ctx(video, q, opts, TaskType.MULTIPLE_CHOICE), "fine_browser")
    assert r.candidate is None, r.text
    r = _run(_ctx(video, q, opts, TaskType.MULTIPLE_CHOICE), "spatial")
    assert r.candidate == "A" and r.confidence > 0.5, r.text
    mc = Question(qid="q", video=video, question=q, options=opts, task_type=TaskType.MULTIPLE_CHOICE)
    assert above_chance(Candidate("A", "", 0.25), mc) is None
    assert above_chance(Candidate("A", "", 0.26), mc) is not None
    assert above_chance(Candidate("red", "", 0.05), None) is not None  # open-ended: no chance level


def test_retrieval(video):
    r = _run(_ctx(video), "video_retrieval", query="green triangle", top_k=1)
    seg = r.payload["segments"][0]
    assert seg["start"] >= 4.0 and "green triangle" in seg["description"]
    r = _run(_ctx(video), "image_retrieval", query="caption RAVEN", top_k=1)
    assert {f["caption"] for f in r.payload["frames"]} == {"RAVEN"}


def test_perception_units():
    import cv2

    from m1.tools.perception import motion, objects, people, shots

    img = np.full((180, 320, 3), 120, np.uint8)
    cv2.rectangle(img, (40, 40), (80, 80), (220, 30, 30), -1)
    cv2.circle(img, (200, 100), 22, (30, 30, 220), -1)
    pts = np.array([[260, 40], [240, 80], [280, 80]], np.int32)
    cv2.fillPoly(img, [pts], (240, 220, 20))
    want = {("red square", 60, 60), ("blue circle", 200, 100), ("yellow triangle", 260, 60)}
    # Flat fills without M1-Synth's dark outline: only the ungated detector reports them.
    assert {(d.name, round(d.x), round(d.y)) for d in objects.detect_objects(img, gate=False)} == want
    assert objects.detect_objects(img) == []
    from m1.synth.render import draw_shape

    drawn = np.full((180, 320, 3), 120, np.uint8)
    for shape, x, y, size, col in (("square", 60, 60, 41, (220, 30, 30)), ("circle", 200, 100, 44, (30, 30, 220)),
                                   ("triangle", 260, 60, 40, (240, 220, 20))):
        draw_shape(drawn, shape, x, y, size, col)
    got = {(d.name, round(d.x), round(d.y) - (d.shape == "triangle") * 2) for d in objects.detect_objects(drawn)}
    assert got == want
    dark = np.full_like(img, 60)
    assert shots.is_cut(shots.signature(img), shots.signature(dark))
    assert not shots.is_cut(shots.signature(img), shots.signature(np.roll(img, 3, axis=1)))
    tex = (np.random.default_rng(0).random((180, 320, 3)) * 255).astype(np.uint8)
    tex = cv2.GaussianBlur(tex, (9, 9), 3)
    assert motion.optical_flow(tex, np.roll(tex, 4, axis=1)).direction == "right"
    assert motion.optical_flow(tex, tex).direction == "still"
    assert people.detect_faces(img) == [] and people.detect_people(img) == []


def test_a_tool_worker_that_fails_every_retry_gives_worker_failed_results(monkeypatch):
    """actors/tools.py's last resort, without a Ray cluster: every attempt of the batch dies."""
    from ray.exceptions import RayActorError

    import actors.tools as actor_tools

    class Worker:
        class run:  # noqa: N801 - mimics an actor method handle
            @staticmethod
            def remote(*args):
                return "ref"

    def dies(ref, timeout, what):
        raise RayActorError()

    monkeypatch.setattr(actor_tools, "get", dies)
    pool = actor_tools.RayToolPool.__new__(actor_tools.RayToolPool)
    pool.tool_timeout, pool.retries, pool.failures, pool.workers = 1.0, 1, 0, [Worker()]
    monkeypatch.setattr(pool, "_await_restart", lambda worker: None)
    q = Question(qid="q", video="/v.mp4", question="?", task_type=TaskType.OPEN_ENDED)
    calls = [ToolCall(tool="spatial", args={"t": 1.0}), ToolCall(tool="grounding")]
    out = pool.run("ep", q, calls)
    assert pool.failures == 2 and [r.tool for r in out] == ["spatial", "grounding"]
    assert all(r.error_kind == ToolErrorKind.WORKER_FAILED and r.error.startswith("tool worker failed 2 times")
               for r in out)
