"""M1-Synth: event logs, exact answers on hand-built logs, option balance."""

import random

import pytest

from m1.config import SynthConfig
from m1.schema import OPTION_LETTERS, Family, TaskType
from m1.seeding import derive_seed
from m1.synth import questions as Q
from m1.synth.generate import split_questions, video_seed
from m1.synth.world import Caption, EventLog, Keyframe, Scene, SynthObject, sample_event_log


def _obj(oid, scene, colour, shape, kfs, size=40, enter="left", exit_side=None):
    return SynthObject(
        id=oid, scene=scene, colour=colour, shape=shape, size=size,
        keyframes=[Keyframe(t=t, x=x, y=y) for t, x, y in kfs], enter_side=enter, exit_side=exit_side,
    )


@pytest.fixture
def hand_log() -> EventLog:
    """Two shots. Shot 0 (0-10 s): red circle enters from the left at 1 s, moves right to x=200 by
    2 s, stands still until 10 s. Blue square enters from the right at 4 s, moves left to x=500 by
    5 s, stands still until 10 s. Shot 1 (10-20 s): green triangle enters from the top at 12 s,
    moves down to y=150 by 13 s, still until 15 s, moves left to x=100 by 17 s, still until 20 s.
    Captions: HAWK 3.0-6.0 s (shot 0), TRUCK 11.0-14.0 s (shot 1)."""
    scenes = [
        Scene(index=0, start=0.0, end=10.0, texture="stripes", brightness=100, tint=(0, 0, 0), texture_seed=1),
        Scene(index=1, start=10.0, end=20.0, texture="checker", brightness=160, tint=(0, 0, 0), texture_seed=2),
    ]
    objects = [
        _obj(0, 0, "red", "circle", [(1.0, -20, 100), (2.0, 200, 100), (10.0, 200, 100)]),
        _obj(1, 0, "blue", "square", [(4.0, 660, 100), (5.0, 500, 100), (10.0, 500, 100)], enter="right"),
        _obj(2, 1, "green", "triangle",
             [(12.0, 300, -20), (13.0, 300, 150), (15.0, 300, 150), (17.0, 100, 150), (20.0, 100, 150)],
             enter="top"),
    ]
    captions = [Caption(text="HAWK", start=3.0, end=6.0, scene=0), Caption(text="TRUCK", start=11.0, end=14.0, scene=1)]
    return EventLog(
        video_id="hand", seed=0, width=640, height=360, fps=10, duration=20.0, metres_per_pixel=0.01,
        caption_top=302, scenes=scenes, objects=objects, captions=captions,
    )


CFG = SynthConfig()


def _answer_text(q):
    return q.options[OPTION_LETTERS.index(q.answer)]


def test_event_log_queries(hand_log):
    red, blue, green = hand_log.objects
    assert red.position(1.5) == pytest.approx((90.0, 100.0))
    assert red.position(0.5) is None
    assert [m.direction for m in hand_log.motions(green)] == ["down", "still", "left", "still"]
    assert [(m.start, m.end) for m in hand_log.motions(green)][2] == (15.0, 17.0)
    assert [v.name for v in hand_log.state_at(4.5)] == ["red circle", "blue square"]
    assert hand_log.scene_at(10.0).index == 1 and hand_log.cut_times() == [10.0]
    assert [c.text for c in hand_log.captions_at(12.0)] == ["TRUCK"]
    assert not hand_log.is_on_screen(red, 10.0)  # vanishes at the cut


@pytest.mark.parametrize("seed", range(5))
def test_answers_on_hand_log(hand_log, seed):
    rng = random.Random(seed)
    assert _answer_text(Q.q_object_count(hand_log, rng, CFG)) == "3"
    assert _answer_text(Q.q_scene_count(hand_log, rng, CFG)) == "2"
    assert _answer_text(Q.q_first_appearance(hand_log, rng, CFG)) == "red circle"
    # red circle appears (t_in + 0.5 = 1.5 s) while no caption is shown; blue square (4.5 s) under HAWK;
    # green triangle (12.5 s) under TRUCK
    q = Q.q_caption_at_entry(hand_log, rng, CFG)
    assert (q.question, _answer_text(q)) in {
        ("What text was shown on screen when the blue square appeared?", "HAWK"),
        ("What text was shown on screen when the green triangle appeared?", "TRUCK"),
    }
    q = Q.q_colour_after_caption(hand_log, rng, CFG)
    expected = {"HAWK": "blue", "TRUCK": "green"}
    word = q.question.split("caption ")[1].split(" ")[0]
    assert _answer_text(q) == expected[word]
    q = Q.q_same_scene(hand_log, rng, CFG)
    mates = {"red circle": "blue square", "blue square": "red circle"}
    asked = q.question.split("the ")[-1].rstrip("?")
    assert _answer_text(q) == mates[asked] and "green triangle" in q.options
    q = Q.q_stop_count(hand_log, rng, CFG)
    stops = {"red circle": "1", "blue square": "1", "green triangle": "2"}
    assert _answer_text(q) == stops[q.question.split("the ")[1].split(" come")[0]]


