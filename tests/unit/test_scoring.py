"""The one scorer (m1.data.scoring): each answer kind's edge cases — above all those where the three
scorers before issue 16 (the outcome reward, the SFT filter, the evaluation) disagreed, asserting the
official behaviour chosen — and that the reward, the SFT filter and evaluation now give one score."""

import sys
from pathlib import Path

import pytest

from m1.config import CPPConfig, RewardConfig, SFTConfig
from m1.data import score, scoring
from m1.data.scoring import score_question
from m1.evaluation.harness import prediction_from_episode, system_metrics
from m1.evaluation.summary import result_from_episode
from m1.schema import Family, Question, TaskType
from m1.team.cpp import run_episode
from m1.team.topology import complete_topology
from m1.train.annotation import judge_trajectory, own_answer
from m1.train.marl import family_metrics
from m1.train.rewards import agent_rewards

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, ScriptedTeam  # noqa: E402
from test_sft_filter import Tools, script  # noqa: E402

MC = Question(qid="mc", video="/v.mp4", question="What colour?", options=["red", "green", "blue", "cyan"],
              answer="B", task_type=TaskType.MULTIPLE_CHOICE, family=Family.LONG_VIDEO, duration=20.0)
NUM = Question(qid="num", video="/v.mp4", question="How far?", answer="10", task_type=TaskType.NUMERIC,
               family=Family.SPATIAL, duration=20.0)
GROUND = Question(qid="g", video="/v.mp4", question="the red circle moves left.", answer="3 5",
                  task_type=TaskType.GROUNDING, family=Family.GROUNDING, duration=20.0)
OPEN = Question(qid="o", video="/v.mp4", question="What is it?", answer="A red Ball!", task_type=TaskType.OPEN_ENDED)
OPEN_NUM = OPEN.model_copy(update={"qid": "on", "answer": "12.50"})


# (prediction, score) — the comment says what the old reward / old SFT filter gave where it differed
@pytest.mark.parametrize(("prediction", "expected", "parsed"), [
    ("B", 1.0, "B"),
    (" B ", 1.0, "B"),
    ("b", 1.0, "B"),  # reward 0 (case-sensitive)
    ("(B)", 1.0, "B"),  # reward 0, filter 0
    ("B. green", 1.0, "B"),  # reward 0, filter 0
    ("The answer is B", 1.0, "B"),  # reward 0, filter 0
    ("green", 1.0, "B"),  # the option's text; reward 0, filter 0
    ("A", 0.0, "A"),
    ("E", 0.0, None),  # not a letter of the 4 options: unparseable
    ("A or B", 0.0, None),  # ambiguous
    ("", 0.0, None),
])
def test_multiple_choice_reads_the_letter_as_the_official_scripts(prediction, expected, parsed):
    assert scoring.score_choice(prediction, "B", MC.options) == (expected, parsed)
    s = score_question(MC, prediction)
    assert (s.score, s.parsed, s.missing) == (expected, parsed, False)


@pytest.mark.parametrize(("prediction", "expected"), [
    ("10", 1.0),
    ("12", 0.7),  # 20 % error: thresholds 0.50 .. 0.80 hit
    ("12 m", 0.7),  # reward 0, filter 0 (float("12 m") failed)
    ("about 12 metres", 0.7),  # reward 0, filter 0
    ("twelve", 0.7),  # reward 0, filter 0
    ("1e1", 1.0),  # read as float reads it (VSI-Bench to_float); parse_number alone would read 1
    ("8.", 0.7),
    ("nan", 0.0),
    ("inf", 0.0),
    ("abc", 0.0),
])
def test_numeric_is_mra_of_the_number_read(prediction, expected):
    assert scoring.score_number(prediction, "10")[0] == pytest.approx(expected)
    assert score_question(NUM, prediction).score == pytest.approx(expected)


