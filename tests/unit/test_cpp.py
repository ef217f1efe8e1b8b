"""The CPP loop with scripted policies and a recording tool back-end (fast, no models, no video)."""

import json
import pickle
import random
import re
import warnings

import pytest

from m1.config import CPPConfig
from m1.engines.base import Completion, SamplingSettings
from m1.schema import Question, TaskType, ToolErrorKind, ToolResult, ToolSpec
from m1.team.cpp import GenRequest, Phase, aggregate, run_episode
from m1.team.plan import PlanStep, PromptLimits, byte_counter
from m1.team.topology import Topology, complete_topology, sample_topology
from m1.team.trace import Episode

CATALOGUE = [
    ToolSpec(name="global_sampling", description="n frames", args_schema={
        "type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 64}}}),
    ToolSpec(name="grounding", description="text to span", args_schema={
        "type": "object", "properties": {"query": {"type": "string"}}}),
    ToolSpec(name="fine_browser", description="look closely", args_schema={
        "type": "object", "properties": {"start": {"type": "number"}, "end": {"type": "number"}}}),
]

MC = Question(qid="q1", video="/v.mp4", question="What colour?", options=["red", "green", "blue", "cyan"],
              answer="B", task_type=TaskType.MULTIPLE_CHOICE)
GROUND = Question(qid="q2", video="/v.mp4", question="the red circle moves left.", answer="3 5",
                  task_type=TaskType.GROUNDING)


_HEADS = {Phase.PLAN: "#plan", Phase.REVISION: "#revise", Phase.ANSWER: "#answer"}
# how the teacher read candidates out of prompt text before requests carried them (the check below)
_CANDIDATE_LINE = re.compile(r"^\[(a\d+\.\d+)\] ([a-z_]+): candidate=([^;]+?)(?: conf=([0-9.]+))?;")


def candidates_in_text(prompt):
    """(label, tool, candidate, confidence) of every line of ``prompt`` that shows a candidate."""
    out = []
    for line in prompt.split("\n"):
        m = _CANDIDATE_LINE.match(line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3).strip(), float(m.group(4) or 0)))
    return out


def check_request(r):
    """What every request of the loop must satisfy: the fields say what the prompt text shows."""
    assert isinstance(r, GenRequest) and isinstance(r.question, Question)
    assert r.prompt.split("\n", 1)[0] == _HEADS[r.phase]
    assert r.round == {Phase.PLAN: 0, Phase.ANSWER: -1}.get(r.phase, r.round) and r.round >= -1
    assert r.label.startswith("a") and (r.phase != Phase.PLAN or not r.evidence)
    shown = [(e.label, e.tool, " ".join(e.candidate.split()), e.shown_confidence) for e in r.evidence
             if e.candidate is not None]
    assert shown == candidates_in_text(r.prompt)
    assert all(f"[{e.label}] " in r.prompt for e in r.evidence)
    if r.phase == Phase.REVISION:
        plan = "\n".join(s.render() for s in r.plan) or "(none)"
        assert f"Plan:\n{plan}\nResults:" in r.prompt
    assert pickle.loads(pickle.dumps(r)) == r  # it crosses Ray actor boundaries


class ScriptedTeam:
    """Each agent is a function prompt -> text; completions carry byte ids and fixed log-probs.
    Every request is checked (:func:`check_request`) and kept in ``requests``."""

    def __init__(self, scripts):
        self.scripts = scripts
        self.names = [f"agent{i}" for i in range(len(scripts))]
        self.prompts = []
        self.requests = []

    def counter(self, agent):
        return byte_counter

    def limits(self, agent, max_new_tokens, entry_tokens):
        # counts bytes, not tokens: allow ~4 bytes per token of the configured clip
        return PromptLimits(max_context=4096, max_new_tokens=max_new_tokens, entry_tokens=4 * entry_tokens)

    def generate(self, requests):
        out = []
        for r in requests:
            assert isinstance(r.settings, SamplingSettings) and r.settings.seed is not None
            check_request(r)
            self.requests.append(r)
            self.prompts.append((r.agent, r.prompt))
            text = self.scripts[r.agent](r.prompt)
            ids = list(text.encode())
            out.append(Completion(prompt_ids=list(r.prompt.encode())[:8], completion_ids=ids, text=text,
                                  logprobs=[-0.5] * len(ids), finish_reason="stop"))
        return out


