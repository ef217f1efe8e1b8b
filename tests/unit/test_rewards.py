"""Per-agent rewards on hand-made episodes."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cpp import CATALOGUE, GROUND, MC, ScriptedTeam, fixed  # noqa: E402

from m1.config import CPPConfig, RewardConfig  # noqa: E402
from m1.schema import Question, TaskType, ToolErrorKind, ToolResult  # noqa: E402
from m1.team.cpp import run_episode  # noqa: E402
from m1.team.topology import complete_topology  # noqa: E402
from m1.team.trace import Episode  # noqa: E402
from m1.train.rewards import agent_frames, agent_rewards, rule_judge  # noqa: E402


class Tools:
    """fine_browser answers B (question-aware); grounding returns a span; global_sampling only looks;
    fine_browser with start > end fails; ``failures`` maps a global_sampling ``n`` to the (kind,
    message) it fails with."""

    def __init__(self, failures=None):
        self.failures = failures or {}

    def run(self, episode_id, question, calls):
        out = []
        for c in calls:
            if c.tool == "fine_browser" and c.args.get("start", 0) > c.args.get("end", 1e9):
                out.append(ToolResult.failure(c, ToolErrorKind.UNUSABLE_ARGS, "start after end"))
            elif c.tool == "global_sampling" and c.args.get("n") in self.failures:
                out.append(ToolResult.failure(c, *self.failures[c.args["n"]]))
            elif c.tool == "fine_browser":
                out.append(ToolResult(tool=c.tool, args=c.args, text="green seen candidate=B conf=0.9",
                                      candidate="B", confidence=0.9, frames_used=3))
            elif c.tool == "grounding":
                out.append(ToolResult(tool=c.tool, args=c.args, text="happens 3.0-5.0s candidate=3.0 5.0",
                                      candidate="3.0 5.0", confidence=0.8, frames_used=4))
            else:
                out.append(ToolResult(tool=c.tool, args=c.args, text="8 frames", frames_used=8))
        return out

    def end(self, episode_id):
        pass


def episode(scripts, cfg=None, question=MC, tools=None):
    return run_episode(question, ScriptedTeam(scripts), tools or Tools(), complete_topology(len(scripts)), CATALOGUE,
                       cfg or CPPConfig(), seed=0)


def test_a_good_trajectory_gets_every_component():
    ep = episode([fixed('1. global_sampling {"n":4}\n2. fine_browser {"start":0,"end":5}', "B")])
    (r,) = agent_rewards(ep)
    assert r.judge_ok and r.judge_reasons == ()
    assert (r.outcome, r.format, r.collaboration, r.total) == pytest.approx((1.0, 0.2, 0.5, 1.7))


def test_outcome_modes_team_agent_mixed():
    # agents 0, 1 answer B (right), agent 2 answers C: team answer B by vote
    ep = episode([fixed('1. fine_browser {}', "B"), fixed('1. fine_browser {}', "B"), fixed('1. fine_browser {}', "C")])
    mixed = agent_rewards(ep)[2]
    team = agent_rewards(ep, RewardConfig(outcome="team"))[2]
    own = agent_rewards(ep, RewardConfig(outcome="agent"))[2]
    assert (team.outcome, own.outcome, mixed.outcome) == (1.0, -1.0, 0.0)


def test_format_penalty_for_unparseable_turns():
    ep = episode([fixed('1. fine_browser {}', "the answer is B")])
    (r,) = agent_rewards(ep)
    # no parseable answer, own or team's: s = 0 → wrong = -1
    assert r.format == -0.5 and r.outcome == -1.0


@pytest.mark.parametrize(
    "plan, revision, cfg, reason",
    [
        ("I plan nothing", "KEEP", CPPConfig(), "infeasible: no parsed plan with steps"),
        ('1. global_sampling {"n":4}', "KEEP", CPPConfig(), "inappropriate: no question-aware call"),
        ('1. fine_browser {"start":9,"end":1}', "KEEP", CPPConfig(), "inappropriate: a call failed"),
        ('1. fine_browser {}\n2. fine_browser {}', "KEEP", CPPConfig(), "step management: repeated its own call"),
        ('1. fine_browser {}\n2. global_sampling {"n":2}', "KEEP", CPPConfig(max_rounds=1),
         "step management: cut off by the round limit"),
    ],
)
def test_rule_judge_failures(plan, revision, cfg, reason):
    ep = episode([fixed(plan, "B", revision=revision)], cfg)
    ok, reasons = rule_judge(ep, ep.agents[0])
    assert not ok and reason in reasons
    assert agent_rewards(ep)[0].collaboration == 0.0


def test_a_candidate_of_the_wrong_kind_is_not_question_aware():
    # a grounding span answers a grounding question, not a multiple-choice one (nor a numeric one):
    # calling grounding for a size question must not earn R_col (it did, and MARL learnt it)
    ep = episode([fixed("1. grounding {}", "a0.1")], question=GROUND)
    assert rule_judge(ep, ep.agents[0]) == (True, ())
    ep = episode([fixed("1. grounding {}", "B")])
    assert rule_judge(ep, ep.agents[0]) == (False, ("inappropriate: only candidates of the wrong kind",))
    ep = episode([fixed("1. grounding {}\n2. fine_browser {}", "B")])  # one suitable call is enough
    assert rule_judge(ep, ep.agents[0]) == (True, ())


def test_done_ends_a_trajectory_properly():
    ep = episode([fixed('1. fine_browser {}\n2. global_sampling {"n":2}', "B", revision="DONE")])
    assert rule_judge(ep, ep.agents[0]) == (True, ())


def test_more_than_max_tool_calls_gets_the_strong_penalty():
    ep = episode([fixed('1. fine_browser {}\n2. global_sampling {"n":2}\n3. global_sampling {"n":3}', "B")])
    (r,) = agent_rewards(ep, RewardConfig(max_tool_calls=2))
    assert r.collaboration == -1.0 and not r.judge_ok and "over budget: 3 > 2 tool calls" in r.judge_reasons


def test_format_reward_reads_the_error_kind_not_its_wording():
    """A call rejected for its arguments costs the format reward whatever its message says; a tool
    bug whose message happens to open with "bad arguments" does not (the old prefix test said it did)."""
    tools = Tools({2: (ToolErrorKind.BAD_ARGS, "n=2 does not fit the schema"),
                   3: (ToolErrorKind.UNKNOWN_TOOL, "no such tool here"),
                   4: (ToolErrorKind.INTERNAL, "bad arguments passed to the decoder: ValueError"),
                   5: (ToolErrorKind.TIMEOUT, "unknown tool state after the deadline")})
    fmt = {}
    for n in (2, 3, 4, 5):
        ep = episode([fixed(f'1. global_sampling {{"n":{n}}}\n2. fine_browser {{}}', "B")], tools=tools)
        (r,) = agent_rewards(ep)
        fmt[n] = r.format
        assert not r.judge_ok and "inappropriate: a call failed" in r.judge_reasons  # every kind is a failure
    assert fmt == {2: -0.5, 3: -0.5, 4: 0.2, 5: 0.2}


def test_a_result_whose_text_starts_with_error_is_not_a_failure():
    class Sign(Tools):
        def run(self, episode_id, question, calls):
            return [ToolResult(tool=c.tool, args=c.args, text="error: 404 is written on the sign", candidate="B",
                               confidence=0.9) for c in calls]

    ep = episode([fixed("1. fine_browser {}", "B")], tools=Sign())
    (r,) = agent_rewards(ep)
    assert r.judge_ok and r.format == 0.2 and ep.memory[0].error_kind is None


def test_judge_reads_planned_step_indices_not_the_rendered_plan():
    ep = episode([fixed('1. fine_browser {}\n2. global_sampling {"n":2}', "B")], CPPConfig(max_rounds=1))
    a = ep.agents[0]
    assert [[s.index for s in p] for p in a.plan_steps] == [[1, 2]]
    assert rule_judge(ep, a) == (False, ("step management: cut off by the round limit",))
    # the rendered text no longer decides: blanking it (the old reader found no step, so no cut-off)
    # leaves the verdict as the recorded steps say
    a.plans[0] = ""
    assert rule_judge(ep, a) == (False, ("step management: cut off by the round limit",))
    a.plan_steps[0] = a.plan_steps[0][:1]  # a plan of one step, which ran: exhausted by itself
    assert rule_judge(ep, a) == (True, ())


def test_traces_written_before_kinds_and_plan_steps_load_and_judge_alike():
    tools = Tools({2: (ToolErrorKind.BAD_ARGS, "bad arguments for global_sampling: n=2")})
    ep = episode([fixed('1. global_sampling {"n":2}\n2. fine_browser {}\n3. fine_browser {"start":1}', "B")],
                 CPPConfig(max_rounds=2), tools=tools)
    old = ep.model_dump(mode="json")
    for a in old["agents"]:
        del a["plan_steps"]
    for e in old["memory"]:
        del e["error_kind"]
    loaded = Episode.model_validate(old)
    assert loaded == ep  # plan steps from the rendered plans, the arguments error's kind from its message
    assert agent_rewards(loaded) == agent_rewards(ep)
    assert agent_rewards(ep)[0].format == -0.5 and "step management: cut off by the round limit" in (
        agent_rewards(ep)[0].judge_reasons)


def test_outcome_is_the_one_scorer_mapped_to_the_reward_range():
    # numeric: |12-10|/10 = 20% error hits thresholds 0.50..0.80 -> MRA 0.7; R_res = -1 + 2 * 0.7
    num = Question(qid="n", video="v", question="q", task_type=TaskType.NUMERIC, answer="10")
    ep = episode([fixed('1. global_sampling {"n":2}', "12")], question=num)
    (r,) = agent_rewards(ep, RewardConfig(outcome="agent"))
    assert r.outcome == pytest.approx(-1.0 + 2 * 0.7)
    # grounding 4-6 against 3-5: IoU 1/3
    ep = episode([fixed("1. grounding {}", "4 6")], question=GROUND)
    (r,) = agent_rewards(ep, RewardConfig(outcome="team"))
    assert r.outcome == pytest.approx(-1.0 + 2 / 3)
    # no parseable answer: s = 0
    ep = episode([fixed("1. fine_browser {}", "(B)")])
    (r,) = agent_rewards(ep, RewardConfig(outcome="agent"))
    assert ep.agents[0].answer is None and r.outcome == -1.0


def test_reward_audit_tallies_families_and_wrong_kind_tools():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from reward_audit import add_episode, markdown

    from m1.schema import Family

    mc = MC.model_copy(update={"family": Family.REASONING})
    ground = GROUND.model_copy(update={"family": Family.GROUNDING})
    tally = {}
    # agent 0: only a grounding span on a multiple-choice question; agent 1: a suitable call
    add_episode(tally, episode([fixed("1. grounding {}", "B"), fixed("1. fine_browser {}", "B")], question=mc))
    add_episode(tally, episode([fixed("1. grounding {}", "a0.1")], question=ground))
    assert (tally["reasoning"]["trajectories"], tally["reasoning"]["judge_ok"]) == (2, 1)
    assert tally["reasoning"]["wrong_kind_tools"] == {"grounding": 1}
    assert (tally["grounding"]["trajectories"], tally["grounding"]["judge_ok"]) == (1, 1)
    assert tally["grounding"]["reasons"] == {} and tally["grounding"]["outcome"] == 1.0
    every = tally["all"]
    assert every["trajectories"] == 3 and every["judge_ok"] == 2 and every["wrong_kind_only"] == 1
    assert every["reasons"] == {"inappropriate: only candidates of the wrong kind": 1}
    assert every["collaboration"] == pytest.approx(2 * 0.5)
    table = markdown(tally)
    assert table.splitlines()[-1].startswith("| all | 3 | 0.67 | 1.00 |")
    assert "wrong-kind candidates from grounding (1)" in table


def test_frame_cost_charges_each_agent_the_frames_its_own_calls_decoded():
    # round 1: agent 0 global_sampling (8 frames), agent 1 fine_browser 0-5 (3), agent 2 fine_browser 1-5 (3);
    # round 2: agent 0 fine_browser 0-5, the call agent 1 made → served from the episode cache, 0 frames
    # (whoever decoded first pays). Agents 0 and 1 answer B (right), agent 2 C (wrong); team: B by vote.
    ep = episode([fixed('1. global_sampling {"n":4}\n2. fine_browser {"start":0,"end":5}', "B"),
                  fixed('1. fine_browser {"start":0,"end":5}', "B"),
                  fixed('1. fine_browser {"start":1,"end":5}', "C")])
    assert [agent_frames(ep, a) for a in ep.agents] == [8, 3, 3]
    assert ep.frames_used == 14  # the agents' frames add up to the episode's
    off = agent_rewards(ep)
    on = agent_rewards(ep, RewardConfig(frame_cost=0.01))
    # mixed outcome: agent 0 (1 + 1)/2 → 1.0; agent 1 → 1.0; agent 2 (1 + 0)/2 → 0.0
    assert [r.outcome for r in off] == pytest.approx([1.0, 1.0, 0.0])
    assert [r.outcome for r in on] == pytest.approx([1.0 - 0.08, 1.0 - 0.03, 0.0 - 0.03])
    # only R_res moves: format and collaboration are as without the cost
    assert [(r.format, r.collaboration) for r in on] == [(r.format, r.collaboration) for r in off]
    assert RewardConfig().frame_cost == 0.0
    with pytest.raises(ValueError, match="frame_cost"):
        RewardConfig(frame_cost=-0.1)


def test_graded_format_reward_tells_one_bad_unit_from_many():
    """rewards.format_graded: the share of well-formed turns and calls, so two trajectories that both
    have a malformed unit get different rewards (the binary R_format gives both format_bad, and GRPO's
    group-relative advantage of the format term is then 0)."""
    tools = Tools({2: (ToolErrorKind.BAD_ARGS, "n=2 does not fit the schema"), 3: (ToolErrorKind.BAD_ARGS, "n=3")})
    graded = RewardConfig(format_graded=True)
    one_bad = episode([fixed('1. global_sampling {"n":2}\n2. fine_browser {}\n3. global_sampling {"n":4}', "B")],
                      tools=tools)
    two_bad = episode([fixed('1. global_sampling {"n":2}\n2. fine_browser {}\n3. global_sampling {"n":3}', "B")],
                      tools=tools)
    good = episode([fixed('1. global_sampling {"n":4}\n2. fine_browser {}', "B")])
    nothing = episode([fixed("I plan nothing", "the answer is B")])
    binary = [agent_rewards(e)[0].format for e in (one_bad, two_bad, good, nothing)]
    assert binary == [-0.5, -0.5, 0.2, -0.5]
    a = one_bad.agents[0]
    units = len(a.turns) + len(a.steps)
    assert len(a.steps) == 3 and units >= 5
    got = [agent_rewards(e, graded)[0].format for e in (one_bad, two_bad, good, nothing)]
    assert got[0] == pytest.approx(-0.5 + 0.7 * (units - 1) / units)
    assert got[1] == pytest.approx(-0.5 + 0.7 * (units - 2) / units)
    assert got[2] == pytest.approx(0.2) and got[3] == pytest.approx(-0.5)  # every unit good / none good


def test_reward_audit_counts_turns_that_parse_and_why_the_others_did_not():
    """R_format reads the turns' format errors; the audit shows them per family, by turn kind and error kind,
    so that a rollout distribution where half the turns fail (as MARL's Agent Dropout rollouts of
    complete-topology students) is seen before a MARL run is spent on it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from reward_audit import add_episode, markdown

    from m1.schema import Family

    mc = MC.model_copy(update={"family": Family.REASONING})
    tally = {}
    ep = episode([fixed('1. fine_browser {}', "B"), fixed('1. fine_browser {}', "the answer is B")], question=mc)
    add_episode(tally, ep)
    every = tally["all"]
    bad = [t for a in ep.agents for t in a.turns if t.error is not None]
    assert len(bad) == 1 and bad[0].kind == "answer"
    assert every["turns"] == sum(len(a.turns) for a in ep.agents)
    assert every["turns_parsed"] == every["turns"] - 1
    assert every["turn_errors"] == {f"answer: {bad[0].error_kind}": 1}
    row = markdown(tally).splitlines()[-1]
    assert f"| {every['turns_parsed'] / every['turns']:.2f} |" in row and f"answer: {bad[0].error_kind} (1)" in row
