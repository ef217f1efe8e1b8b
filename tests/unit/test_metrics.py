"""Official metrics on hand-computed cases, and ``score`` end to end on small question sets."""

from __future__ import annotations

import pytest

from m1.data import score
from m1.data.metrics import (
    grounding_metrics,
    mean_relative_accuracy,
    mlvu_m_avg,
    normalised_number_match,
    normalised_text_match,
    recall_at,
    temporal_iou,
    vsibench_overall,
    vsibench_task_scores,
)
from m1.schema import Family, Question, TaskType


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        (10, 10, 1.0),
        (12, 10, 0.7),  # 20 % error: inside 1-θ for θ = .50 … .80 → 7 of 10
        (8, 10, 0.7),
        (11, 10, 0.9),  # exactly 10 % error at θ = .90 counts (≤); the official float compare gives 0.8
        (15, 10, 0.1),  # exactly 50 %: only θ = .50
        (16, 10, 0.0),
        (4, 10, 0.0),
        (-3, -3, 1.0),
        (0, 0, 1.0),  # ground truth 0: exact match required
        (0.01, 0, 0.0),
        (None, 10, 0.0),  # unparseable
        (float("nan"), 10, 0.0),
    ],
)
def test_mean_relative_accuracy(pred, gt, expected):
    assert mean_relative_accuracy(pred, gt) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        ((0, 10), (5, 15), 5 / 15),
        ((5, 15), (0, 10), 5 / 15),
        ((15, 5), (0, 10), 5 / 15),  # reversed prediction swapped, as lmms-eval does
        ((2, 4), (0, 10), 0.2),
        ((0, 5), (5, 10), 0.0),  # touching
        ((20, 30), (0, 10), 0.0),
        ((3, 3), (0, 10), 0.0),  # zero-length prediction inside the ground truth
        ((5, 5), (5, 5), 1.0),  # both the same instant: empty union
        ((4, 4), (5, 5), 0.0),
        ((0, 10), (5, 5), 0.0),
        (None, (0, 10), 0.0),  # unparseable
    ],
)
def test_temporal_iou(pred, gt, expected):
    assert temporal_iou(pred, gt) == pytest.approx(expected)


def test_recall_ties_and_grounding_summary():
    ious = [1.0, 0.5, 0.3, 0.0]
    assert recall_at(ious, 0.5) == 0.5  # IoU exactly at the threshold counts
    assert recall_at([], 0.5) == 0.0
    assert grounding_metrics(ious) == pytest.approx({"R1@0.3": 0.75, "R1@0.5": 0.5, "R1@0.7": 0.25, "mIoU": 0.45})


def test_vsibench_folding_and_overall():
    per_type = {
        "object_rel_direction_easy": 1.0,
        "object_rel_direction_medium": 0.5,
        "object_rel_direction_hard": 0.0,
        "object_counting": 0.7,
        "route_planning": 0.2,
    }
    assert vsibench_task_scores(per_type) == pytest.approx(
        {"object_counting": 0.7, "route_planning": 0.2, "object_rel_direction": 0.5}
    )
    assert vsibench_overall(per_type) == pytest.approx((0.7 + 0.2 + 0.5) / 3)
    assert vsibench_overall({"object_rel_direction_hard": 0.4}) == pytest.approx(0.4)  # levels present only


def test_mlvu_m_avg_and_open_answer_matches():
    assert mlvu_m_avg({"plotQA": 1.0, "count": 0.5}) == 0.75
    assert normalised_number_match(12.5, 12.50) and normalised_number_match(12.504, 12.5)
    assert not normalised_number_match(12.51, 12.5) and not normalised_number_match(None, 1.0)
    assert normalised_text_match("It's the Mitochondria.", "mitochondria")
    assert not normalised_text_match("mitochondrial DNA", "mitochondria") and not normalised_text_match(None, "x")


def mc(qid: str, answer: str, category: str = "", **meta) -> Question:
    return Question(
        qid=qid,
        video="v.mp4",
        question="q?",
        options=["w", "x", "y", "z"],
        answer=answer,
        task_type=TaskType.MULTIPLE_CHOICE,
        category=category,
        meta=meta,
    )