class RecordingTools:
    """Deterministic results; counts executions and frames (2 new frames per distinct call)."""

    def __init__(self):
        self.calls = []
        self.ended = []

    def run(self, episode_id, question, calls):
        out = []
        for c in calls:
            self.calls.append((c.tool, json.dumps(c.args, sort_keys=True)))
            if c.tool == "grounding":
                out.append(ToolResult(tool=c.tool, args=c.args, text="span 3.0-5.0 candidate=3 5 conf=0.8",
                                      candidate="3 5", confidence=0.8, frames_used=2, seconds=0.01,
                                      payload={"start": 3.0, "end": 5.0}))
            else:
                out.append(ToolResult(tool=c.tool, args=c.args, text=f"{c.tool} saw green candidate=B conf=0.9",
                                      candidate="B", confidence=0.9, frames_used=2, seconds=0.01))
        return out

    def end(self, episode_id):
        self.ended.append(episode_id)


def phase(prompt):
    return prompt.split("\n", 1)[0]


def fixed(plan, answer, revision="KEEP"):
    return lambda p: {"#plan": plan, "#revise": revision, "#answer": answer}[phase(p)]


def test_episode_runs_plans_and_votes():
    team = ScriptedTeam([
        fixed('1. global_sampling {"n":8}', "B"),
        fixed('1. global_sampling {"n":8}\n2. fine_browser {"start":1,"end":2}', "B"),
        fixed('1. grounding {"query":"x"}', "C"),
    ])
    tools = RecordingTools()
    ep = run_episode(MC, team, tools, complete_topology(3), CATALOGUE, CPPConfig(), seed=1)
    assert ep.final_answer == "B" and ep.aggregation == "vote" and ep.votes == {"B": 2, "C": 1}
    # identical global_sampling calls by agents 0 and 1 ran once
    assert tools.calls.count(("global_sampling", '{"n": 8}')) == 1 and ep.tool_calls == 3
    a0, a1 = ep.agent(0), ep.agent(1)
    assert [s.cached for s in a0.steps] + [s.cached for s in a1.steps] == [False, True, False]
    assert ep.memory[1].frames == 0  # the cached call is counted once per episode
    assert ep.frames_used == 6 and tools.ended == [ep.episode_id]
    assert [t.kind for t in a1.turns] == ["plan", "revision", "revision", "answer"]
    assert all(t.logprobs and len(t.logprobs) == len(t.completion_ids) for t in a1.turns)


def test_revision_changes_the_plan_after_reading_memory():
    """Agent 1 plans 3 global samplings, but once it sees agent 0's grounding span in memory it
    replaces its remaining plan with a fine look at that span."""

    def reviser(p):
        if phase(p) == "#plan":
            return '1. global_sampling {"n":4}\n2. global_sampling {"n":16}\n3. global_sampling {"n":32}'
        if phase(p) == "#revise":
            if "span 3.0-5.0" in p and "fine_browser" not in p.split("Plan:")[1].split("Results:")[0]:
                return '2. fine_browser {"start":3,"end":5}'
            return "KEEP"
        return "B"

    team = ScriptedTeam([fixed('1. grounding {"query":"red"}', "B", revision="DONE"), reviser])
    ep = run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, seed=0)
    a1 = ep.agent(1)
    assert a1.revisions == 1
    assert a1.plans[1] == '2. fine_browser {"start":3,"end":5}'
    assert [s.call.tool for s in a1.steps] == ["global_sampling", "fine_browser"]
    rev = [t for t in a1.turns if t.kind == "revision"][0]
    assert rev.memory_seen == [0]  # it read agent 0's grounding entry


