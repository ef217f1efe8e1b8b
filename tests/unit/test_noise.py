"""The tool-noise model (m1.tools.noise) on a hand-written M1-Synth video: a repeated call cannot
resample its errors (same episode, fresh context and store, another process), another tool /
segment / rate reads independently, the configured rates are honoured, noise off changes nothing,
and bad settings are clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tool_video import encode

from m1.config import load_config
from m1.config.base import ConfigError
from m1.config.tools import NoiseConfig, ToolsConfig
from m1.schema import Family, Question, TaskType, ToolCall
from m1.tools import noise
from m1.tools.context import ToolContext, VideoStore
from m1.tools.perception import ocr
from m1.tools.registry import execute

ROOT = Path(__file__).resolve().parents[2]
# grounding gets its own question: on another one it falls back to MiniLM retrieval (slow to load)
TOOLS = {"count": ["rough_browser", "global_sampling", "fine_browser", "spatial"], "ground": ["grounding"]}
QUESTIONS = {
    "count": ("How many different objects appear in the video?", ["1", "2", "3", "4"], TaskType.MULTIPLE_CHOICE,
              Family.LONG_VIDEO),
    "ground": ("When does the following happen: the red square is on screen.", [], TaskType.GROUNDING,
               Family.GROUNDING),
}


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return encode("n", tmp_path_factory.mktemp("noise"))


NOISY = {"enabled": True, "miss_rate": 0.3, "spurious_rate": 0.3, "ocr_misread_rate": 0.5,
         "count_off_by_one_rate": 0.3, "grounding_shift_s": 1.0}


def _cfg(seed=0, **kw):
    # shapes only: the other providers stay silent on M1-Synth frames anyway, and cost seconds
    return ToolsConfig(providers=["shapes"], noise=NoiseConfig(**(NOISY | {"seed": seed} | kw)))


def _q(video, kind="count"):
    text, opts, task, family = QUESTIONS[kind]
    return Question(qid=kind, video=video, question=text, options=opts, task_type=task, family=family)


def _result(r):
    return (r.text, r.candidate, r.confidence, json.dumps(r.payload, sort_keys=True), r.error)


def _calls(video, cfg, store, kind="count"):
    ctx = ToolContext(video, _q(video, kind), cfg, store)
    return ctx, [_result(execute(ToolCall(tool=t, args={}), ctx)) for t in TOOLS[kind]]


@pytest.mark.parametrize("kind", ["count", "ground"])
def test_a_repeated_call_cannot_resample_its_errors(video, kind):
    cfg = _cfg(seed=3, miss_rate=0.3 if kind == "count" else 0.0)
    ctx, first = _calls(video, cfg, VideoStore(), kind)
    again = [_result(execute(ToolCall(tool=t, args={}), ctx)) for t in TOOLS[kind]]  # same episode
    _, fresh = _calls(video, cfg, VideoStore(), kind)  # fresh context and store
    assert first == again == fresh
    if kind == "ground":
        return
    # the same call with its defaults written out is the same reading
    explicit = execute(ToolCall(tool="rough_browser", args={"start": 0.0, "end": 8.0, "fps": 0.5}), ctx)
    assert _result(explicit)[0] == first[0][0]


def test_the_same_reading_in_another_process(video):
    code = ("import json, sys; from m1.config.tools import ToolsConfig, NoiseConfig; from m1.tools import noise; "
            "from m1.tools.context import ToolContext; "
            f"ctx = ToolContext({video!r}, None, ToolsConfig(noise=NoiseConfig(**{NOISY!r}))); "
            "rd = noise.reading(ctx, 'spatial', {'t': 2.0, 'question': 'x'}); "
            "print(json.dumps([rd.key, noise.draw(rd, 'miss', 'red', 'square')]))")
    env = os.environ | {"PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    ctx = ToolContext(video, None, ToolsConfig(noise=NoiseConfig(**NOISY)))
    rd = noise.reading(ctx, "spatial", {"t": 2.0, "question": "x"})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [rd.key, noise.draw(rd, "miss", "red", "square")]


def test_other_tool_segment_or_rate_reads_independently(video):
    """Over 600 noise seeds: each reading misses the red square at ~rate, and two different readings
    both miss it at ~rate**2 (independent), while a repeated reading always agrees with itself."""
    q = _q(video)
    rate, n = 0.3, 600
    variants = {
        "tool": ("spatial", {"t": None, "question": None}, {}),
        "segment": ("fine_browser", {"start": 1.0, "end": None, "question": None}, {}),
        "rate": ("fine_browser", {"start": None, "end": None, "question": None}, {"scan_step": 2.5}),
    }
    base_args = {"start": None, "end": None, "question": None}
    hits = {k: 0 for k in variants} | {"base": 0}
    both = dict.fromkeys(variants, 0)
    for seed in range(n):
        cfg = _cfg(seed=seed)
        rd = noise.reading(ToolContext(video, q, cfg), "fine_browser", base_args)
        assert noise.draw(rd, "miss", "red", "square") == noise.draw(
            noise.reading(ToolContext(video, q, cfg), "fine_browser", dict(base_args)), "miss", "red", "square")
        m0 = noise.draw(rd, "miss", "red", "square") < rate
        hits["base"] += m0
        for k, (tool, args, extra) in variants.items():
            ctx = ToolContext(video, q, cfg.model_copy(update=extra))
            m = noise.draw(noise.reading(ctx, tool, args), "miss", "red", "square") < rate
            hits[k] += m
            both[k] += m and m0
    for k, v in hits.items():
        assert abs(v / n - rate) < 0.06, (k, v / n)
    for k, v in both.items():
        assert abs(v / n - rate * rate) < 0.04, (k, v / n)


def test_a_step_argument_is_the_reading_at_that_rate(video):
    """An agent re-reads by passing ``step``: the call is the reading of the episode's tools at that
    scan step (same text, candidate and errors), ``step=tools.scan_step`` is the plain call, the
    episode's config is back afterwards, and a step out of range is a typed bad_args error."""
    cfg, store = _cfg(seed=5), VideoStore()
    for tool in ("fine_browser", "spatial"):
        ctx = ToolContext(video, _q(video), cfg, store)
        stepped = execute(ToolCall(tool=tool, args={"step": 2.5}), ctx)
        assert ctx.cfg is cfg
        at_rate = execute(ToolCall(tool=tool, args={}), ToolContext(video, _q(video), cfg.model_copy(
            update={"scan_step": 2.5}), store))
        assert _result(stepped) == _result(at_rate)
        plain = execute(ToolCall(tool=tool, args={}), ToolContext(video, _q(video), cfg, store))
        default = execute(ToolCall(tool=tool, args={"step": cfg.scan_step}), ToolContext(video, _q(video), cfg, store))
        assert _result(plain) == _result(default)
    ctx = ToolContext(video, _q(video), cfg, store)
    keys = {noise.reading(ctx, "fine_browser", {"step": s}).key for s in (None, cfg.scan_step, 2.5, 1.6)}
    assert len(keys) == 3  # None and the default are one reading; 2.5 and 1.6 two more
    bad = execute(ToolCall(tool="grounding", args={"step": 0.2}), ctx)
    assert bad.error_kind is not None and bad.error_kind.value == "bad_args" and "step" in bad.error


