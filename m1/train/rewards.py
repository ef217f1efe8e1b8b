"""Per-agent rewards of a CPP episode: ``R = R_res + R_format + R_col``.

* ``R_res`` (outcome): the project's one scorer, :func:`m1.data.scoring.score_question` — a score
  s in [0, 1]: multiple choice: the letter; numeric: VSI-Bench Mean Relative Accuracy; grounding:
  temporal IoU; open-ended: VideoMMMU's normalised match, or item F1 for M1-Synth's open-ended family
  (a partly right list earns part of the reward) — mapped to ``wrong + (correct - wrong) * s``.
  ``rewards.outcome`` picks whose answer is scored: the team's final answer (credit for
  collaboration), the agent's own (credit for being right), or the mean of both (default). A
  missing/unparseable answer scores s = 0.
  **Frame cost** (``rewards.frame_cost``, default 0 = off; a *departure from the paper*, whose
  reward has no efficiency term — it only reports frames): ``R_res`` is lowered by
  ``frame_cost`` × the frames the agent's *own* calls decoded (the sum of ``frames`` over its
  steps' memory entries), so a policy can learn to browse less, not only be observed doing so.
  Own frames, not the episode's: an agent controls only its own calls, and charging each agent
  the team's total would penalise a frugal agent for a neighbour's browsing. The frames of all
  agents add up to the episode's ``frames_used`` (a call served from the episode cache and frames
  already decoded by another call cost 0 — whoever decoded them first pays), so the team as a
  whole pays exactly ``frame_cost × frames_used``. Choose it against the outcome scale: with
  ``correct - wrong = 2``, ``frame_cost = 0.005`` makes 40 frames cost a tenth of that range.
* ``R_format``: ``format_ok`` when every turn of the agent parsed (plan, revisions, answer), no
  reference dangled and no call was rejected for its arguments (a tool result of error kind
  ``bad_args`` or ``unknown_tool``); ``format_bad`` otherwise. With ``rewards.format_graded`` (a
  *departure from the paper*, off by default) it is graded instead:
  ``format_bad + (format_ok - format_bad) * share``, ``share`` the fraction of the agent's units —
  its turns and its executed calls — that were well formed (a turn that parsed; a call whose
  references resolved and whose arguments were accepted). Why: a student that writes one bad
  revision in every trajectory gets ``format_bad`` on every rollout, the group-relative advantage of
  the format term is then 0, and GRPO cannot learn to write fewer bad turns (measured on the
  verifying teacher's students, ``benchmarks/collaboration.md``).
* ``R_col``: the collaboration judge's 1/0 on the agent's planning trajectory, times
  ``col_weight``; more than ``max_tool_calls`` calls get ``col_over_budget`` instead (the
  paper's strong penalty). The **rule judge** gives 1 when all hold:
    1. feasibility — the plan parsed and has at least one step;
    2. appropriateness — every call the agent made succeeded, and at least one of them was
       question-aware: it returned a candidate that is a valid answer of the question's type (a
       letter of the options, a number, a span; :func:`m1.team.answers.parse_answer`). The answer then rests
       on evidence about the question, not on generic looks alone. A tool of the wrong kind (a
       grounding span for a size question) suits nothing the question asks, so it does not count;
    3. step management — no call repeated by the agent itself, and the trajectory ended by
       itself (plan exhausted or ``DONE``), not by the round limit: its last executed step is the
       last step of its last plan (``AgentTrace.plan_steps``, the indices as planned).
  The paper's judge is GPT-4o scoring the same three criteria; these rules make them checkable
  without an external service. :class:`LLMJudge` asks any OpenAI-compatible endpoint instead
  (``rewards.judge=llm``): the agent's trajectory rendered as text, the three criteria, a reply
  of ``1`` or ``0``; replies are cached (identical trajectories are judged once) and a reply
  that is neither counts as 0 and is counted in ``LLMJudge.unparseable``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from m1.config.rl import RewardConfig
from m1.data.scoring import score_question
from m1.schema import Question, ToolErrorKind
from m1.team.answers import parse_answer
from m1.team.plan import PlanFormatError
from m1.team.trace import AgentTrace, Episode
from m1.train.teachers import LLMTeacher


@dataclass(frozen=True)
class AgentReward:
    agent: int
    outcome: float
    format: float
    collaboration: float
    judge_ok: bool
    judge_reasons: tuple[str, ...]

    @property
    def total(self) -> float:
        return self.outcome + self.format + self.collaboration


_ARG_ERRORS = (ToolErrorKind.BAD_ARGS, ToolErrorKind.UNKNOWN_TOOL)  # calls the agent wrote wrongly


WRONG_KIND = "inappropriate: only candidates of the wrong kind"  # the judge's reason, for audits


def _answers(question: Question, candidate: str | None) -> bool:
    """Whether a tool's candidate is a valid answer to ``question`` (its type, its options)."""
    if candidate is None:
        return False
    try:
        parse_answer(candidate, question)
    except PlanFormatError:
        return False
    return True