def test_topology_limits_what_revisions_and_answers_see():
    seen_by_1 = []

    def watcher(p):
        if phase(p) in ("#revise", "#answer"):
            seen_by_1.append("span 3.0-5.0" in p)
        return fixed('1. global_sampling {"n":2}', "B")(p)

    # agent 1 may not read agent 0 (edge only 1 -> 0)
    topo = Topology(num_agents=2, active=(True, True), edges=((1, 0),), kind="dag")
    team = ScriptedTeam([fixed('1. grounding {"query":"red"}', "B"), watcher])
    ep = run_episode(MC, team, RecordingTools(), topo, CATALOGUE, seed=0)
    assert seen_by_1 and not any(seen_by_1)
    assert all(t.memory_seen == [] for t in ep.agent(1).turns)
    assert [t.memory_seen for t in ep.agent(0).turns if t.kind == "answer"] == [[1]]


def test_dropped_agents_take_no_part():
    topo = Topology(num_agents=3, active=(True, False, True), edges=(), kind="dag")
    team = ScriptedTeam([fixed('1. global_sampling {"n":2}', "A")] * 3)
    ep = run_episode(MC, team, RecordingTools(), topo, CATALOGUE, seed=0)
    assert [a.agent for a in ep.agents] == [0, 2] and all(agent != 1 for agent, _ in team.prompts)


def test_format_errors_are_recorded_not_fatal():
    team = ScriptedTeam([
        fixed("I will look at the video", "maybe B"),
        fixed('1. teleport {"x":1}', "B"),
        fixed('1. global_sampling {"n":2}\n2. fine_browser {"start":"$7.start"}', "B", revision="KEEP"),
    ])
    ep = run_episode(MC, team, RecordingTools(), complete_topology(3), CATALOGUE, seed=0)
    assert ep.agent(0).format_errors == ["bad_line", "bad_answer"]
    assert ep.agent(1).format_errors == ["unknown_tool"]
    # $7 is rejected by the parser (not an earlier step): the plan is a format error, no steps run
    assert ep.agent(2).format_errors == ["dangling_ref"] and ep.agent(2).steps == []
    assert ep.final_answer == "B"


def test_unresolvable_reference_at_run_time_is_recorded():
    team = ScriptedTeam([fixed('1. global_sampling {"n":2}\n2. fine_browser {"start":"$1.start","end":3}', "B")])
    ep = run_episode(MC, team, RecordingTools(), complete_topology(1), CATALOGUE, seed=0)
    step2 = ep.agent(0).steps[1]
    assert step2.ref_error and "no field 'start'" in step2.ref_error and ep.memory[1].error
    assert ep.memory[1].error_kind == ToolErrorKind.UNRESOLVED_REF and ep.memory[0].error_kind is None
    assert ep.agent(0).format_errors == ["dangling_ref"]


def test_step_budget_and_done():
    team = ScriptedTeam([fixed("\n".join(f'{k}. global_sampling {{"n":{k}}}' for k in range(1, 6)), "A"),
                         fixed('1. global_sampling {"n":9}\n2. global_sampling {"n":10}', "A", revision="DONE")])
    ep = run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, CPPConfig(max_steps=3), seed=0)
    # agent 0's 5-step plan exceeds max_steps=3: a format error (too_many_steps), nothing runs
    assert ep.agent(0).format_errors == ["too_many_steps"] and not ep.agent(0).steps
    assert len(ep.agent(1).steps) == 1 and ep.agent(1).plans[-1] == "DONE"


def test_grounding_uses_the_summariser_with_the_whole_memory():
    seen = {}

    def summariser(p):
        if phase(p) == "#answer":
            seen["answer"] = p
            return "3 5"
        return fixed('1. global_sampling {"n":2}', "0 1")(p)

    topo = Topology(num_agents=2, active=(True, True), edges=(), kind="dag")
    team = ScriptedTeam([fixed('1. grounding {"query":"red"}', "0 1"), summariser])
    ep = run_episode(GROUND, team, RecordingTools(), topo, CATALOGUE, seed=0)
    assert ep.final_answer == "3 5" and ep.aggregation == "summariser" and ep.summariser == 1
    # no edge, yet the summariser reads everything
    assert "grounding: candidate=3 5 conf=0.80; span 3.0-5.0" in seen["answer"]


