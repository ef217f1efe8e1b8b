"""Perception providers on real footage and photographs (Debian's opencv-doc samples, scikit-image's
photos, espeak-ng speech), all fetched or generated at test time (scripts/setup_test_deps.sh).

Costs ~1-2 min on 2 shared cores (model loads: EfficientNet-Lite0 ~1 s, Whisper tiny.en ~3 s,
rapidocr ~2 s; HOG on a few frames)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from m1.config.tools import ToolsConfig
from m1.data import natural
from m1.schema import Question, ToolCall
from m1.tools.context import ToolContext, VideoStore
from m1.tools.registry import execute

PHOTOS = ["messi5.jpg", "butterfly.jpg", "graf1.png", "graf3.png", "baboon.jpg", "fruits.jpg", "orange.jpg",
          "aero1.jpg", "building.jpg", "home.jpg", "lena.jpg", "starry_night.jpg", "squirrel_cls.jpg", "board.jpg"]


@pytest.fixture(scope="module")
def data():
    try:
        return natural.opencv_data()
    except natural.MediaUnavailable as e:
        pytest.skip(f"real media unavailable: {e} (run scripts/setup_test_deps.sh)")


def _rgb(path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


def natural_frames(data) -> list[tuple[str, np.ndarray]]:
    from m1.video import VideoReader, fit_size

    out = [(p, _rgb(data / p)) for p in PHOTOS if (data / p).is_file()]
    import skimage.data as sd

    out += [(n, np.ascontiguousarray(getattr(sd, n)()[..., :3])) for n in ("astronaut", "chelsea", "coffee", "rocket")]
    for clip in ("vtest.avi", "Megamind.avi", "tree.avi"):
        r = VideoReader(str(data / clip))
        for f in r.frames_at(r.uniform_times(6), size=fit_size(r.info.width, r.info.height, 640)):
            out.append((f"{clip}@{f.t:.1f}", f.image))
    return out


def test_shape_detector_is_silent_on_natural_frames(data):
    from m1.tools.perception import objects

    frames = natural_frames(data)
    assert len(frames) >= 30
    ungated = sum(len(objects.detect_objects(img, gate=False)) for _, img in frames)
    fired = {name: [d.name for d in objects.detect_objects(img)] for name, img in frames}
    assert {k: v for k, v in fired.items() if v} == {}
    assert ungated > 100  # what the detector said before the gate: "white triangle" for a street sign


def test_tags_name_objects_in_photos(data):
    from m1.tools.perception.providers import lookup

    tags = lookup("tags", ToolsConfig())
    got = {p: [n.text for n in tags.observe(_rgb(data / p))] for p in ("messi5.jpg", "baboon.jpg", "orange.jpg")}
    assert "soccer ball" in got["messi5.jpg"]
    assert got["baboon.jpg"][0] == "baboon"
    assert "orange" in got["orange.jpg"]


@pytest.mark.slow
def test_people_counted_on_every_street_frame(data, tmp_path):
    clip = natural.cut(data / "vtest.avi", tmp_path / "street.mp4", 12.0)
    ctx = ToolContext(str(clip), None, ToolsConfig(scan_step=4.0), VideoStore())
    r = execute(ToolCall(tool="rough_browser", args={"fps": 0.25}), ctx)
    assert r.error is None, r.error
    frames = r.payload["frames"]
    assert all(f["objects"] == [] for f in frames)  # no "white triangle" for the street sign any more
    assert all(f["people"] is not None for f in frames)  # looked for on every frame
    assert max(f["people"] for f in frames) >= 3, r.text  # ~7 walk by; HOG at 960 px finds 3-5
    assert "people per frame (3 frames)" in r.text


@pytest.fixture(scope="module")
def spoken(data, tmp_path_factory):
    return natural.spoken_clip(data / "vtest.avi", "Seven people walk along the street near the station.",
                               tmp_path_factory.mktemp("speech") / "spoken.mp4")


@pytest.mark.slow
def test_speech_becomes_evidence(spoken):
    q = Question(qid="s", video=str(spoken), question="What does the speaker say people do?",
                 options=["swim in a lake", "walk along the street", "cook dinner", "play the piano"],
                 task_type="multiple_choice")
    ctx = ToolContext(str(spoken), q, ToolsConfig(), VideoStore())
    words = [n for n in ctx.video_notes() if n.kind == "word"]
    assert {"people", "street"} <= {w.text.lower().strip(".,") for w in words}
    assert all(0.0 <= w.t0 <= w.t1 <= ctx.duration + 0.5 for w in words)
    r = execute(ToolCall(tool="fine_browser"), ctx)
    assert r.error is None, r.error
    assert r.candidate == "B", r.text
    assert 0 < r.confidence <= 0.6
    g = execute(ToolCall(tool="global_sampling", args={"n": 2}), ctx)
    assert "speech:" in g.text and "street" in g.text.lower()


def test_no_audio_and_corrupt_audio_do_not_break_an_episode(data, tmp_path):
    import av

    silent = natural.cut(data / "tree.avi", tmp_path / "silent.mp4", 2.0, width=320)
    ctx = ToolContext(str(silent), None, ToolsConfig(), VideoStore())
    assert ctx.video_notes() == [] and ctx.warnings == []
    bad = tmp_path / "corrupt.mp4"
    with av.open(str(bad), "w") as c:
        vs = c.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuv420p"
        a_s = c.add_stream("aac", rate=16000)
        for i in range(20):
            for p in vs.encode(av.VideoFrame.from_ndarray(np.full((120, 160, 3), i * 10, np.uint8), format="rgb24")):
                c.mux(p)
        rng = np.random.default_rng(0)
        for i in range(30):  # packets of noise where AAC frames should be
            p = av.Packet(bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
            p.stream, p.pts, p.dts, p.time_base = a_s, i * 1024, i * 1024, a_s.time_base
            c.mux(p)
        for p in vs.encode():
            c.mux(p)
    ctx = ToolContext(str(bad), None, ToolsConfig(), VideoStore())
    r = execute(ToolCall(tool="global_sampling", args={"n": 2}), ctx)
    assert r.error is None
    assert "warning: provider speech failed: SpeechError" in r.text and "does not decode" in r.text


def test_missing_weights_skip_the_provider_with_a_warning(data, tmp_path):
    clip = natural.cut(data / "tree.avi", tmp_path / "t.mp4", 2.0, width=320)
    cfg = ToolsConfig(tags_weights=str(tmp_path / "none.pth"), speech_model=str(tmp_path / "nowhere"))
    ctx = ToolContext(str(clip), None, cfg, VideoStore())
    r = execute(ToolCall(tool="global_sampling", args={"n": 2}), ctx)
    assert r.error is None
    assert "warning: provider tags skipped: tags: EfficientNet-Lite0 weights" in r.text
    assert "warning: provider speech skipped: speech: no CTranslate2 Whisper model" in r.text
    with pytest.raises(KeyError, match="unknown perception provider 'sonar'"):
        _ = ToolContext(str(clip), None, ToolsConfig(providers=["sonar"]), VideoStore()).active


def test_subtitles_and_registered_providers_reach_the_evidence(data, tmp_path):
    from m1.tools.perception import providers

    class Brightness:
        name, kind = "brightness", "frame"

        def observe(self, img):
            return [providers.Note("brightness", "bright" if img.mean() > 100 else "dark", 1.0)]

    providers.register("brightness", lambda cfg: Brightness(), replace=True)
    clip = natural.cut(data / "tree.avi", tmp_path / "t.mp4", 3.0, width=320)
    q = Question(qid="x", video=str(clip), question="What is the narrator talking about?",
                 options=["a tree in the wind", "a car race", "a cooking show"], task_type="multiple_choice",
                 meta={"subtitles": [[0.0, 2.5, "Look at this tree swaying in the wind."]]})
    ctx = ToolContext(str(clip), q, ToolsConfig(providers=["subtitles", "brightness"]), VideoStore())
    r = execute(ToolCall(tool="fine_browser"), ctx)
    assert r.candidate == "A", r.text
    o = ctx.look([1.0])[0]
    ctx.frame_notes([o])
    assert [n.text for n in o.notes["brightness"]] in (["bright"], ["dark"])
