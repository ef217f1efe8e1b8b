"""The paper's filter and the example extraction on hand-made CPP traces (scripted teacher
agents, a deterministic tool back-end, no models, no video); the oracle teacher's behaviour."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from m1.config import CPPConfig, SFTConfig
from m1.engines.base import SamplingSettings
from m1.schema import Family, Question, TaskType, ToolResult
from m1.team.cpp import GenRequest, Phase, run_episode
from m1.team.plan import Evidence, PlanStep, PromptLimits, parse_plan, parse_revision
from m1.team.topology import complete_topology
from m1.tools.registry import catalogue
from m1.train.annotation import (
    DatasetError,
    examples_from_episode,
    judge_trajectory,
    read_dataset,
    write_dataset,
    yield_by_family,
)
from m1.train.teachers import (
    QUESTION_AWARE,
    OracleTeacher,
    VerifyingTeacher,
    best_candidate,
    best_citation,
    verified_evidence,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, ScriptedTeam, phase  # noqa: E402

MC = Question(qid="q1", video="/v.mp4", question="What colour?", options=["red", "green", "blue", "cyan"],
              answer="B", task_type=TaskType.MULTIPLE_CHOICE, family=Family.LONG_VIDEO)
GROUND = Question(qid="g1", video="/v.mp4", question="the red circle moves left.", answer="3 5",
                  task_type=TaskType.GROUNDING, family=Family.GROUNDING)


class Tools:
    """fine_browser answers B (conf 0.9), grounding 3.2-5 (conf 0.8), global_sampling has no candidate."""

    def run(self, episode_id, question, calls):
        out = []
        for c in calls:
            if c.tool == "fine_browser":
                out.append(ToolResult(tool=c.tool, args=c.args, text="saw green", candidate="B", confidence=0.9))
            elif c.tool == "grounding":
                out.append(ToolResult(tool=c.tool, args=c.args, text="span", candidate="3.2 5", confidence=0.8))
            else:
                out.append(ToolResult(tool=c.tool, args=c.args, text="frames: green things"))
        return out

    def end(self, episode_id):
        pass


def script(plan, answer, revision="KEEP"):
    return lambda p: {"#plan": plan, "#revise": revision, "#answer": answer}[phase(p)]


def episode(q, scripts, cfg=None):
    return run_episode(q, ScriptedTeam(scripts), Tools(), complete_topology(len(scripts)), CATALOGUE,
                       cfg or CPPConfig(), seed=0)


def test_filter_keeps_single_pass_plans_whose_own_results_are_right():
    def reviser(p):  # runs global_sampling, then replaces the rest of its plan
        return {"#plan": '1. global_sampling {"n":8}\n2. global_sampling {"n":16}',
                "#revise": '2. fine_browser {"start":0,"end":9}' if "Next: 2" in p else "KEEP",
                "#answer": "B"}[phase(p)]

    ep = episode(MC, [
        script('1. global_sampling {"n":8}\n2. fine_browser {"start":1,"end":2}', "B"),  # good
        script('1. global_sampling {"n":8}', "B"),  # right answer, read from memory: weak plan
        reviser,  # right, but revised
        script("1. look closely", "B"),  # unparseable plan
        script('1. fine_browser {"start":1,"end":2}', "C"),  # good plan, wrong written answer
    ])
    cfg = SFTConfig(keep_fraction=1.0)
    v = [judge_trajectory(ep, a, cfg) for a in ep.agents]
    assert [x.kept for x in v] == [True, False, False, False, True]
    assert [x.own_correct for x in v] == [True, False, True, False, True]
    assert [x.single_pass for x in v] == [True, True, False, True, True]
    assert [x.answer_correct for x in v] == [True, True, True, True, False]
    assert v[3].plan_parsed is False
    ex, _ = examples_from_episode(ep, cfg, "scripted")
    kinds = {(e.agent, e.kind) for e in ex}
    assert ("agent0", "plan") in kinds and ("agent0", "revision") in kinds and ("agent0", "answer") in kinds
    assert ("agent1", "plan") not in kinds and ("agent1", "answer") in kinds  # the answer was still right
    assert ("agent2", "plan") not in kinds and ("agent2", "revision") in kinds  # learns the revision
    assert ("agent3", "plan") not in kinds
    assert ("agent4", "plan") in kinds and ("agent4", "answer") not in kinds
    rev = [e for e in ex if e.agent == "agent2" and e.kind == "revision"]
    assert rev[0].target == '2. fine_browser {"start":0,"end":9}' and rev[0].prompt.startswith("#revise")
    plan = next(e for e in ex if e.agent == "agent0" and e.kind == "plan")
    assert plan.target == '1. global_sampling {"n":8}\n2. fine_browser {"start":1,"end":2}'
    assert plan.qid == "q1" and plan.family == "long_video" and plan.teacher == "scripted"
    strict = SFTConfig(keep_fraction=1.0, revision_examples=False)
    ex2, _ = examples_from_episode(ep, strict, "scripted")
    assert ("agent2", "revision") not in {(e.agent, e.kind) for e in ex2}
    loose = SFTConfig(single_pass_only=False)
    assert judge_trajectory(ep, ep.agents[2], loose).kept


def test_keep_revisions_are_subsampled_but_done_is_kept():
    ep = episode(MC, [script('1. fine_browser {"start":1,"end":2}\n2. global_sampling {"n":4}', "B",
                             revision="KEEP")] * 3)
    none = examples_from_episode(ep, SFTConfig(keep_fraction=0.0), "t")[0]
    every = examples_from_episode(ep, SFTConfig(keep_fraction=1.0), "t")[0]
    assert not [e for e in none if e.kind == "revision"]
    assert len([e for e in every if e.kind == "revision"]) == 6  # 3 agents x 2 rounds


def test_grounding_correctness_is_iou_against_min_score():
    ep = episode(GROUND, [script('1. grounding {"query":"x"}', "3.2 5"), script('1. grounding {"query":"x"}', "9 12")])
    v = [judge_trajectory(ep, a, SFTConfig()) for a in ep.agents]
    assert [x.own_correct for x in v] == [True, True]  # IoU(3.2-5, 3-5) = 0.9
    assert [x.answer_correct for x in v] == [True, False]
    assert not judge_trajectory(ep, ep.agents[0], SFTConfig(min_score=0.95)).kept


def test_yield_by_family_counts_reasons():
    ep1 = episode(MC, [script('1. fine_browser {"start":1,"end":2}', "B"), script('1. global_sampling {"n":8}', "B")])
    ep2 = episode(GROUND, [script('1. grounding {"query":"x"}', "3 5"), script("nonsense", "3 5")])
    verdicts = [judge_trajectory(ep, a, SFTConfig()) for ep in (ep1, ep2) for a in ep.agents]
    y = yield_by_family(verdicts)
    assert y["long_video"] == {"trajectories": 2, "kept": 1, "yield": 0.5, "unparsed": 0, "wrong": 1, "revised": 0,
                               "answered": 2}
    assert y["grounding"]["unparsed"] == 1 and y["all"]["kept"] == 2 and y["all"]["trajectories"] == 4


def test_dataset_round_trip_and_errors(tmp_path):
    ep = episode(MC, [script('1. fine_browser {"start":1,"end":2}', "B")])
    ex, _ = examples_from_episode(ep, SFTConfig(keep_fraction=1.0), "t")
    path = write_dataset(tmp_path, ex, {"teacher": "t"})
    assert read_dataset(tmp_path) == ex == read_dataset(path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["examples"] == len(ex) and manifest["counts"]["agent0/plan"] == 1
    path.write_text(path.read_text() + '{"agent": 3}\n')
    with pytest.raises(DatasetError, match=r"examples.jsonl:\d+"):
        read_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no SFT dataset"):
        read_dataset(tmp_path / "missing")


# ------------------------------------------------------------------------------- the oracle

QS = [Question(qid=f"{fam.value}-{i}", video="/v.mp4", question="How many red squares?", options=["1", "2"],
               answer="A", task_type=TaskType.MULTIPLE_CHOICE, family=fam) for fam in Family for i in range(12)]


def request(phase, q, agent=0, evidence=(), plan=(), label=None, prompt=""):
    """A generation request as the loop makes it; the prompt text is irrelevant to the oracle."""
    return GenRequest(agent, prompt, SamplingSettings(max_new_tokens=8), phase, q, 0, label or f"a{agent}",
                      tuple(evidence), tuple(plan))


def test_oracle_plans_parse_and_are_diverse():
    teacher = OracleTeacher(SFTConfig(weak_plan_prob=0.2, redundant_step_prob=0.3), seed=3)
    cat = catalogue()
    plans: dict[Family, set[str]] = {}
    for q in QS:
        for agent in range(4):
            text = teacher.write(request(Phase.PLAN, q, agent))
            parse_plan(text, cat)  # every oracle plan is valid in the real catalogue
            plans.setdefault(q.family, set()).add(text)
    assert all(len(v) >= 4 for v in plans.values())
    again = OracleTeacher(teacher.cfg, seed=3).write(request(Phase.PLAN, QS[0], 1, prompt="other text"))
    assert teacher.write(request(Phase.PLAN, QS[0], 1)) == again
    main = {Family.SPATIAL: "spatial", Family.GROUNDING: "grounding", Family.LONG_VIDEO: "fine_browser",
            Family.REASONING: "fine_browser", Family.OPEN_ENDED: "fine_browser"}
    for fam, texts in plans.items():  # most plans use the solver's question-aware tool
        assert sum(main[fam] in t for t in texts) >= len(texts) / 2


def test_oracle_answers_and_revisions_read_the_request_evidence():
    shown = [Evidence(agent="a1", step=1, tool="fine_browser", text="saw", candidate="C", confidence=0.7),
             Evidence(agent="a0", step=1, tool="spatial", text="near", candidate="B", confidence=0.95),
             Evidence(agent="a0", step=2, tool="rough_browser", text="shots")]
    answer = request(Phase.ANSWER, MC, evidence=shown, prompt="#plan\n(the prompt text is not read)")
    assert best_candidate(shown) == "B" and OracleTeacher().write(answer) == "a0.1"
    assert OracleTeacher().write(request(Phase.ANSWER, MC)) == "A"  # no candidate shown: the fallback
    span = [Evidence(agent="a0", step=1, tool="grounding", text="happens", candidate="3.20 5.00", confidence=0.8)]
    assert best_candidate(span) == "3.20 5.00"
    # the oracle cites the best line (its label); the loop resolves the citation to the candidate
    assert OracleTeacher().write(request(Phase.ANSWER, GROUND, evidence=span)) == "a0.1"
    copy = OracleTeacher(SFTConfig(cite_answers=False))
    assert copy.write(request(Phase.ANSWER, GROUND, evidence=span)) == "3.20 5.00"
    assert copy.write(answer) == "B"
    # confidence as the line shows it (two places): 0.951 and 0.954 tie, the newer line wins
    two = [*span, Evidence(agent="a2", step=3, tool="grounding", text="x", candidate="1 2", confidence=0.954),
           Evidence(agent="a1", step=1, tool="grounding", text="y", candidate="2 3", confidence=0.951)]
    assert best_citation(two) == "a1.1" and best_citation([]) is None
    # a line the prompt cut inside its candidate mark shows none: it is not cited
    cut = Evidence(agent="a3", step=1, tool="spatial", text="z", clipped=True)
    assert best_citation([*span, cut]) == "a0.1"
    left = (PlanStep(index=3, tool="rough_browser", args={}),)
    own = [Evidence(agent="a0", step=2, tool="fine_browser", text="saw", candidate="B", confidence=0.9)]
    assert OracleTeacher().write(request(Phase.REVISION, MC, 0, own, left)) == "DONE"  # own, confident, steps left
    assert OracleTeacher().write(request(Phase.REVISION, MC, 1, own, left)) == "KEEP"  # someone else's result
    assert OracleTeacher().write(request(Phase.REVISION, MC, 0, own)) == "KEEP"  # no steps left to cut
    # own = the agent's citation label, not its position: a team run with pinned labels (team.use)
    assert OracleTeacher().write(request(Phase.REVISION, MC, 1, own, left, label="a0")) == "DONE"
    weak = [own[0].model_copy(update={"confidence": 0.3})]
    assert OracleTeacher().write(request(Phase.REVISION, MC, 0, weak, left)) == "KEEP"


def test_teachers_cite_open_ended_answers_unless_told_to_write_them():
    from m1.team.answers import parse_answer

    oe = Question(qid="o1", video="/v.mp4", question="Which objects are on screen at 3.0 s?",
                  answer="blue square, red circle", task_type=TaskType.OPEN_ENDED, family=Family.OPEN_ENDED,
                  category="objects_at", meta={"open_metric": "set"})
    lines = [Evidence(agent="a1", step=1, tool="spatial", text="at 3.0s", candidate="blue square", confidence=0.6),
             Evidence(agent="a0", step=2, tool="spatial", text="at 3.0s", candidate="blue square, red circle",
                      confidence=0.9)]
    for teacher in (OracleTeacher(), VerifyingTeacher()):
        cited = teacher.write(request(Phase.ANSWER, oe, evidence=lines))
        assert cited == "a0.2"  # a pointer, not a list copied token by token
        assert parse_answer(cited, oe, {e.label: e.candidate for e in lines}).value == "blue square, red circle"
    written = SFTConfig(cite_open_answers=False)
    for teacher in (OracleTeacher(written), VerifyingTeacher(written)):
        assert teacher.write(request(Phase.ANSWER, oe, evidence=lines)) == "blue square, red circle"
        assert teacher.write(request(Phase.ANSWER, MC, evidence=lines)) == "a0.2"  # other families still cite


def test_teacher_team_runs_the_cpp_loop_with_student_tokens():
    from m1.checkpoint import train_tokenizer
    from m1.train.teachers import TeacherTeam

    tok = train_tokenizer(["#plan Q: What colour? fine_browser global_sampling candidate=B KEEP"], vocab_size=300)
    team = TeacherTeam(OracleTeacher(SFTConfig(weak_plan_prob=0.0, redundant_step_prob=0.0)), ["a", "b"], tok,
                       [4096, 4096])
    ep = run_episode(MC, team, Tools(), complete_topology(2), catalogue(), CPPConfig(), seed=0)
    assert ep.final_answer == "B"
    assert (team.answers, team.blind_answers) == (2, 0)  # both answer prompts showed a candidate
    for a in ep.agents:
        assert a.turns[0].parsed is not None and a.revisions == 0
        for t in a.turns:
            assert t.completion_ids[-1] == tok.eos_token_id
            assert tok.decode(t.completion_ids[:-1]) == t.text
            assert t.prompt_ids == tok(t.prompt, add_special_tokens=False)["input_ids"]
    assert isinstance(team.limits(0, 16, 48), PromptLimits) and team.counter(0)("abc") >= 1


# --------------------------------------------------------------------- the verifying oracle


class NoisyTools(Tools):
    """fine_browser as a noisy tool: the default reading is confidently wrong (C, 0.95); readings at
    another scan step say B, each in its own words (independent readings)."""

    def run(self, episode_id, question, calls):
        out = super().run(episode_id, question, calls)
        for i, c in enumerate(calls):
            if c.tool == "fine_browser":
                step = c.args.get("step")
                cand, conf = ("C", 0.95) if step is None else ("B", 0.6)
                out[i] = ToolResult(tool=c.tool, args=c.args, text=f"read at step {step}", candidate=cand,
                                    confidence=conf)
        return out


def test_verifying_oracle_plans_read_at_the_agents_own_step():
    cfg = SFTConfig(weak_plan_prob=0.2, redundant_step_prob=0.3, read_steps=[2.5, 1.6])
    oracle, verify = OracleTeacher(cfg, seed=3), VerifyingTeacher(cfg, seed=3)
    assert [verify.reading_steps(k) for k in range(4)] == [[None, 2.5, 1.6], [2.5, 1.6, None], [1.6, None, 2.5],
                                                           [None, 2.5, 1.6]]
    cat = catalogue()
    for q in QS:
        for agent in range(3):
            mine, base = verify.choose_plan(q, agent), oracle.choose_plan(q, agent)
            assert [t for t, _ in mine] == [t for t, _ in base]  # the oracle's plan, only the step added
            for (tool, args), (_, a0) in zip(mine, base, strict=True):
                step = verify.reading_steps(agent)[0]
                assert args == (a0 | {"step": step} if tool in QUESTION_AWARE and step else a0)
            parse_plan(verify.write(request(Phase.PLAN, q, agent)), cat)  # valid in the real catalogue


def test_verifying_oracle_revises_by_agreement_not_confidence():
    verify = VerifyingTeacher(SFTConfig(read_steps=[2.5, 1.6]))
    lone = [Evidence(agent="a0", step=1, tool="fine_browser", text="x", candidate="C", confidence=0.95)]
    # its plan done, one reading: re-read at its next step, numbered where the plan goes on
    rev = verify.write(replace(request(Phase.REVISION, MC, 0, lone), next_step=2))
    assert rev == '2. fine_browser {"step":2.5}'
    assert parse_revision(rev, catalogue(), 2).steps[0].args == {"step": 2.5}
    # the same reading served twice (same tool, candidate and text) is not a second witness
    dup = [*lone, lone[0].model_copy(update={"agent": "a1"})]
    assert verify.write(replace(request(Phase.REVISION, MC, 0, dup), next_step=2)).endswith('{"step":2.5}')
    # a teammate's disagreeing reading: still re-read; an agreeing one: stop (KEEP with nothing left)
    other = Evidence(agent="a1", step=1, tool="fine_browser", text="y", candidate="B", confidence=0.6)
    assert "fine_browser" in verify.write(replace(request(Phase.REVISION, MC, 0, [*lone, other]), next_step=2))
    agree = other.model_copy(update={"candidate": "C"})
    assert verify.write(request(Phase.REVISION, MC, 0, [*lone, agree])) == "KEEP"
    left = (PlanStep(index=3, tool="rough_browser", args={}),)
    assert verify.write(request(Phase.REVISION, MC, 0, [*lone, agree], left)) == "DONE"  # own reading agrees
    assert verify.write(request(Phase.REVISION, MC, 0, [*lone, other], left)) == "KEEP"  # confident, unconfirmed
    # at most MAX_READINGS own readings, then stop; a spatial question re-reads with the spatial tool
    three = [Evidence(agent="a0", step=i, tool="fine_browser", text=f"r{i}", candidate=c, confidence=0.5)
             for i, c in ((1, "A"), (2, "B"), (3, "C"))]
    assert verify.write(replace(request(Phase.REVISION, MC, 0, three), next_step=4)) == "KEEP"
    spatial = MC.model_copy(update={"family": Family.SPATIAL})
    assert verify.write(replace(request(Phase.REVISION, spatial, 1, []), next_step=2)) == '2. spatial {"step":2.5}'


def test_verifying_oracle_answers_with_agreeing_readings():
    verify = VerifyingTeacher()
    lines = [Evidence(agent="a0", step=1, tool="fine_browser", text="x", candidate="C", confidence=0.95),
             Evidence(agent="a1", step=1, tool="fine_browser", text="y", candidate="B", confidence=0.6),
             Evidence(agent="a1", step=2, tool="fine_browser", text="z", candidate="B", confidence=0.7)]
    assert verify.write(request(Phase.ANSWER, MC, evidence=lines)) == "a1.2"  # the pair, not the confident one
    assert OracleTeacher().write(request(Phase.ANSWER, MC, evidence=lines)) == "a0.1"
    spans = [Evidence(agent=f"a{i}", step=1, tool="grounding", text=f"s{i}", candidate=c, confidence=0.8)
             for i, c in enumerate(["1.00 3.00", "9.00 11.00", "4.00 6.00"])]
    assert verified_evidence(spans).label == "a2.1"  # no two agree: the median midpoint
    near = [*spans, Evidence(agent="a3", step=1, tool="grounding", text="s3", candidate="9.5 11.2", confidence=0.3)]
    assert verified_evidence(near).label == "a1.1"  # IoU >= 0.5 with a1's span: agreement
    assert VerifyingTeacher(SFTConfig(cite_answers=False)).write(request(Phase.ANSWER, MC, evidence=lines)) == "B"
    assert verify.write(request(Phase.ANSWER, MC)) == "A"  # nothing shown: the oracle's fallback


def test_verifying_team_cross_checks_where_the_oracle_trusts_one_reading():
    """The real CPP loop with teacher agents on a noisy fine_browser: the oracle team adopts the
    confident wrong default reading; the verifying team reads at other steps, re-reads where the
    readings disagree, and answers with the agreeing pair."""
    from m1.checkpoint import train_tokenizer
    from m1.train.teachers import TeacherTeam

    tok = train_tokenizer(["#plan Q: What colour? fine_browser step candidate=B KEEP"], vocab_size=300)
    cfg = SFTConfig(weak_plan_prob=0.0, redundant_step_prob=0.0, read_steps=[2.5, 1.6])
    finals = {}
    for teacher in (OracleTeacher(cfg), VerifyingTeacher(cfg)):
        team = TeacherTeam(teacher, ["a", "b"], tok, [4096, 4096])
        ep = run_episode(MC, team, NoisyTools(), complete_topology(2), catalogue(), CPPConfig(), seed=0)
        finals[teacher.name] = ep
    assert finals["oracle"].final_answer == "C"
    ep = finals["verify"]
    assert ep.final_answer == "B"
    steps = {a.name: [s.call.args.get("step") for s in a.steps if s.call.tool == "fine_browser"] for a in ep.agents}
    assert steps["a"][0] is None and steps["b"][0] == 2.5  # independent first readings
    assert any(a.revisions for a in ep.agents)  # someone re-read, through a revision
    assert all(a.answer == "B" for a in ep.agents)


def test_dag_fraction_annotates_a_share_on_marl_topologies_whose_answers_cite_only_visible_lines():
    """sft.dag_fraction: that share of questions runs on a DAG with Agent Dropout (one draw per
    question and seed, so a subset re-annotates alike); a dropped agent yields no example and every
    cited answer cites a line its own prompt shows."""
    from m1.checkpoint import train_tokenizer
    from m1.team.answers import CITE_RE
    from m1.train.annotation import annotate, annotation_topology
    from m1.train.teachers import TeacherTeam

    tok = train_tokenizer(["#plan Q: What colour? fine_browser global_sampling candidate=B KEEP"], vocab_size=300)
    names = ["a", "b", "c", "d"]
    qs = [MC.model_copy(update={"qid": f"q{i}"}) for i in range(12)]

    def run(fraction, questions=qs):
        team = TeacherTeam(OracleTeacher(SFTConfig(weak_plan_prob=0.0, redundant_step_prob=0.0)), names, tok,
                           [4096] * 4)
        return annotate(questions, team, Tools(), catalogue(), CPPConfig(), SFTConfig(dag_fraction=fraction),
                        seed=3, dropout=0.5, edge_prob=0.5)

    _, _, complete = run(0.0)
    assert {ep.topology.kind for ep in complete} == {"complete"}
    examples, _, dags = run(1.0)
    assert {ep.topology.kind for ep in dags} == {"dag"}
    assert any(sum(ep.topology.active) < 4 for ep in dags)  # dropout 0.5 over 12 questions drops someone
    for ep in dags:
        active = {names[i] for i in ep.topology.active_agents}
        assert {e.agent for e in examples if e.qid == ep.question.qid} <= active
    cited = [(e, CITE_RE.match(e.target)) for e in examples if e.kind == "answer"]
    assert cited and all(m and m.group(1) in e.prompt for e, m in cited)
    _, _, half = run(0.5)
    kinds = [ep.topology.kind for ep in half]
    assert 0 < kinds.count("dag") < len(kinds)
    assert [ep.topology for ep in run(0.5, qs[5:])[2]] == [ep.topology for ep in half[5:]]
    assert annotation_topology("q1", 4, 0.5, 3, 0.5, 0.5) == half[1].topology