def test_citation_labels_follow_the_agent_not_its_position():
    """A model trained as agent 3 of four writes and cites ``a3.*`` lines; run alone (position 0) with
    its pinned label it still does, and its citation resolves (positions would label it ``a0``)."""
    prompts = []

    def alone(p):
        prompts.append(p)
        return fixed('1. grounding {"query":"red"}', "a3.1")(p)

    team = ScriptedTeam([alone])
    team.labels = [3]
    ep = run_episode(GROUND, team, RecordingTools(), complete_topology(1), CATALOGUE, seed=0)
    assert "[a3.1] grounding: candidate=3 5" in prompts[-1] and "[a0." not in prompts[-1]
    assert ep.final_answer == "3 5"
    team.labels = [0]  # as positions would have it: the model's citation names no shown line
    ep = run_episode(GROUND, team, RecordingTools(), complete_topology(1), CATALOGUE, seed=0)
    assert ep.final_answer is None and ep.agent(0).answer is None


def test_team_use_pins_labels_and_rejects_bad_teams():
    from m1.config import ConfigError, load_config
    from m1.config.team import TeamConfig

    cfg = load_config(None, ["team.use=[qwen3-base,qwen2-small]"])
    assert [a.name for a in cfg.team.agents] == ["qwen2-small", "qwen3-base"]  # configured order
    assert cfg.team.labels == [0, 3]
    again = TeamConfig.model_validate(cfg.team.model_dump())  # saved with a run and loaded back
    assert again.labels == [0, 3] and [a.name for a in again.agents] == ["qwen2-small", "qwen3-base"]
    assert load_config(None, []).team.labels == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="not agents of the team"):
        load_config(None, ["team.use=[nobody]"])
    agents = [a.model_dump() for a in load_config(None, []).team.agents[:2]]
    agents[1]["label"] = 0
    with pytest.raises(ValueError, match="labels must be unique"):
        TeamConfig.model_validate({"agents": agents})


@pytest.mark.parametrize(
    "answers, summariser, expected",
    [
        ({0: "A", 1: "B", 2: "B", 3: "A"}, 3, "A"),  # tie A/B: the summariser (3) voted A
        ({0: "A", 1: "B", 2: "B", 3: "C"}, 3, "B"),  # majority
        ({0: "A", 1: "B", 2: None, 3: None}, 3, "A"),  # tie, summariser invalid: lowest index wins
        ({0: None, 1: None}, 1, None),
    ],
)
def test_vote_tie_breaks(answers, summariser, expected):
    assert aggregate(MC, answers, summariser, CPPConfig())[0] == expected


def test_numeric_median_and_summariser_fallback():
    num = Question(qid="n", video="v", question="how far", task_type=TaskType.NUMERIC, answer="2")
    assert aggregate(num, {0: "1", 1: "2.5", 2: "10"}, 2, CPPConfig())[:2] == ("2.5", "median")
    assert aggregate(num, {0: "1", 1: "3"}, 1, CPPConfig())[0] == "2"
    assert aggregate(num, {0: "1", 1: "3"}, 1, CPPConfig(numeric_aggregation="summariser"))[0] == "3"
    assert aggregate(GROUND, {0: "1 2", 1: None}, 1, CPPConfig())[0] == "1 2"