def test_score_vsibench():
    def num(qid, gt, cat):
        return Question(
            qid=qid,
            video="v",
            question="q",
            answer=gt,
            task_type=TaskType.NUMERIC,
            category=cat,
        )

    questions = [
        num("c1", "4", "object_counting"),
        num("c2", "10", "object_counting"),
        mc("d1", "B", "object_rel_direction_easy"),
        mc("d2", "A", "object_rel_direction_medium"),
        mc("d3", "C", "object_rel_direction_hard"),
        num("r1", "20", "room_size_estimation"),
    ]
    preds = {"c1": "4 chairs", "c2": "twelve", "d1": "B", "d2": "The answer is B", "d3": "", "zz": "A"}
    out = score("vsibench", questions, preds)
    assert out["by_category"]["object_counting"] == pytest.approx(85.0)
    assert out["by_task"] == pytest.approx(
        {"object_counting": 85.0, "room_size_estimation": 0.0, "object_rel_direction": 100 / 3}
    )
    assert out["overall"] == pytest.approx((85.0 + 0.0 + 100 / 3) / 3)
    assert (out["n"], out["unparseable"], out["missing"], out["unknown_predictions"]) == (6, 1, 1, 1)


def test_score_charades():
    def g(qid):
        return Question(
            qid=qid,
            video="v",
            question="q",
            answer="0.0 10.0",
            task_type=TaskType.GROUNDING,
            family=Family.GROUNDING,
        )

    out = score("charades_sta", [g("a"), g("b"), g("c")], {"a": "5 - 15", "b": "from 0:00 to 0:05", "c": "no idea"})
    assert out["R1@0.3"] == pytest.approx(200 / 3) and out["R1@0.5"] == pytest.approx(100 / 3)
    assert out["R1@0.7"] == 0.0 and out["mIoU"] == pytest.approx((1 / 3 + 0.5) / 3 * 100)
    assert out["unparseable"] == 1 and out["overall"] == out["mIoU"]


def test_score_lvb_groups_and_unlabelled():
    questions = [
        mc("1", "A", "TOS", duration_group="15"),
        mc("2", "B", "TOS", duration_group="600"),
        mc("3", "C", "S2A", duration_group="600"),
        mc("4", "D", "S2A", duration_group="600"),
    ]
    questions.append(questions[0].model_copy(update={"qid": "5", "answer": None}))
    out = score("lvb", questions, {"1": "(A)", "2": "B.", "3": "x", "4": "I pick z"})  # "x" = option B's text
    assert out["overall"] == 75.0 and out["unlabelled"] == 1 and out["n"] == 4
    assert out["by_category"] == {"TOS": 100.0, "S2A": 50.0}
    assert out["by_duration_group"] == pytest.approx({"15": 100.0, "600": 200 / 3})


def test_score_mlvu_videommmu_open():
    qs = [mc("1", "A", "plotQA"), mc("2", "B", "count"), mc("3", "C", "count")]
    out = score("mlvu", qs, {"1": "A", "2": "B", "3": "A"})
    assert out["M-Avg"] == 75.0 and out["accuracy"] == pytest.approx(200 / 3)

    def op(qid, a):
        return Question(
            qid=qid,
            video="v",
            question="q",
            answer=a,
            task_type=TaskType.OPEN_ENDED,
            category="Comprehension",
            meta={"question_type": "open"},
        )

    out = score(
        "videommmu",
        [op("n", "12.50"), op("t", "Mitochondria"), op("u", "7")],
        {"n": "F = 10 N + 2.5 N = 12.5 N", "t": "It is the mitochondria.", "u": "no number"},
    )
    assert out["overall"] == pytest.approx(200 / 3) and out["unparseable"] == 1
    assert out["by_question_type"] == pytest.approx({"open": 200 / 3})


def test_score_rejects_unknown_benchmark():
    from m1.data import DataError

    with pytest.raises(DataError):
        score("nope", [], {})
