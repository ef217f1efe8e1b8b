"""Constrained answers: the hf engine decodes only text that matches the pattern (greedy and
sampled, with the unwarped log-probs the learner recomputes), the episode asks for exactly the
answers :func:`m1.team.answers.parse_answer` adopts, and an impossible pattern is a typed error."""

from __future__ import annotations

import pytest
import regex
import torch

from m1.checkpoint import train_tokenizer
from m1.config import AgentSpec, CPPConfig
from m1.engines.base import SamplingSettings
from m1.engines.constrain import ConstraintError, PatternConstraint
from m1.engines.hf import HFEngine
from m1.models import build_model, default_catalogue, plan_corpus
from m1.schema import Question, TaskType
from m1.team.answers import FRAC_DIGITS, INT_DIGITS, answer_budget, answer_pattern, parse_answer
from m1.team.plan import SPAN_RE, PlanFormatError

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


@pytest.fixture(scope="module")
def digit_engine():
    """A tiny model that writes digits for as long as the constraint lets it: a forward hook ranks
    every all-digit token above all others, longer ones first. Its tokenizer, trained on numbers,
    has tokens of up to 5 digits (the project's, at its default vocabulary, has some of 3)."""
    numbers = [f"{i * 37 % 1000:03d}{i * 91 % 1000:03d}.{i % 100:02d}" for i in range(1000)]
    tok = train_tokenizer(["#answer\nQ: How many?\nAnswer:\n", *numbers], vocab_size=600)
    spec = AgentSpec(name="q2", arch="qwen2", hidden_size=64, num_layers=2, num_heads=2, num_kv_heads=1,
                     head_dim=32, intermediate_size=96, max_context=256)
    model = build_model(spec, tok, seed=1)
    bias = torch.zeros(model.config.vocab_size)
    for i in range(len(tok)):
        if (text := tok.decode([i])).isdigit():
            bias[i] = 20.0 + len(text)
    assert int((bias > 22).sum()) > 0  # 16 tokens of 3 digits are more than parse_answer's 32 characters

    def prefer_digits(module, args, out):  # noqa: ANN001, ANN202
        out.logits.add_(bias)

    model.register_forward_hook(prefer_digits)
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
    # a number past parse_answer's length limits is admitted by neither (digit bounds: the next test)
    for q, pattern, text in [(NUM, num, "1" * 33), (SPAN, span, "1" * 20 + " " + "2" * 20)]:
        assert not regex.fullmatch(pattern, text)
        with pytest.raises(PlanFormatError):
            parse_answer(text, q)


def test_written_numbers_are_bounded_and_parse():
    """A number the pattern admits has at most INT_DIGITS integer and FRAC_DIGITS decimal digits,
    and parse_answer adopts every one of them (a span: when its start is not after its end); a
    longer number is not admitted, though parse_answer still takes it from free text (answers
    without the constraint) up to its length limits."""
    num, span = answer_pattern(NUM, {}), answer_pattern(SPAN, {})
    shapes = [d * i + ("." + d * f if f else "") for d in "09" for i in range(1, INT_DIGITS + 1)
              for f in range(FRAC_DIGITS + 1)]
    for n in shapes:
        for text in (n, "-" + n):
            assert regex.fullmatch(num, text)
            parse_answer(text, NUM)
    for start in (n for n in shapes if n[0] == "0"):
        for end in (n for n in shapes if n[0] == "9"):
            assert regex.fullmatch(span, f"{start} {end}")
            parse_answer(f"{start} {end}", SPAN)
    assert INT_DIGITS >= len("14400")  # seconds of the longest accepted video (video.max_duration, 4 h)
    over = ["1" * (INT_DIGITS + 1), "1." + "2" * (FRAC_DIGITS + 1)]
    assert not any(regex.fullmatch(num, n) or regex.fullmatch(num, "-" + n) for n in over)
    assert not any(regex.fullmatch(span, f"{a} {b}") for a in over for b in ["1", *over])
    assert not any(regex.fullmatch(span, f"1 {b}") for b in over)
    parse_answer(over[0], NUM)  # free text keeps them