def test_aggregation_alternatives_for_the_ablation():
    answers = {0: "A", 1: "B", 2: "B", 3: None}
    scores = {0: -0.1, 1: -0.5, 2: -0.9, 3: -0.05}  # agent 3 is surest but unparseable
    assert aggregate(MC, answers, 3, CPPConfig())[:2] == ("B", "vote")
    assert aggregate(MC, answers, 3, CPPConfig(aggregation="top_score"), scores)[:2] == ("A", "top_score")
    assert aggregate(MC, answers, 1, CPPConfig(aggregation="summariser"))[:2] == ("B", "summariser")
    assert aggregate(MC, answers, 3, CPPConfig(aggregation="summariser"))[0] == "A"  # summariser invalid
    tie = {0: -0.5, 1: -0.5, 2: -0.9}
    assert aggregate(MC, answers, 1, CPPConfig(aggregation="top_score"), tie)[0] == "B"  # priority breaks ties
    num = Question(qid="n", video="v", question="how far", task_type=TaskType.NUMERIC, answer="2")
    assert aggregate(num, {0: "1", 1: "3", 2: "10"}, 2, CPPConfig(aggregation="summariser"))[0] == "10"


def test_every_aggregation_runs_through_an_episode():
    team = ScriptedTeam([fixed('1. global_sampling {"n":8}', "B"), fixed('1. grounding {"query":"q"}', "C")])
    for how in ("vote", "summariser", "top_score"):
        ep = run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, CPPConfig(aggregation=how))
        assert ep.final_answer in ("B", "C") and Episode.model_validate_json(ep.model_dump_json()) == ep
        assert ep.aggregation == how


def test_trace_round_trips_and_is_seed_deterministic():
    team = ScriptedTeam([fixed('1. global_sampling {"n":8}', "B"), fixed('1. grounding {"query":"q"}', "C")])
    topo = sample_topology(2, random.Random(3), dropout=0.0)
    ep = run_episode(MC, team, RecordingTools(), topo, CATALOGUE, seed=5)
    again = Episode.model_validate_json(ep.model_dump_json())
    assert again == ep
    ep2 = run_episode(MC, team, RecordingTools(), topo, CATALOGUE, seed=5)
    strip = {"wall_seconds"}
    assert ep.model_dump(exclude=strip) == ep2.model_dump(exclude=strip)


def test_bad_config_is_clear():
    team = ScriptedTeam([fixed('1. global_sampling {"n":8}', "B")])
    with pytest.raises(ValueError, match="not an agent of the team"):
        run_episode(MC, team, RecordingTools(), complete_topology(1), CATALOGUE, CPPConfig(summariser="nobody"))
    with pytest.raises(ValueError, match="topology has 2 agents"):
        run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE)


# ------------------------------------------------------------------------ structured requests


class FieldTeam:
    """A back-end that never reads the prompt: plans by the question's type, revises DONE once an
    own result shows a candidate, answers by citing the most confident line it was shown."""

    def __init__(self, n):
        self.names = [f"agent{i}" for i in range(n)]
        self.requests = []

    def counter(self, agent):
        return byte_counter

    def limits(self, agent, max_new_tokens, entry_tokens):
        return PromptLimits(max_context=4096, max_new_tokens=max_new_tokens, entry_tokens=4 * entry_tokens)

    def write(self, r):
        if r.phase == Phase.PLAN:
            return ('1. grounding {"query":"red"}\n2. fine_browser {"start":"$1.start","end":"$1.end"}'
                    if r.question.task_type == TaskType.GROUNDING else '1. global_sampling {"n":4}')
        if r.phase == Phase.REVISION:
            own = [e for e in r.evidence if e.agent == r.label and e.candidate is not None]
            return "DONE" if own and r.plan else "KEEP"
        best = max((e for e in r.evidence if e.candidate is not None), key=lambda e: e.shown_confidence)
        return best.label

    def generate(self, requests):
        out = []
        for r in requests:
            check_request(r)
            self.requests.append(r)
            text = self.write(r)
            out.append(Completion(prompt_ids=[1], completion_ids=[2], text=text, logprobs=[-0.1],
                                  finish_reason="stop"))
        return out