def test_direction_and_motion_answers(hand_log):
    rng = random.Random(0)
    q = Q.q_direction_at_caption(hand_log, rng, CFG)
    # At HAWK (3 s) red circle stands still; at TRUCK (11 s) the green triangle has not entered yet.
    assert q.question == "When the caption HAWK appeared, what was the red circle doing?"
    assert _answer_text(q) == "standing still"
    q = Q.q_caption_during_motion(hand_log, random.Random(1), CFG)
    # only the green triangle's downward move (12-13 s) overlaps a caption (TRUCK) by >= 0.8 s... and
    # the blue square's leftward move (4-5 s) overlaps HAWK
    assert (q.question, _answer_text(q)) in {
        ("Which text was on screen while the green triangle was moving down?", "TRUCK"),
        ("Which text was on screen while the blue square was moving left?", "HAWK"),
    }


def test_spatial_answers(hand_log):
    for seed in range(5):
        rng = random.Random(seed)
        q = Q.q_object_abs_distance(hand_log, rng, CFG)
        # red (200,100) and blue (500,100) are both still and fully visible from 5.5 s to 9.5 s
        assert q.task_type == TaskType.NUMERIC and q.answer == "3.00"
        q = Q.q_rel_direction_easy(hand_log, rng, CFG)
        truth = "right" if q.question.endswith("of the red circle?") else "left"
        assert _answer_text(q) == truth
        q = Q.q_object_size_estimation(hand_log, rng, CFG)
        assert q.answer == "40"
    q = Q.q_appearance_order(hand_log, random.Random(0), CFG)
    assert _answer_text(q) == "red circle, blue square, green triangle"
    assert len(set(q.options)) == 4


def test_grounding_answers(hand_log):
    seen = set()
    for seed in range(20):
        q = Q.q_ground_motion(hand_log, random.Random(seed), CFG)
        seen.add((q.question, q.answer))
    assert seen <= {
        ("the red circle moves right.", "1.00 2.00"),
        ("the blue square moves left.", "4.00 5.00"),
        ("the green triangle moves down.", "12.00 13.00"),
        ("the green triangle moves left.", "15.00 17.00"),
    }
    assert len(seen) >= 3
    q = Q.q_ground_caption(hand_log, random.Random(0), CFG)
    assert q.answer in {"3.00 6.00", "11.00 14.00"}
    q = Q.q_ground_still(hand_log, random.Random(0), CFG)
    assert (q.question, q.answer) in {
        ("the red circle stands still.", "2.00 10.00"), ("the blue square stands still.", "5.00 10.00")
    }


def test_sampling_is_deterministic_and_seed_sensitive():
    a = sample_event_log(CFG, "v", 123)
    b = sample_event_log(CFG, "v", 123)
    c = sample_event_log(CFG, "v", 124)
    assert a.model_dump_json() == b.model_dump_json()
    assert a.model_dump_json() != c.model_dump_json()
    qa = Q.generate_questions(a, CFG, 5)
    qb = Q.generate_questions(b, CFG, 5)
    assert [q.model_dump() for q in qa] == [q.model_dump() for q in qb]


def test_sampled_logs_respect_geometry_and_uniqueness():
    for i in range(40):
        log = sample_event_log(CFG, "v", derive_seed("geom", i))
        names = [o.name for o in log.objects]
        assert len(names) == len(set(names))
        texts = [c.text for c in log.captions]
        assert len(texts) == len(set(texts))
        assert all(not set(t) & set("OIQ0123456789") for t in texts)
        for o in log.objects:
            sc = log.scenes[o.scene]
            assert sc.start <= o.t_in and o.t_out <= sc.end + 1e-6
        assert log.scenes[0].start == 0 and log.scenes[-1].end == log.duration


def test_split_seeds_never_collide():
    seeds = {s: {video_seed(0, s, i) for i in range(500)} for s in ("train", "val", "test")}
    assert not (seeds["train"] & seeds["val"]) and not (seeds["train"] & seeds["test"])
    assert not (seeds["val"] & seeds["test"])


def test_every_question_is_well_formed():
    for i in range(30):
        log = sample_event_log(CFG, f"v{i}", derive_seed("wf", i))
        for q in Q.generate_questions(log, CFG, i):
            if q.task_type == TaskType.MULTIPLE_CHOICE:
                assert len(set(q.options)) == len(q.options) >= 2
                assert q.answer in OPTION_LETTERS[: len(q.options)]
            elif q.task_type == TaskType.NUMERIC:
                assert float(q.answer) > 0
            else:
                s, e = map(float, q.answer.split())
                assert 0 <= s < e <= log.duration + 1e-6
            assert q.family in Family


def test_answer_prior_stays_near_chance():
    """A guesser that never sees the video, fitted on 500 train videos, scored on 300 test videos."""
    from m1.synth.baseline import evaluate_prior, fit_prior

    report = evaluate_prior(fit_prior(split_questions(CFG, "train", 500)), split_questions(CFG, "test", 300))
    for fam in ("long_video", "reasoning", "spatial"):
        r = report[fam]
        assert abs(r["letter"] - r["chance"]) < 0.06, (fam, r)
        assert abs(r["option_text"] - r["chance"]) < 0.07, (fam, r)
    assert report["grounding"]["mean_span_iou"] < 0.2
