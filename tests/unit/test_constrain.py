"""Constrained answers: the hf engine decodes only text that matches the pattern (greedy and
sampled, with the unwarped log-probs the learner recomputes), the episode asks for exactly the
answers :func:`m1.team.answers.parse_answer` adopts, and an impossible pattern is a typed error."""

from __future__ import annotations

import pytest
import regex
import torch

from m1.checkpoint import train_tokenizer
from m1.config import AgentSpec
from m1.engines.base import SamplingSettings
from m1.engines.constrain import ConstraintError, PatternConstraint
from m1.engines.hf import HFEngine
from m1.models import build_model, default_catalogue, plan_corpus
from m1.schema import Question, TaskType
from m1.team.answers import answer_pattern, parse_answer
from m1.team.plan import PlanFormatError

torch.set_num_threads(1)

MC = Question(qid="q", video="/v.mp4", question="Which side?", options=["left", "right", "front", "back"],
              task_type=TaskType.MULTIPLE_CHOICE)
NUM = Question(qid="n", video="/v.mp4", question="How many?", task_type=TaskType.NUMERIC)
SPAN = Question(qid="g", video="/v.mp4", question="the red circle moves.", task_type=TaskType.GROUNDING)
OPEN = Question(qid="o", video="/v.mp4", question="Which objects appear?", task_type=TaskType.OPEN_ENDED)
CITED = {"a0.1": "B", "a2.3": "D"}
PROMPT = "#answer\nQ: Which side?\nA. left\nB. right\nEvidence:\n[a0.1] spatial: candidate=B conf=0.90; x\nAnswer:\n"


@pytest.fixture(scope="module")
def engine():
    tok = train_tokenizer(plan_corpus(default_catalogue(), n=40), vocab_size=500)
    spec = AgentSpec(name="q2", arch="qwen2", hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                     head_dim=32, intermediate_size=96, max_context=256)
    model = build_model(spec, tok, seed=1)
    with torch.no_grad():  # diverse, confident outputs from a random model (as in test_engine_hf)
        for name, p in model.named_parameters():
            if "proj" in name and name.endswith("weight"):
                p.mul_(4.0)
        model.model.norm.weight.mul_(20.0)
    return HFEngine(model, tok)


def test_answer_pattern_is_what_parse_answer_adopts():
    mc = answer_pattern(MC, CITED)
    for ok in ["A", "D", "a0.1", "a2.3"]:
        assert regex.fullmatch(mc, ok)
        parse_answer(ok, MC, CITED)  # never a format error
    for bad in ["E", "a0.2", "AB", "", "a2.3x"]:
        assert not regex.fullmatch(mc, bad)
        with pytest.raises(PlanFormatError):
            parse_answer(bad, MC, CITED)
    # a shown line whose candidate is no valid answer to this question is not citable
    span_q = answer_pattern(SPAN, {"a1.1": "3 5", "a2.1": "green triangle, red circle", "a0.2": "B"})
    assert regex.fullmatch(span_q, "a1.1") and not regex.fullmatch(span_q, "a2.1")
    assert not regex.fullmatch(span_q, "a0.2")
    num, span = answer_pattern(NUM, {"a1.1": "3"}), answer_pattern(SPAN, {"a1.1": "3 5"})
    assert all(regex.fullmatch(num, s) for s in ["3", "-2.5", "a1.1"]) and not regex.fullmatch(num, "1e3")
    assert all(regex.fullmatch(span, s) for s in ["3 5", "1.5 12", "a1.1"]) and not regex.fullmatch(span, "3-5")
    assert answer_pattern(OPEN, CITED) is None  # open-ended answers stay free text
    assert regex.fullmatch(answer_pattern(MC, {}), "C") and not regex.fullmatch(answer_pattern(MC, {}), "a0.1")
    assert not regex.fullmatch(answer_pattern(MC, {"a0.1": "E"}), "a0.1")  # E is not an option of MC


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_hf_engine_decodes_only_matching_text(engine, temperature):
    pattern = answer_pattern(MC, CITED)
    free = [engine.generate([PROMPT], SamplingSettings(temperature=temperature, max_new_tokens=8, seed=s))[0]
            for s in range(6)]
    # the test can fail: the untrained model's own answers are not valid
    assert not all(regex.fullmatch(pattern, c.text) for c in free)
    for s in range(6):
        settings = SamplingSettings(temperature=temperature, max_new_tokens=8, seed=s, pattern=pattern)
        c = engine.generate([PROMPT, "Answer:\n"], settings)
        for done in c:
            assert regex.fullmatch(pattern, done.text), done.text
            assert done.finish_reason == "stop" and done.completion_ids[-1] == engine.eos_id
            # log-probs stay the policy's own (unwarped, unrestricted): what the learner recomputes
            again = engine.compute_logprobs([done.prompt_ids], [done.completion_ids])[0]
            assert again == pytest.approx(done.logprobs, abs=1e-4)


def test_greedy_constrained_picks_the_best_allowed_token(engine):
    """With one allowed answer left the constraint forces it; greedy otherwise picks the allowed
    token the model ranks highest, so the same seed gives the same answer twice."""
    only = engine.generate([PROMPT], SamplingSettings(temperature=0.0, max_new_tokens=8, pattern="a2\\.3"))[0]
    assert only.text == "a2.3"
    s = SamplingSettings(temperature=0.0, max_new_tokens=8, pattern=answer_pattern(MC, CITED))
    assert engine.generate([PROMPT], s)[0] == engine.generate([PROMPT], s)[0]


def test_an_impossible_pattern_is_a_typed_error(engine):
    with pytest.raises(ConstraintError, match="no token continues"):
        engine.generate([PROMPT], SamplingSettings(temperature=1.0, max_new_tokens=4, seed=0, pattern="(?!)"))
    with pytest.raises(ConstraintError, match="bad completion pattern"):
        PatternConstraint("(unclosed", engine.tokenizer, engine.eos_id)
