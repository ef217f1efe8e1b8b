"""The plan language: strict parsing, references, prompt budgets; the parser is fuzzed."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m1.schema import Question, TaskType, ToolErrorKind, ToolResult, ToolSpec
from m1.team.answers import parse_answer
from m1.team.plan import (
    Evidence,
    FormatErrorKind,
    Plan,
    PlanFormatError,
    PlanStep,
    PromptLimits,
    PromptTooLongError,
    Revision,
    UnresolvedRefError,
    byte_counter,
    clip,
    compose_answer_prompt,
    compose_revision_prompt,
    parse_plan,
    parse_revision,
    render_answer_prompt,
    render_plan_prompt,
    render_tool_line,
    resolve_refs,
    try_parse_plan,
)

SEG = {"start": {"type": "number", "minimum": 0}, "end": {"type": "number", "minimum": 0}}
CAT = [
    ToolSpec(
        name="global_sampling",
        description="Uniform frames.",
        args_schema={
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 64}},
            "required": ["n"],
        },
    ),
    ToolSpec(
        name="fine_browser",
        description="Dense look at a segment.",
        args_schema={"type": "object", "properties": SEG, "required": ["start", "end"]},
    ),
    ToolSpec(
        name="video_retrieval",
        description="Segments matching a query.",
        args_schema={"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    ),
]
MC = Question(
    qid="1",
    video="v.mp4",
    question="How many red circles?",
    options=["1", "2", "3", "4"],
    task_type=TaskType.MULTIPLE_CHOICE,
)


def test_parse_plan_with_reference_and_round_trip():
    text = '1. video_retrieval {"query": "red circle"}\n2. fine_browser {"start":"$1.start","end":"$1.end"}\n'
    plan = parse_plan(text, CAT)
    assert [s.tool for s in plan.steps] == ["video_retrieval", "fine_browser"]
    assert plan.steps[1].args == {"start": "$1.start", "end": "$1.end"}
    assert plan.render() == (
        '1. video_retrieval {"query":"red circle"}\n2. fine_browser {"start":"$1.start","end":"$1.end"}'
    )
    assert parse_plan(plan.render(), CAT) == plan


@pytest.mark.parametrize(
    "text,kind,line",
    [
        ("", FormatErrorKind.EMPTY, 0),
        ("   \n ", FormatErrorKind.EMPTY, 0),
        ("global_sampling {}", FormatErrorKind.BAD_LINE, 1),
        ('1. global_sampling {"n":8}\n\n2. global_sampling {"n":8}', FormatErrorKind.BAD_LINE, 2),
        ('2. global_sampling {"n":8}', FormatErrorKind.BAD_NUMBERING, 1),
        ('1. global_sampling {"n":8}\n3. global_sampling {"n":8}', FormatErrorKind.BAD_NUMBERING, 2),
        ('1. zoom {"n":8}', FormatErrorKind.UNKNOWN_TOOL, 1),
        ("1. global_sampling {n:8}", FormatErrorKind.BAD_JSON, 1),
        ('1. global_sampling {"n":NaN}', FormatErrorKind.BAD_JSON, 1),
        ("1. global_sampling {}", FormatErrorKind.BAD_ARGS, 1),
        ('1. global_sampling {"n":"8"}', FormatErrorKind.BAD_ARGS, 1),
        ('1. global_sampling {"n":true}', FormatErrorKind.BAD_ARGS, 1),
        ('1. global_sampling {"n":0}', FormatErrorKind.BAD_ARGS, 1),
        ('1. global_sampling {"n":8,"fps":2}', FormatErrorKind.BAD_ARGS, 1),
        ('1. fine_browser {"start":"$1.start","end":9}', FormatErrorKind.DANGLING_REF, 1),
        ('1. global_sampling {"n":4}\n2. fine_browser {"start":"$2.start","end":9}', FormatErrorKind.DANGLING_REF, 2),
        ('1. global_sampling {"n":4}\n2. fine_browser {"start":"$x","end":9}', FormatErrorKind.BAD_ARGS, 2),
        ("\n".join(f'{i}. global_sampling {{"n":4}}' for i in range(1, 12)), FormatErrorKind.TOO_MANY_STEPS, 0),
        ("1. global_sampling " + "[" * 5000 + "]" * 5000, FormatErrorKind.BAD_LINE, 1),
    ],
)
def test_parse_plan_errors(text, kind, line):
    with pytest.raises(PlanFormatError) as ei:
        parse_plan(text, CAT)
    assert ei.value.kind == kind
    assert ei.value.line == line
    err = try_parse_plan(text, CAT)
    assert isinstance(err, PlanFormatError) and err.kind == kind


def test_dollar_strings_that_are_not_references_are_plain_values():
    plan = parse_plan('1. video_retrieval {"query":"$5 bill"}', CAT)
    assert plan.steps[0].args == {"query": "$5 bill"}
    assert resolve_refs(plan.steps[0].args, {}) == {"query": "$5 bill"}


def test_deep_json_is_a_format_error_not_a_crash():
    text = '1. global_sampling {"n":' + "[" * 400 + "]" * 400 + "}"
    with pytest.raises(PlanFormatError) as ei:
        parse_plan(text, CAT)
    assert ei.value.kind == FormatErrorKind.BAD_ARGS  # parsed, but a list is not an integer


def test_format_error_pickles():
    err = pickle.loads(pickle.dumps(PlanFormatError(FormatErrorKind.BAD_JSON, "x", 3)))
    assert (err.kind, err.detail, err.line) == (FormatErrorKind.BAD_JSON, "x", 3)
    ref = pickle.loads(pickle.dumps(UnresolvedRefError("gone", 2)))
    assert isinstance(ref, UnresolvedRefError) and ref.kind == FormatErrorKind.DANGLING_REF


def test_parse_revision():
    assert parse_revision("KEEP\n", CAT, next_step=3) == Revision(action="keep")
    assert parse_revision(" DONE ", CAT, next_step=3) == Revision(action="replace", steps=[])
    rev = parse_revision('3. fine_browser {"start":"$2.start","end":20}', CAT, next_step=3)
    assert rev.action == "replace" and rev.steps[0].index == 3
    assert parse_revision(rev.render(), CAT, next_step=3) == rev
    with pytest.raises(PlanFormatError) as ei:
        parse_revision('1. global_sampling {"n":8}', CAT, next_step=3)
    assert ei.value.kind == FormatErrorKind.BAD_NUMBERING
    with pytest.raises(PlanFormatError):
        parse_revision("KEEP\nDONE", CAT, next_step=2)


def test_parse_answer_by_task_type():
    assert parse_answer("C\n", MC).value == "C"
    for bad in ("E", "c", "C.", "(C)", "C D", "C\nD"):
        with pytest.raises(PlanFormatError) as ei:
            parse_answer(bad, MC)
        assert ei.value.kind == FormatErrorKind.BAD_ANSWER
    num = MC.model_copy(update={"task_type": TaskType.NUMERIC, "options": []})
    assert parse_answer("3.50", num).value == "3.5"
    assert parse_answer("-2", num).value == "-2"
    with pytest.raises(PlanFormatError):
        parse_answer("three", num)
    gr = MC.model_copy(update={"task_type": TaskType.GROUNDING, "options": []})
    assert parse_answer("12.5 20", gr).value == "12.5 20"
    for bad in ("20 12.5", "12.5-20", "12.5"):
        with pytest.raises(PlanFormatError):
            parse_answer(bad, gr)
    # citations: an evidence label adopts that line's candidate, parsed by the same rules
    cited = {"a0.1": "3.20 5.00", "a2.3": "7", "a1.1": "banana"}
    assert parse_answer("a0.1", gr, cited).value == "3.2 5"
    assert parse_answer("[a2.3]", num, cited).value == "7"
    for bad, match in (("a9.9", "not an evidence line"), ("a1.1", "not a valid answer")):
        with pytest.raises(PlanFormatError, match=match) as ei:
            parse_answer(bad, num, cited)
        assert ei.value.kind == FormatErrorKind.BAD_ANSWER
    with pytest.raises(PlanFormatError):
        parse_answer("a0.1", gr)  # no evidence given: a label is not a span
    assert parse_answer("a0.1", MC, {"a0.1": "B"}).value == "B"  # a letter can be cited too
    with pytest.raises(PlanFormatError):
        parse_answer("a0.1", MC, {"a0.1": "3.20 5.00"})
    op = MC.model_copy(update={"task_type": TaskType.OPEN_ENDED, "options": []})
    assert parse_answer("a1.1", op, cited).value == "banana"
    assert parse_answer("a7.7", op, cited).value == "a7.7"  # names no line: plain text
    assert parse_answer("a red ball", op).value == "a red ball"
    # a structured list (M1-Synth's open-ended family) has no item that is a label: a label of an unseen
    # line, or a plan fragment that starts with one, is no list (seen from students without the memory)
    lst = op.model_copy(update={"meta": {"open_metric": "set"}})
    assert parse_answer("a1.1", lst, cited).value == "banana"  # a shown line is cited as before
    for bad, what in (("a7.7", "label"), ("a1", "label"), ("a2.1.2", "label"), ("[a3] red circle", "label"),
                      ('a1_browser {"step":1', "label"), ('fine_browser {"step":1', "plan"), ('.step":3', "plan"),
                      ("2", "without a letter"), ("1.1", "without a letter"), ("red circle, 2", "without a letter")):
        assert parse_answer(bad, op, cited).value == bad  # free text keeps it
        with pytest.raises(PlanFormatError, match=what) as ei:
            parse_answer(bad, lst, cited)
        assert ei.value.kind == FormatErrorKind.BAD_ANSWER
    # what tools read, misread ones too (look-alike digits), is a list
    for good in ("a red circle, WANDER", "7E4GUP, PRPGEL, FENCE", "moves up-left, stops"):
        assert parse_answer(good, lst).value == good


def test_resolve_refs():
    prev = {
        1: ToolResult(tool="video_retrieval", payload={"start": 10.0, "end": 20.0}),
        2: ToolResult(tool="grounding", candidate="31.5 40", confidence=0.8),
        3: ToolResult(tool="fine_browser", error="decode failed", error_kind=ToolErrorKind.VIDEO_ERROR),
    }
    args = {"start": "$1.start", "end": "$2.end", "n": 4, "c": "$2.confidence", "note": "plain"}
    assert resolve_refs(args, prev) == {"start": 10.0, "end": 40.0, "n": 4, "c": 0.8, "note": "plain"}
    for bad in ({"start": "$4.start"}, {"start": "$3.start"}, {"start": "$1.speed"}):
        with pytest.raises(UnresolvedRefError):
            resolve_refs(bad, prev)


def test_tool_line_is_compact():
    assert render_tool_line(CAT[1]) == "fine_browser(start:num, end:num) Dense look at a segment."


def test_clip_respects_budget_and_marks_cut():
    text = "word " * 100
    out = clip(text, 20, byte_counter)
    assert byte_counter(out) <= 20 and out.endswith("…")
    assert clip("short", 20, byte_counter) == "short"


def _evidence(n: int, size: int = 30) -> list[Evidence]:
    return [Evidence(agent=f"a{i % 4}", step=i, tool="fine_browser", text=f"e{i} " + "x" * size) for i in range(n)]


def test_plan_prompt_lists_question_options_and_tools():
    p = render_plan_prompt(MC, CAT, PromptLimits(max_context=512, max_new_tokens=64))
    assert p.startswith("#plan\nQ: How many red circles?\nA. 1\nB. 2\nC. 3\nD. 4\n")
    assert p.endswith("Plan:\n")
    assert all(render_tool_line(t) in p for t in CAT)


def test_answer_prompt_truncates_oldest_first_within_budget():
    limits = PromptLimits(max_context=400, max_new_tokens=50, entry_tokens=40)
    p = render_answer_prompt(MC, _evidence(40), limits)
    assert byte_counter(p) <= limits.budget
    assert "[a3.39] fine_browser: e39" in p  # newest kept
    assert "[a0.0] " not in p  # oldest dropped
    assert "earlier omitted)" in p
    kept = [ln for ln in p.split("\n") if ln.startswith("[")]
    assert kept == sorted(kept, key=lambda ln: int(ln.split("]")[0].split(".")[1]))  # chronological
    assert all(byte_counter(ln) <= 40 for ln in kept) and kept[-1].endswith("…")
    assert p.endswith("Answer:\n")


def test_revision_prompt_shows_plan_and_results_and_next_step():
    plan = Plan(
        steps=[
            PlanStep(index=1, tool="global_sampling", args={"n": 8}),
            PlanStep(index=2, tool="fine_browser", args={"start": 0, "end": 5}),
        ]
    )
    done = [Evidence(agent="me", step=1, tool="global_sampling", text="8 frames: red circle at 3s")]
    mem = [Evidence(agent="a2", step=1, tool="fine_browser", text="candidate=B conf=0.92")]
    p = compose_revision_prompt(
        MC, CAT, plan, done, mem, PromptLimits(max_context=512, max_new_tokens=64, entry_tokens=96)
    ).text
    assert plan.render() in p
    assert p.index("[a2.1]") < p.index("[me.1]")
    assert p.endswith(
        "Results:\n[a2.1] fine_browser: candidate=B conf=0.92\n[me.1] global_sampling: "
        "8 frames: red circle at 3s\nNext: 2\n"
    )


def test_evidence_with_a_candidate_renders_the_mark_first():
    ev = Evidence(agent="a2", step=1, tool="fine_browser", text="saw  green\nthings", candidate="B", confidence=0.916)
    as_text = Evidence(agent="a2", step=1, tool="fine_browser", text="candidate=B conf=0.92; saw  green\nthings")
    assert ev.render() == as_text.render() == "[a2.1] fine_browser: candidate=B conf=0.92; saw green things"
    assert ev.label == "a2.1" and ev.shown_confidence == 0.92
    bare = Evidence(agent="a0", step=3, tool="grounding", text="", candidate="3 5")
    assert bare.render() == "[a0.3] grounding: candidate=3 5;" and bare.shown_confidence == 0.0


def test_answer_prompt_lists_the_evidence_it_shows():
    """Kept lines, oldest first, as the prompt shows them: dropped lines are absent, a line cut
    inside its candidate mark shows no candidate, one cut after it keeps its candidate."""
    old = [Evidence(agent="a1", step=i, tool="fine_browser", text="x" * 200) for i in range(1, 30)]
    long_cand = Evidence(agent="a0", step=1, tool="spatial", text="y", candidate="Z" * 80, confidence=0.5)
    cut_after = Evidence(agent="a0", step=2, tool="spatial", text="w" * 200, candidate="C", confidence=0.9)
    whole = Evidence(agent="a0", step=3, tool="spatial", text="short", candidate="D", confidence=0.4)
    limits = PromptLimits(max_context=600, max_new_tokens=50, entry_tokens=60)
    prompt = compose_answer_prompt(MC, [*old, long_cand, cut_after, whole], limits)
    assert prompt.text == render_answer_prompt(MC, [*old, long_cand, cut_after, whole], limits)
    shown = prompt.evidence
    assert [e.label for e in shown][-3:] == ["a0.1", "a0.2", "a0.3"] and len(shown) < 32
    assert all(f"[{e.label}] " in prompt.text for e in shown) and "earlier omitted" in prompt.text
    assert (shown[-3].candidate, shown[-3].confidence, shown[-3].clipped) == (None, None, True)
    assert (shown[-2].candidate, shown[-2].clipped) == ("C", True)
    assert shown[-1] == whole  # shown whole: unchanged
    assert all(e.clipped and e.candidate is None for e in shown[:-3])


def test_prompt_too_long_is_a_typed_error():
    big = [ToolSpec(name=f"t{i}", description="d " * 50, args_schema={}) for i in range(20)]
    with pytest.raises(PromptTooLongError):
        render_plan_prompt(MC, big, PromptLimits(max_context=256, max_new_tokens=64))


# ------------------------------------------------------------------------------ fuzzing

_fragments = st.sampled_from(
    [
        "1. ",
        "2. ",
        "global_sampling",
        "fine_browser",
        " ",
        "{",
        "}",
        '"n"',
        ":",
        "8",
        '"$1.start"',
        "\n",
        "KEEP",
        "DONE",
        "[",
        "]",
        ",",
        '"start"',
        "-1",
        "1e400",
        "NaN",
        "\x00",
        "é",
        "\t",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.lists(_fragments, max_size=40).map("".join)))
def test_fuzz_parsers_raise_only_their_own_error(text):
    for fn in (
        lambda t: parse_plan(t, CAT),
        lambda t: parse_revision(t, CAT, next_step=2),
        lambda t: parse_answer(t, MC),
    ):
        try:
            fn(text)
        except PlanFormatError:
            pass


REF = re.compile(r"^\$\d{1,3}\.[a-z][a-z0-9_]*$")  # strings of this form are references, not values
_args = {
    "global_sampling": st.fixed_dictionaries({"n": st.integers(1, 64)}),
    "fine_browser": st.fixed_dictionaries({"start": st.floats(0, 1e4), "end": st.floats(0, 1e4)}),
    "video_retrieval": st.fixed_dictionaries({"query": st.text(max_size=20).filter(lambda s: not REF.match(s))}),
}


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(_args)), min_size=1, max_size=6).flatmap(
        lambda tools: st.tuples(*[_args[t].map(lambda a, t=t: (t, a)) for t in tools])
    )
)
def test_fuzz_render_parse_round_trip(pairs):
    plan = Plan(steps=[PlanStep(index=i + 1, tool=t, args=a) for i, (t, a) in enumerate(pairs)])
    assert parse_plan(plan.render(), CAT) == plan


def test_pydantic_style_optional_schemas():
    spec = ToolSpec(
        name="rough_browser",
        description="Skim.",
        args_schema={
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "fps": {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 5}, {"type": "null"}]},
            },
        },
    )
    assert render_tool_line(spec) == "rough_browser(fps?:num) Skim."
    assert parse_plan('1. rough_browser {"fps":null}', [spec]).steps[0].args == {"fps": None}
    assert parse_plan('1. rough_browser {"fps":2.5}', [spec]).steps[0].args == {"fps": 2.5}
    for bad in ('{"fps":0}', '{"fps":6}', '{"fps":"x"}'):
        with pytest.raises(PlanFormatError) as ei:
            parse_plan(f"1. rough_browser {bad}", [spec])
        assert ei.value.kind == FormatErrorKind.BAD_ARGS


def test_corpus_plans_parse_against_the_project_catalogue():
    from m1.models import default_catalogue, plan_corpus  # the real m1.tools catalogue once it is importable

    cat = default_catalogue()
    plans = [t for t in plan_corpus(cat, n=30, seed=1) if t[:3] == "1. "]
    assert len(plans) == 30
    for text in plans:
        assert parse_plan(text, cat).render() == text