def test_requests_carry_phase_question_round_and_evidence():
    team = FieldTeam(2)
    ep = run_episode(GROUND, team, RecordingTools(), complete_topology(2), CATALOGUE, seed=0)
    assert ep.final_answer == "3 5"
    phases = [(r.agent, r.phase, r.round) for r in team.requests]
    assert phases == [(0, Phase.PLAN, 0), (1, Phase.PLAN, 0), (0, Phase.REVISION, 1), (1, Phase.REVISION, 1),
                      (0, Phase.ANSWER, -1), (1, Phase.ANSWER, -1)]
    assert all(r.question == GROUND for r in team.requests)
    rev0 = team.requests[2]
    # the remaining plan as steps with their indices; memory first, own results newest
    assert rev0.plan == (PlanStep(index=2, tool="fine_browser", args={"start": "$1.start", "end": "$1.end"}),)
    assert [(e.label, e.tool, e.candidate, e.confidence) for e in rev0.evidence] == [
        ("a1.1", "grounding", "3 5", 0.8), ("a0.1", "grounding", "3 5", 0.8)]
    assert rev0.evidence[0].text == "span 3.0-5.0"  # the candidate mark is a field, not part of the text
    assert [r.label for r in team.requests[:2]] == ["a0", "a1"]
    # DONE after the first step: the reference step never ran, the plan steps keep their indices
    assert [len(a.steps) for a in ep.agents] == [1, 1]
    assert [[s.index for s in p] for p in ep.agent(0).plan_steps] == [[1, 2], []]


def test_evidence_clipped_before_its_candidate_shows_none():
    """entry_tokens=12 (48 bytes here): a grounding line keeps its whole candidate mark, a
    global_sampling line is cut inside it, so the request shows that line without a candidate."""
    team = ScriptedTeam([fixed('1. grounding {"query":"red"}', "B"), fixed('1. global_sampling {"n":8}', "B")])
    run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, CPPConfig(entry_tokens=12), seed=0)
    answer = next(r for r in team.requests if r.phase == Phase.ANSWER and r.agent == 0)
    by_tool = {e.tool: e for e in answer.evidence}
    assert by_tool["grounding"].candidate == "3 5" and by_tool["grounding"].clipped
    assert by_tool["global_sampling"].candidate is None and by_tool["global_sampling"].clipped
    assert "[a1.1] global_sampling: candidate=B con" in answer.prompt  # the cut mark is in the text


def test_an_answer_budget_too_small_for_the_pattern_warns():
    """A constrained grounding answer may take 16 tokens (m1.team.answers.answer_budget): a smaller
    ``cpp.answer_tokens`` warns with both numbers; the default does not."""
    def team() -> ScriptedTeam:
        return ScriptedTeam([fixed('1. grounding {"query":"red"}', "a0.1")] * 2)

    with pytest.warns(UserWarning, match=r"cpp.answer_tokens=6 can cut off a constrained grounding answer, "
                                         r"which may take 16 tokens"):
        run_episode(GROUND, team(), RecordingTools(), complete_topology(2), CATALOGUE, CPPConfig(answer_tokens=6),
                    seed=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="cpp.answer_tokens")
        run_episode(GROUND, team(), RecordingTools(), complete_topology(2), CATALOGUE, seed=0)


def test_request_round_trips_through_pickle():
    r = GenRequest(0, "#plan\n", SamplingSettings(max_new_tokens=4, seed=1), Phase.PLAN, MC, 0, "a0")
    assert pickle.loads(pickle.dumps(r)) == r and r.phase == "plan"