def test_numeric_reads_the_loops_canonical_numbers_exactly():
    # the CPP loop's median / canonical_number write large and small values in scientific notation
    assert scoring.read_number("1.23457e+06") == 1.23457e6 and scoring.read_number("1e-05") == 1e-05
    assert scoring.score_number("1.23457e+06", "1234567")[0] == 1.0
    assert scoring.read_number("<answer>-3.5</answer>") == -3.5 and scoring.read_number("nan") is None
    assert scoring.read_number("1e400") is None  # float's inf, not parse_number's 1


@pytest.mark.parametrize(("prediction", "expected", "parsed"), [
    ("3 5", 1.0, (3.0, 5.0)),
    ("4 6", 1 / 3, (4.0, 6.0)),
    ("3 - 5", 1.0, (3.0, 5.0)),  # reward 0, filter 0 (split on spaces)
    ("from 0:03 to 0:05", 1.0, (3.0, 5.0)),  # reward 0, filter 0
    ("[3, 5]", 1.0, (3.0, 5.0)),  # reward 0, filter 0
    ("5 3", 1.0, (3.0, 5.0)),  # reversed: swapped
    ("3 5 7", 1.0, (3.0, 5.0)),  # the first two numbers; filter 0 (not exactly two)
    ("3", 0.0, None),  # reward raised IndexError
    ("no idea", 0.0, None),
])
def test_grounding_is_iou_of_the_span_read(prediction, expected, parsed):
    got, span = scoring.score_interval(prediction, "3 5")
    assert got == pytest.approx(expected) and span == parsed
    assert score_question(GROUND, prediction).score == pytest.approx(expected)


@pytest.mark.parametrize(("question", "prediction", "expected"), [
    (OPEN, "a red ball", 1.0),  # filter 0 (punctuation of the gold answer)
    (OPEN, "It is a red ball.", 1.0),  # reward 0, filter 0: the gold answer's words appear in it
    (OPEN, "a red balloon", 0.0),  # whole words only
    (OPEN, "red", 0.0),
    (OPEN_NUM, "12.5", 1.0),  # reward 0, filter 0 (text "12 5" vs "12 50")
    (OPEN_NUM, "F = 10 N + 2.5 N = 12.5 N", 1.0),
    (OPEN_NUM, "12.6", 0.0),
])
def test_open_ended_is_videommmu_matching(question, prediction, expected):
    assert scoring.score_open(prediction, question.answer)[0] == expected
    assert score_question(question, prediction).score == expected


def test_no_answer_scores_zero_and_unlabelled_questions_are_an_error():
    for q in (MC, NUM, GROUND, OPEN):
        s = score_question(q, None)
        assert (s.score, s.parsed, s.missing) == (0.0, None, True)
        with pytest.raises(scoring.UnlabelledQuestionError, match="no ground truth"):
            score_question(q.model_copy(update={"answer": None}), "B")


def run(q, scripts):
    return run_episode(q, ScriptedTeam(scripts), Tools(), complete_topology(len(scripts)), CATALOGUE, CPPConfig())


@pytest.mark.parametrize(("question", "answer", "expected"), [
    (MC, "B", 1.0), (MC, "C", 0.0), (NUM, "12", 0.7), (NUM, "9", 0.9), (GROUND, "4 6", 1 / 3),
    (GROUND, "3 5", 1.0), (MC, "(B)", 0.0),  # "(B)" is no answer in the plan language: the loop keeps None
])
def test_reward_sft_filter_and_evaluation_give_one_score(question, answer, expected):
    ep = run(question, [script('1. global_sampling {"n":4}', answer)])
    trace = ep.agents[0]
    s = score_question(question, trace.answer).score
    assert s == pytest.approx(expected) and ep.final_answer == trace.answer
    cfg = RewardConfig(outcome="agent")
    (r,) = agent_rewards(ep, cfg)
    assert r.outcome == pytest.approx(cfg.wrong + (cfg.correct - cfg.wrong) * s)
    assert judge_trajectory(ep, trace, SFTConfig(min_score=s)).answer_correct
    if s < 1.0:
        assert not judge_trajectory(ep, trace, SFTConfig(min_score=s + 0.01)).answer_correct
    assert result_from_episode(ep).score == s
    assert family_metrics([ep])["accuracy"] == s
    assert score("m1_synth", [question], {question.qid: ep.final_answer})["overall"] == pytest.approx(100 * s)
    pred = prediction_from_episode("team", ep)
    assert system_metrics("m1_synth", [question], {question.qid: pred})["score"]["overall"] == pytest.approx(100 * s)