def test_rates_are_honoured(video):
    """Each error happens at its configured rate (within binomial tolerance over 400 readings)."""
    q = _q(video)
    n = 400
    ctx = ToolContext(video, q, _cfg())
    frames = ctx.look([2.0, 6.0], caption=True)  # exact: no reading in progress
    assert sorted(d.name for d in frames[0].objects) == ["blue circle", "red square"]
    assert frames[0].caption is not None and frames[0].caption.text == "RAVEN"
    kept = detections = phantoms = misreads = cut_changes = stop_changes = 0
    shifts = []
    from m1.tools.analysis import Segment

    segs = [Segment("right", 0.5, 1.5), Segment("still", 1.5, 3.0), Segment("down", 3.0, 4.0)]
    for seed in range(n):
        c = ToolContext(video, q, _cfg(seed=seed))
        c.reading = noise.reading(c, "fine_browser", {"start": None, "end": None, "question": None})
        f0 = noise.view(c, frames[0])
        real = [d for d in f0.objects if (d.x, d.y) in {(o.x, o.y) for o in frames[0].objects}]
        kept += len(real)
        detections += len(frames[0].objects)
        ph = noise.phantom(c, c.reading)
        phantoms += ph is not None
        if ph is not None and ph[1] <= 2.0 <= ph[2] and ph[0].name not in ("blue circle", "red square"):
            assert ph[0] in f0.objects  # the phantom is in the reading's view of the frame
        if f0.caption.text != "RAVEN":
            misreads += 1
            assert ocr.similarity(f0.caption.text, "RAVEN") < 0.7
        new = noise.cuts(c, [3], 8, (0.0, 8.0, 1.0))
        assert abs(len(new) - 1) <= 1
        cut_changes += len(new) != 1
        st = noise.stops(c, "red square", segs)
        n_still = sum(s.direction == "still" for s in st)
        assert n_still in (0, 1, 2)
        stop_changes += n_still != 1
        s, e = noise.shift_span(c, 2.0, 4.0)
        assert abs((e - s) - 2.0) < 1e-9 and abs(s - 2.0) <= 1.0
        shifts.append(s - 2.0)
    assert abs(1 - kept / detections - 0.3) < 0.06
    assert abs(phantoms / n - 0.3) < 0.07
    assert abs(misreads / n - 0.5) < 0.07
    assert abs(cut_changes / n - 0.3) < 0.07
    assert abs(stop_changes / n - 0.3) < 0.07
    assert abs(sum(shifts) / n) < 0.1 and max(shifts) > 0.8 and min(shifts) < -0.8