def rule_judge(ep: Episode, a: AgentTrace) -> tuple[bool, tuple[str, ...]]:
    """The rule judge (module docstring); returns (ok, reasons it failed)."""
    reasons = []
    plan_turn = next((t for t in a.turns if t.kind == "plan"), None)
    if plan_turn is None or plan_turn.parsed is None or not a.steps:
        reasons.append("infeasible: no parsed plan with steps")
    entries = {e.id: e for e in ep.memory}
    own = [entries[s.memory_id] for s in a.steps]
    if any(e.error for e in own):
        reasons.append("inappropriate: a call failed")
    if own and not any(e.candidate is not None for e in own):
        reasons.append("inappropriate: no question-aware call")
    elif own and not any(_answers(ep.question, e.candidate) for e in own):
        reasons.append(WRONG_KIND)
    keys = [json.dumps([s.call.tool, s.call.args], sort_keys=True) for s in a.steps]
    if len(set(keys)) != len(keys):
        reasons.append("step management: repeated its own call")
    revisions = [t for t in a.turns if t.kind == "revision"]
    stopped = bool(revisions) and revisions[-1].parsed == "DONE"
    last_plan = a.plan_steps[-1] if a.plan_steps else []
    last_index = last_plan[-1].index if last_plan else 0
    exhausted = bool(a.steps) and a.steps[-1].step >= last_index
    if a.steps and not (stopped or exhausted):
        reasons.append("step management: cut off by the round limit")
    return not reasons, tuple(reasons)


JUDGE_SYSTEM = (
    "You judge one agent's planning trajectory in a team that answers questions about a video with tools. "
    "Reply 1 if ALL hold, else 0: (1) feasibility: the plan is executable and relevant to the question; "
    "(2) tool-call appropriateness: the tools and arguments suit the question and the calls succeeded; "
    "(3) step management: no wasted or repeated steps, and the agent stopped when it had enough evidence. "
    "Reply with the single character 1 or 0."
)


def render_trajectory(ep: Episode, a: AgentTrace) -> str:
    """The agent's trajectory as the judge reads it: question, plan, steps with results, revisions, answer."""
    q = ep.question
    lines = [f"Question: {q.question}"] + [f"  {o}" for o in q.lettered_options()]
    entries = {e.id: e for e in ep.memory}
    for t in a.turns:
        body = t.parsed if t.parsed is not None else f"(unparseable: {t.text[:120]!r})"
        if t.kind == "plan":
            lines.append(f"Plan:\n{body}")
        elif t.kind == "revision":
            for s in a.steps:
                if s.round == t.round:
                    e = entries[s.memory_id]
                    result = f"error: {e.error}" if e.error else " ".join(e.text.split())[:240]
                    lines.append(f"Step {s.step}: {s.call.tool} {json.dumps(s.call.args)} -> {result}")
            lines.append(f"Revision after round {t.round} (read {len(t.memory_seen)} team entries): {body}")
        else:
            lines.append(f"Answer: {body}")
    return "\n".join(lines)


class LLMJudge:
    """Collaboration judge over a chat function ``chat(messages) -> text`` (e.g. ``LLMTeacher.chat``:
    cached, rate-limited, retried)."""

    def __init__(self, chat):  # noqa: ANN001 - any callable taking OpenAI-style messages
        self.chat = chat
        self.unparseable = 0

    @classmethod
    def from_config(cls, cfg: RewardConfig) -> LLMJudge:
        return cls(LLMTeacher(cfg.judge_llm).chat)

    def __call__(self, ep: Episode, a: AgentTrace) -> tuple[bool, tuple[str, ...]]:
        reply = self.chat([{"role": "system", "content": JUDGE_SYSTEM},
                           {"role": "user", "content": render_trajectory(ep, a)}])
        m = re.search(r"[01]", reply or "")
        if m is None:
            self.unparseable += 1
            return False, (f"llm judge: unparseable reply {reply[:40]!r}",)
        return m.group(0) == "1", (() if m.group(0) == "1" else ("llm judge: 0",))


def agent_frames(ep: Episode, a: AgentTrace) -> int:
    """Frames the agent's own calls decoded (0 for calls served from the episode cache)."""
    return sum(ep.memory[st.memory_id].frames for st in a.steps)


def format_reward(ep: Episode, a: AgentTrace, cfg: RewardConfig) -> float:
    """``R_format`` of agent ``a`` (module docstring): all-or-nothing, or graded by the share of
    well-formed units with ``cfg.format_graded``."""
    bad_steps = sum(1 for st in a.steps if st.ref_error or ep.memory[st.memory_id].error_kind in _ARG_ERRORS)
    bad_turns = sum(1 for t in a.turns if t.error_kind)
    if not cfg.format_graded:
        return cfg.format_bad if (bad_turns or bad_steps) else cfg.format_ok
    units = len(a.turns) + len(a.steps)
    share = 1.0 - (bad_turns + bad_steps) / units if units else 0.0
    return cfg.format_bad + (cfg.format_ok - cfg.format_bad) * share


def agent_rewards(ep: Episode, cfg: RewardConfig | None = None, judge=None) -> list[AgentReward]:  # noqa: ANN001
    """Rewards of every active agent of ``ep``, in agent order. ``judge(ep, agent) -> (ok, reasons)``
    defaults to :func:`rule_judge`."""
    cfg = cfg or RewardConfig()
    judge = judge or rule_judge
    team_s = score_question(ep.question, ep.final_answer).score
    out = []
    for a in ep.agents:
        own_s = score_question(ep.question, a.answer).score
        s = {"team": team_s, "agent": own_s, "mixed": (team_s + own_s) / 2}[cfg.outcome]
        r_res = cfg.wrong + (cfg.correct - cfg.wrong) * s - cfg.frame_cost * agent_frames(ep, a)
        r_fmt = format_reward(ep, a, cfg)
        ok, reasons = judge(ep, a)
        if len(a.steps) > cfg.max_tool_calls:
            r_col = cfg.col_over_budget
            reasons = (*reasons, f"over budget: {len(a.steps)} > {cfg.max_tool_calls} tool calls")
            ok = False
        else:
            r_col = cfg.col_weight * float(ok)
        out.append(AgentReward(a.agent, r_res, r_fmt, r_col, ok, reasons))
    return out