def test_sft_filter_reads_a_tool_candidate_as_an_answer_of_the_questions_kind():
    # a count question whose option B is "3": the grounding tool's span "3.2 5" is no answer to it,
    # though a free-text reading would find option "3" in it
    count = MC.model_copy(update={"qid": "count", "question": "How many?", "options": ["1", "3", "6", "13"]})
    assert score_question(count, "3.2 5").score == 1.0
    ep = run(count, [script('1. grounding {"query":"x"}', "B")])
    assert own_answer(ep, ep.agents[0]) is None
    v = judge_trajectory(ep, ep.agents[0], SFTConfig())
    assert not v.own_correct and v.answer_correct
    # a candidate of the right kind is canonicalised ("3.2 5" -> "3.2 5", IoU 0.9 with 3-5)
    ep = run(GROUND, [script('1. grounding {"query":"x"}', "3 5")])
    assert own_answer(ep, ep.agents[0]) == "3.2 5" and judge_trajectory(ep, ep.agents[0], SFTConfig()).own_correct


class _SureTeam(ScriptedTeam):
    """Agent k's answer tokens have log-prob -0.1 (k + 1): agent 0 is the surest."""

    def generate(self, requests):
        return [c.model_copy(update={"logprobs": [-0.1 * (r.agent + 1)] * len(c.logprobs)})
                for r, c in zip(requests, super().generate(requests), strict=True)]


@pytest.mark.parametrize(("question", "answers"), [
    (MC, ["A", "B", "B", "C"]),  # vote B, summariser (the last agent) C, top score (agent 0) A
    (NUM, ["8", "11", "12", "14"]),  # median 11.5
    (GROUND, ["2 4", "3 5", "3 5", "4 6"]),
    (MC, ["D", "not a letter", "A", "A"]),  # an unparseable answer takes part in no rule
])
def test_an_evaluation_aggregates_again_exactly_as_the_episode_would(question, answers):
    """Aggregation runs after every agent has answered, so the agents' recorded answers (and answer
    log-probs) give each rule's team answer without running the episode again: the aggregation rows
    of the ablation table are read from one evaluation."""
    from m1.evaluation.harness import reaggregate
    from m1.evaluation.predictions import EvalError

    scripts = [script('1. global_sampling {"n":4}', a) for a in answers]
    rules = {}
    for rule in ("vote", "summariser", "top_score"):
        cfg = CPPConfig(aggregation=rule)
        rules[rule] = run_episode(question, _SureTeam(scripts), Tools(), complete_topology(4), CATALOGUE, cfg)
    recorded = prediction_from_episode("team", rules["vote"])
    names = rules["vote"].team
    for rule, ep in rules.items():
        again = reaggregate(recorded, question, names, CPPConfig(aggregation=rule))
        assert (again.prediction, again.aggregation) == (ep.final_answer or "", ep.aggregation), rule
        assert again.system == f"team@{rule}"
    if question is MC and answers[0] == "A":
        assert [rules[r].final_answer for r in ("vote", "summariser", "top_score")] == ["B", "C", "A"]
    with pytest.raises(EvalError, match="log-prob"):  # predictions written before agent_scores existed
        reaggregate(recorded.model_copy(update={"agent_scores": {}}), question, names,
                    CPPConfig(aggregation="top_score"))
    with pytest.raises(EvalError, match="not in the team"):
        reaggregate(recorded, question, names[:2], CPPConfig())