def _longest_start(pattern: str, alphabet: str) -> int:
    """The longest text over ``alphabet`` that starts a match of ``pattern`` without being one
    (exhaustive, over texts of up to 40 characters: longer ones the pattern must not admit)."""
    longest, frontier = 0, [""]
    for _ in range(40):
        frontier = [t + ch for t in frontier for ch in alphabet if regex.fullmatch(pattern, t + ch, partial=True)]
        longest = max([longest, *(len(t) for t in frontier if not regex.fullmatch(pattern, t))])
    assert not frontier, f"{pattern!r} admits texts of more than 40 characters"
    return longest


def test_answer_budget_ends_every_constrained_answer():
    """answer_budget is one more than the longest text that starts an answer without being one (so
    once that many tokens of at least one character are written, the answer is complete); every
    digit is alike to the value patterns, so "0" stands for all of them. The default budget fits."""
    for q in (MC, NUM, SPAN):
        assert answer_budget(q, {}) == _longest_start(answer_pattern(q, {}), "0A.- ") + 1
    assert (answer_budget(MC, {}), answer_budget(NUM, {}), answer_budget(SPAN, {})) == (1, 8, 16)
    assert answer_budget(SPAN, {}) <= CPPConfig().answer_tokens
    assert answer_budget(MC, CITED) == len("a0.1") and answer_budget(NUM, {"a10.12": "3"}) == 8
    assert answer_budget(MC, {"a10.12": "E"}) == 1  # not citable: E is no option of MC
    assert answer_budget(OPEN, CITED) is None


@pytest.mark.parametrize("question", [NUM, SPAN])
def test_a_model_that_keeps_writing_digits_still_ends_a_parseable_answer(digit_engine, question):
    """Under the answer pattern and the default budget the digit-loving model writes numbers as long
    as the bounds allow, and the answer still ends as a complete match that parse_answer adopts.
    (Unbounded, it wrote digits of one number until the budget cut it off: unparseable.)"""
    pattern, budget = answer_pattern(question, {}), CPPConfig().answer_tokens
    prompt = f"#answer\nQ: {question.question}\nAnswer:\n"
    for temperature, seed in [(0.0, 0), (1.0, 0), (1.0, 1), (1.0, 2)]:
        c = digit_engine.generate([prompt], SamplingSettings(temperature=temperature, max_new_tokens=budget,
                                                              seed=seed, pattern=pattern))[0]
        assert regex.fullmatch(pattern, c.text), c.text
        assert regex.search(rf"\d{{{INT_DIGITS}}}", c.text)  # the model did write digits up to the bound
        if question is NUM or temperature == 0:
            parse_answer(c.text, question)
        else:  # sampled digits may put the start after the end, which a pattern cannot refuse
            assert SPAN_RE.match(c.text)


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


@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_allowed_tokens_far_below_the_best_are_still_sampled(engine, temperature):
    """A model sure of a forbidden token (a logit gap of 200: the allowed tokens' float32
    probabilities round to zero) still gets an allowed token, drawn by the allowed tokens' own
    logits, not a ConstraintError: the constraint must never fail where a match is reachable."""
    con = PatternConstraint("a2\\.3|B", engine.tokenizer, engine.eos_id)
    vocab = len(engine.tokenizer)
    allowed = [t for t in range(vocab) if con.allows([], t)]
    logits = torch.zeros(vocab)
    logits[[t for t in range(vocab) if t not in allowed][0]] = 200.0
    gen = torch.Generator().manual_seed(0)
    picks = {con.choose(logits, [], temperature, 1.0, gen) for _ in range(20)}
    assert picks and picks <= set(allowed)
    favourite = allowed[0]
    logits[favourite] = 30.0  # among the allowed, their own logits decide
    assert {con.choose(logits, [], temperature, 1.0, gen) for _ in range(5)} == {favourite}