def test_answers_are_constrained_to_what_the_prompt_shows():
    """The answer request's pattern admits the option letters and the labels of the candidate lines
    its prompt shows, nothing else; ``cpp.constrain_answers=false`` leaves answers free."""
    team = ScriptedTeam([fixed('1. global_sampling {"n":8}', "a0.1"), fixed('1. grounding {"query":"red"}', "B")])
    ep = run_episode(MC, team, RecordingTools(), complete_topology(2), CATALOGUE, seed=0)
    assert ep.final_answer == "B"
    for r in (r for r in team.requests if r.phase == Phase.ANSWER):
        shown = {e.label: e.candidate for e in r.evidence if e.candidate is not None}
        assert shown == {"a0.1": "B", "a1.1": "3 5"}
        assert all(re.fullmatch(r.settings.pattern, x) for x in ["a0.1", "A", "D"])
        # a1.1 shows the grounding tool's span: no answer to a multiple-choice question
        assert not any(re.fullmatch(r.settings.pattern, x) for x in ["a1.1", "a0.2", "a3.1", "E", "B "])
    assert all(r.settings.pattern is None for r in team.requests if r.phase != Phase.ANSWER)
    free = ScriptedTeam([fixed('1. global_sampling {"n":8}', "B")] * 2)
    run_episode(MC, free, RecordingTools(), complete_topology(2), CATALOGUE, CPPConfig(constrain_answers=False),
                seed=0)
    assert all(r.settings.pattern is None for r in free.requests)


def _open(metric: str | None) -> Question:
    return Question(qid="o", video="/v.mp4", question="Which captions, in order?", answer="x",
                    task_type=TaskType.OPEN_ENDED, meta={"open_metric": metric} if metric else {})


def test_item_vote_outvotes_independent_misreadings_of_a_list():
    """cpp.open_ended_aggregation=item_vote (the default): each item of a list answer by majority over the
    agents' answers (a sequence position by position among answers of the most common length, a set by membership); the
    paper's rule keeps the summariser's answer, and free text without an item metric always does."""
    # three readings of one caption list, each with one OCR error elsewhere; agent 3 (the summariser) is cut short
    seq = {0: "PARCEL, 7E4GUP, WANDER, FENCE", 1: "PARCEL, TEACUP, WANBFP, FENCE", 2: "PRPGEL, TEACUP, WANDER, FENCE",
           3: "PARCEL, TEACUP"}
    iv = CPPConfig()  # the default
    paper = CPPConfig(open_ended_aggregation="summariser")
    assert aggregate(_open("sequence"), seq, 3, paper) == ("PARCEL, TEACUP", "summariser", {})
    assert aggregate(_open("sequence"), seq, 3, iv) == ("PARCEL, TEACUP, WANDER, FENCE", "item_vote", {})
    assert aggregate(_open(None), seq, 3, iv)[:2] == ("PARCEL, TEACUP", "summariser")
    # a position split evenly goes to the highest-priority answer holding it: the summariser, then by index
    assert aggregate(_open("sequence"), {0: "a, b", 1: "a, c", 2: None}, 1, iv)[0] == "a, c"
    assert aggregate(_open("sequence"), {0: "a, b", 1: "a, c", 2: None}, 2, iv)[0] == "a, b"
    # a set: items more than half of the answers list; exactly half only if the summariser lists it
    objs = {0: "red circle, blue square", 1: "blue square", 2: "blue square, green star", 3: "Red Circle"}
    assert aggregate(_open("set"), objs, 3, iv)[0] == "Red Circle, blue square"
    assert aggregate(_open("set"), objs, 2, iv)[0] == "blue square"
    # the other aggregation rules are not changed by it
    assert aggregate(_open("set"), objs, 3, CPPConfig(aggregation="summariser", open_ended_aggregation="item_vote")
                     )[:2] == ("Red Circle", "summariser")


def test_vote_items_edge_cases():
    from m1.team.answers import vote_items

    assert vote_items(["...", "", "!"], "sequence") == "..."  # no answer has an item: the first answer
    assert vote_items(["b, a", "a, b", "a, b"], "sequence") == "a, b"
    assert vote_items(["the red circle", "red circle"], "set") == "the red circle"  # compared as the metric reads
    assert vote_items(["a", "b", "c"], "set") == "a"  # no item listed by enough answers: the first answer
    with pytest.raises(ValueError, match="unknown open-ended metric"):
        vote_items(["a"], "bag")
    with pytest.raises(ValueError, match="at least one answer"):
        vote_items([], "set")