def test_text_and_candidate_come_from_the_same_reading(video):
    """With noise on, what a tool says and the candidate it returns agree."""
    for seed in range(12):
        ctx = ToolContext(video, _q(video, "ground"), _cfg(seed=seed, grounding_shift_s=2.0, miss_rate=0.0))
        r = execute(ToolCall(tool="grounding", args={}), ctx)
        s, e = r.candidate.split()
        assert f"happens {s}-{e}s" in r.text
        ctx = ToolContext(video, _q(video), _cfg(seed=seed, miss_rate=0.5))
        r = execute(ToolCall(tool="fine_browser", args={}), ctx)
        n = int(r.payload["evidence"].split()[0])
        assert r.candidate == "ABCD"[n - 1] if 1 <= n <= 4 else r.candidate is not None


def test_noise_off_is_the_exact_tools(video):
    """Disabled noise (whatever its rates) gives byte-identical results to the default config, and
    the frames a context returns are the cached exact ones."""
    off = ToolsConfig(providers=["shapes"], noise=NoiseConfig(enabled=False, miss_rate=0.9, grounding_shift_s=5.0))
    exact = ToolsConfig(providers=["shapes"])
    for kind in QUESTIONS:
        assert _calls(video, exact, VideoStore(), kind)[1] == _calls(video, off, VideoStore(), kind)[1]
    ctx = ToolContext(video, _q(video), off)
    ctx.reading = noise.reading(ctx, "spatial", {})
    assert ctx.reading is None
    on = ToolContext(video, _q(video), _cfg(), ctx.store)
    assert [o.objects for o in on.look([2.0])] == [o.objects for o in ctx.look([2.0])]  # no reading: exact


def test_verify_with_exact_tools_is_the_one_call_answer(video):
    from m1.tools.solver import solve

    store, cfg = VideoStore(), ToolsConfig(providers=["shapes"])
    for kind in QUESTIONS:
        one, ver = solve(_q(video, kind), cfg, store), solve(_q(video, kind), cfg, store, strategy="verify")
        assert one.answer == ver.answer or (kind == "ground" and one.answer.split()[0] == ver.answer.split()[0])
        assert len(ver.results) == len(one.results) + 1  # agreement after the second reading
        assert ver.frames_used >= one.frames_used
    with pytest.raises(ValueError, match="strategy must be one of"):
        solve(_q(video), strategy="twice")


def test_revision_rule():
    from m1.schema import ToolResult
    from m1.tools.solver import agree, revise

    def r(c, conf=0.9):
        return ToolResult(tool="spatial", args={}, text="", candidate=c, confidence=conf)

    assert revise([r("A"), r("A")]) == ("A", 0.9)
    assert revise([r("A", 0.9), r("B", 0.6), r("B", 0.6)]) == ("B", 0.6)  # majority over confidence
    assert revise([r("A", 0.5), r("B", 0.8), r("C", 0.6)]) == ("B", 0.8)  # no majority: most confident
    assert revise([None, r("C", 0.4)]) == ("C", 0.4)
    assert revise([None, None]) == (None, 0.0)
    assert revise([r("2.00 4.00"), r("2.40 4.40")])[0] == "2.20 4.20"  # agreeing spans averaged
    assert revise([r("1.00 3.00"), r("9.00 11.00"), r("5.00 7.00")])[0] == "5.00 7.00"  # median
    assert agree(r("0.50"), r("0.51")) and not agree(r("0.50"), r("0.60")) and not agree(r("A"), None)


@pytest.mark.parametrize(("override", "needle"), [
    ("tools.noise={enabled: true}", "every rate is 0"),
    ("tools.noise.miss_rate=1.5", "tools.noise.miss_rate"),
    ("tools.noise.grounding_shift_s=-1", "tools.noise.grounding_shift_s"),
    ("tools.noise.rate=0.1", "tools.noise.rate"),
])
def test_bad_noise_settings_are_clear_errors(override, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_config(overrides=[override])


def test_the_preset_turns_noise_and_long_videos_on():
    cfg = load_config(ROOT / "configs" / "noisy_long.yaml")
    assert cfg.tools.noise.enabled and cfg.synth.long_video and cfg.synth.duration_range == (180.0, 360.0)
    assert not load_config().tools.noise.enabled
