"""Collaborative Policy Planning: one episode of a team of policy agents on one question.

The loop (:func:`run_episode`):

1. **Generate** — every active agent writes a plan (:func:`m1.team.plan.parse_plan`). A plan that
   does not parse is recorded (format error) and leaves the agent with no steps; it still answers.
2. **Execute** — in each round, every agent with steps left runs its next step: ``$K.field``
   references are resolved against its own earlier results, and the call goes to the tool
   back-end. Identical calls (same tool, same resolved arguments) within the episode run once;
   later callers get the cached result with 0 frames. Every result is appended to the shared
   memory (:class:`m1.team.memory.SharedMemory`).
3. **Communicate** — each agent that ran a step reads the memory entries its topology lets it
   see (:class:`m1.team.topology.Topology`) and answers ``KEEP`` (run the rest), ``DONE`` (stop) or a
   new remaining plan. An unparseable revision counts as ``KEEP`` and is recorded. Steps 2-3
   alternate until no agent has steps left, ``cpp.max_rounds`` is reached, or an agent reaches
   ``cpp.max_steps``.
4. **Answer** — each agent answers from its own results and the memory it may see.
   Aggregation: multiple choice → majority vote over parseable answers; a tie goes to the
   tied option chosen by the agent of highest priority (the summariser first, then by index).
   The summariser: ``cpp.summariser`` if set, else the team's best agent on a validation split as
   stored by ``m1 models choose-summariser`` (:func:`team_summariser`), else the last agent.
   Numeric → the median of parseable answers (or the summariser's, by config). Grounding and
   open-ended → the summariser's answer, written from the *whole* memory; if it is dropped or
   unparseable, the highest-priority parseable answer — except open-ended lists with a structured
   reference, voted item by item over every agent's answer (``cpp.open_ended_aggregation``, default
   ``"item_vote"``; ``"summariser"`` is the paper's rule for them too).

Generation and tool execution go through two small back-end interfaces (:class:`TeamBackend`,
:class:`ToolBackend`) so the same loop runs in-process (:class:`LocalTeam`, :class:`ToolRunner`)
or on Ray (``actors/``), with identical traces for the same seed: every generation gets its own
seed derived from (episode seed, agent, phase, round). A :class:`GenRequest` carries, beside the
rendered prompt, what the prompt asks as structure (phase, question, round, the evidence lines
and remaining plan it shows), so no back-end reads the prompt text to learn what it is asked.
"""

from __future__ import annotations

import json
import re
import statistics
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from m1.checkpoint import TeamDir, agent_dir, load_tokenizer, template_overhead, token_counter
from m1.config.cpp import CPPConfig
from m1.config.engine import EngineConfig
from m1.config.sampling import SamplingConfig
from m1.config.tools import ToolsConfig
from m1.config.video import VideoConfig
from m1.data.scoring import open_metric
from m1.engines.base import Completion, SamplingSettings
from m1.schema import Question, TaskType, ToolCall, ToolErrorKind, ToolResult, ToolSpec
from m1.seeding import derive_seed
from m1.team.answers import answer_budget, answer_pattern, parse_answer, vote_items
from m1.team.memory import MemoryEntry, SharedMemory
from m1.team.plan import (
    Evidence,
    Plan,
    PlanFormatError,
    PlanStep,
    PromptLimits,
    TokenCounter,
    UnresolvedRefError,
    compose_answer_prompt,
    compose_revision_prompt,
    parse_plan,
    parse_revision,
    render_plan_prompt,
    resolve_refs,
)
from m1.team.topology import Topology
from m1.team.trace import AgentTrace, Episode, ToolStep, Turn

# ------------------------------------------------------------------------------- back-ends


class Phase(StrEnum):
    """The three moments an agent writes at: its plan, a revision after a round, its answer."""

    PLAN = "plan"
    REVISION = "revision"
    ANSWER = "answer"


@dataclass(frozen=True)
class GenRequest:
    """One generation for one agent: the rendered ``prompt`` and, as structure, what it asks.

    Back-ends that need more than the prompt's tokens (the teacher, serving's progress events)
    read the fields, never the prompt text. Picklable: it crosses Ray actor boundaries."""

    agent: int
    prompt: str
    settings: SamplingSettings
    phase: Phase
    question: Question
    round: int  # as Turn.round: 0 for the plan, k for the revision after round k, -1 for the answer
    label: str  # the agent's citation label (``a2``): its own evidence lines carry it
    evidence: tuple[Evidence, ...] = ()  # the evidence lines the prompt shows, in order (as shown)
    plan: tuple[PlanStep, ...] = ()  # revision: the remaining plan the prompt shows
    next_step: int = 1  # revision: the number a new remaining plan starts from (the agent's steps so far + 1)


class TeamBackend(Protocol):
    """Generation for a team. ``generate`` returns one completion per request, in order."""

    names: list[str]
    labels: list[int]  # citation labels (``a<label>.<step>``); optional, see :func:`agent_labels`

    def counter(self, agent: int) -> TokenCounter: ...

    def limits(self, agent: int, max_new_tokens: int, entry_tokens: int) -> PromptLimits: ...

    def generate(self, requests: Sequence[GenRequest]) -> list[Completion]: ...

    def update_weights(self, agent: int, state: dict[str, Any]) -> None:
        """Load new weights (HF names) into ``agent``'s engine (after a learner step)."""
        ...


class PromptBudgets:
    """Each agent's prompt accounting, the base of every team back-end (in-process, teacher, Ray): its
    own tokenizer counts its prompt text (a mixed team mixes vocabularies), and its context limit
    loses the tokens its chat or base template adds around that text."""

    def __init__(self, tokenizers: Sequence[Any], max_contexts: Sequence[int]):
        if len(tokenizers) != len(max_contexts):
            raise ValueError(f"{len(tokenizers)} tokenizers for {len(max_contexts)} agents")
        self.max_contexts = [c - template_overhead(t) for c, t in zip(max_contexts, tokenizers, strict=True)]
        self._counts = [token_counter(t) for t in tokenizers]

    @staticmethod
    def per_agent(tokenizer: Any, n: int) -> list[Any]:
        """One tokenizer per agent from one for the team or a sequence of ``n``."""
        toks = list(tokenizer) if isinstance(tokenizer, list | tuple) else [tokenizer] * n
        if len(toks) != n:
            raise ValueError(f"{len(toks)} tokenizers for {n} agents")
        return toks

    def counter(self, agent: int) -> TokenCounter:
        return self._counts[agent]

    def limits(self, agent: int, max_new_tokens: int, entry_tokens: int) -> PromptLimits:
        return PromptLimits(max_context=self.max_contexts[agent], max_new_tokens=max_new_tokens,
                            entry_tokens=entry_tokens)


class ToolBackend(Protocol):
    """Tool execution for many episodes; ``run`` never raises for a bad call (ToolResult.error)."""

    def run(self, episode_id: str, question: Question, calls: Sequence[ToolCall]) -> list[ToolResult]: ...

    def end(self, episode_id: str) -> None:
        """Forget the episode (free its per-episode state)."""
        ...


class MemoryBackend(Protocol):
    """The shared memory's interface (:class:`m1.team.memory.SharedMemory` or its Ray actor proxy)."""

    def open(self, episode_id: str, topology: Topology) -> None: ...

    def append(self, episode_id: str, agent: int, step: int, result: ToolResult) -> MemoryEntry: ...

    def read(self, episode_id: str, reader: int, after: int = -1, everything: bool = False) -> list[MemoryEntry]: ...

    def close(self, episode_id: str) -> list[MemoryEntry]: ...


class LocalTeam(PromptBudgets):
    """In-process team: one :class:`~m1.engines.base.Generator` per agent, and one tokenizer for
    the team or one per agent (a mixed team: a pretrained model's beside the project's)."""

    def __init__(self, names: Sequence[str], generators: Sequence[Any], tokenizer: Any, max_contexts: Sequence[int],
                 labels: Sequence[int] | None = None):
        if not (len(names) == len(generators) == len(max_contexts)):
            raise ValueError("names, generators and max_contexts must have the same length")
        self.names = list(names)
        self.labels = check_labels(labels, len(names))
        self.generators = list(generators)
        self.tokenizers = PromptBudgets.per_agent(tokenizer, len(self.names))
        self.tokenizer = self.tokenizers[0]
        super().__init__(self.tokenizers, max_contexts)

    @classmethod
    def from_dir(cls, team_dir: str, team_cfg: Any, dtype: str = "float32", engine_cfg: Any = None) -> LocalTeam:
        """Load a team written by ``m1 models init`` (or with real checkpoint paths, or endpoint agents)."""
        from m1.engines import make_engine

        ecfg = engine_cfg if engine_cfg is not None else EngineConfig(dtype=dtype)
        dirs = [agent_dir(team_dir, spec) for spec in team_cfg.agents]
        gens = [make_engine(spec.engine, d, ecfg, spec=spec) for spec, d in zip(team_cfg.agents, dirs, strict=True)]
        # every engine in this process holds its tokenizer, except vLLM's subprocess client
        toks = [g.tokenizer if hasattr(g, "tokenizer") else load_tokenizer(d) for g, d in zip(gens, dirs, strict=True)]
        return cls([a.name for a in team_cfg.agents], gens, toks, [a.max_context for a in team_cfg.agents],
                   team_cfg.labels)

    def generate(self, requests: Sequence[GenRequest]) -> list[Completion]:
        return [self.generators[r.agent].generate([r.prompt], r.settings)[0] for r in requests]

    def update_weights(self, agent: int, state: dict[str, Any]) -> None:
        self.generators[agent].update_weights(state)


class ToolRunner:
    """In-process tool back-end (also the body of the Ray ``ToolWorkerActor``): one
    :class:`~m1.tools.context.ToolContext` per open episode over a shared video store."""

    def __init__(self, tools_cfg: Any = None, video_cfg: Any = None):
        from m1.tools.context import VideoStore

        self.tools_cfg = tools_cfg or ToolsConfig()
        self.store = VideoStore(video_cfg or VideoConfig())
        self._contexts: dict[str, Any] = {}

    def run(self, episode_id: str, question: Question, calls: Sequence[ToolCall]) -> list[ToolResult]:
        from m1.tools.context import ToolContext
        from m1.tools.registry import execute

        ctx = self._contexts.get(episode_id)
        if ctx is None:
            ctx = self._contexts[episode_id] = ToolContext(question.video, question, self.tools_cfg, self.store)
        return [execute(c, ctx) for c in calls]

    def end(self, episode_id: str) -> None:
        self._contexts.pop(episode_id, None)


# ------------------------------------------------------------------------------ the loop


def _call_key(call: ToolCall) -> str:
    return json.dumps({"tool": call.tool, "args": call.args}, sort_keys=True, separators=(",", ":"))


def _turn(kind: str, rnd: int, prompt: str, c: Completion, memory_seen: list[int]) -> Turn:
    return Turn(kind=kind, round=rnd, prompt=prompt, prompt_ids=c.prompt_ids, completion_ids=c.completion_ids,
                logprobs=c.logprobs, text=c.text, finish_reason=c.finish_reason, memory_seen=memory_seen)


def check_labels(labels: Sequence[int] | None, n: int) -> list[int]:
    """``labels`` as a list (default ``0..n-1``), checked: one per agent, distinct, not negative."""
    out = list(range(n)) if labels is None else [int(x) for x in labels]
    if len(out) != n or len(set(out)) != n or min(out, default=0) < 0:
        raise ValueError(f"citation labels {out} must be {n} distinct non-negative numbers, one per agent")
    return out


def agent_labels(team: Any) -> list[int]:
    """The team's citation labels: ``team.labels`` where the backend sets it, else the positions."""
    return check_labels(getattr(team, "labels", None), len(team.names))


def _evidence(e: MemoryEntry, labels: Sequence[int]) -> Evidence:
    """A memory entry as one prompt line. A tool's candidate goes first (tool texts end with it, and
    prompts clip each line to ``cpp.entry_tokens``): copying a marked candidate is what a tiny
    policy learns fastest (DESIGN.md, calibration)."""
    agent = f"a{labels[e.agent]}"
    if e.error:
        return Evidence(agent=agent, step=e.step, tool=e.tool, text=f"error: {e.error}")
    if e.candidate is not None:
        return Evidence(agent=agent, step=e.step, tool=e.tool, text=_CANDIDATE_TAIL.sub("", e.text).strip(),
                        candidate=e.candidate, confidence=e.confidence)
    return Evidence(agent=agent, step=e.step, tool=e.tool, text=e.text)


_CANDIDATE_TAIL = re.compile(r"\s*candidate=.*?conf=[0-9.]+\s*$", re.S)


class StaleSummariserWarning(UserWarning):
    """A team's stored summariser choice names no agent of the team as configured now."""


def summariser_index(names: Sequence[str], cfg: CPPConfig, stored: str | None = None) -> int:
    """The summariser's index in ``names``: an explicit ``cpp.summariser`` (an error if it is not in
    the team) > ``stored``, the team's own choice (``m1 models choose-summariser``) > the last agent.

    A stored choice that names no agent of ``names`` — the team narrowed by ``team.use``, or agents
    renamed since — is ignored with a :class:`StaleSummariserWarning`, not an error: the choice
    belongs to the team folder, which stays usable under any narrowing of its agents."""
    if cfg.summariser is not None:
        if cfg.summariser not in names:
            raise ValueError(f"cpp.summariser = {cfg.summariser!r} is not an agent of the team {list(names)}")
        return list(names).index(cfg.summariser)
    if stored is not None:
        if stored in names:
            return list(names).index(stored)
        warnings.warn(f"the team's chosen summariser {stored!r} is not an agent of the team {list(names)} "
                      f"(narrowed by team.use, or renamed?); using the last agent, {names[-1]!r}. Rerun "
                      "`m1 models choose-summariser` or set cpp.summariser", StaleSummariserWarning, stacklevel=2)
    return len(names) - 1


def team_summariser(cfg: CPPConfig, names: Sequence[str], team_dir: str | Path) -> CPPConfig:
    """``cfg`` with ``summariser`` set to the choice stored in ``team_dir``'s manifest when it is
    not set explicitly (precedence in :func:`summariser_index`). Every command that loads a team
    folder (``m1 eval``, ``m1 ask``, serving, lmms-eval, MARL) resolves it once this way, so the
    resolved name is part of the settings it records (an eval's ``run.json``)."""
    if cfg.summariser is not None:
        return cfg
    td = TeamDir(team_dir)
    choice = td.summariser_choice() if td.exists() else None
    if choice is None:
        return cfg
    name = list(names)[summariser_index(names, cfg, choice["agent"])]
    return cfg.model_copy(update={"summariser": name}) if name == choice["agent"] else cfg


def aggregate(
    question: Question, answers: dict[int, str | None], summariser: int, cfg: CPPConfig,
    scores: dict[int, float] | None = None,
) -> tuple[str | None, str, dict[str, int]]:
    """Combine per-agent answers (None = unparseable/absent) into the team's answer.

    Returns (answer, method, votes). Rules in the module docstring (``cpp.aggregation="vote"``).
    The paper's alternatives, for its ablation: ``"summariser"`` (agent decision: the summariser's
    answer for every task type) and ``"top_score"`` (the answer its agent was most sure of: highest
    mean token log-prob in ``scores``; ties by priority).
    """
    priority = [summariser] + sorted(a for a in answers if a != summariser)
    valid = {a: v for a, v in answers.items() if v is not None}
    tt = question.task_type
    if not valid:
        return None, "none", {}
    if cfg.aggregation == "top_score":
        sc = scores or {}
        best_score = max(sc.get(a, float("-inf")) for a in valid)
        chosen = next(a for a in priority if a in valid and sc.get(a, float("-inf")) == best_score)
        return valid[chosen], "top_score", {}
    if cfg.aggregation == "summariser":
        return valid[next(a for a in priority if a in valid)], "summariser", {}
    if tt == TaskType.MULTIPLE_CHOICE:
        votes = Counter(valid.values())
        best = max(votes.values())
        tied = {v for v, n in votes.items() if n == best}
        winner = next(valid[a] for a in priority if a in valid and valid[a] in tied)
        return winner, "vote", dict(sorted(votes.items()))
    if tt == TaskType.NUMERIC and cfg.numeric_aggregation == "median":
        med = statistics.median(float(v) for v in valid.values())
        return (str(int(med)) if med == int(med) else f"{med:.6g}"), "median", {}
    if cfg.open_ended_aggregation == "item_vote" and (kind := open_metric(question)) is not None:
        return vote_items([valid[a] for a in priority if a in valid], kind), "item_vote", {}
    chosen = next(a for a in priority if a in valid)
    return valid[chosen], "summariser", {}


def run_episode(
    question: Question,
    team: TeamBackend,
    tools: ToolBackend,
    topology: Topology,
    catalogue: Sequence[ToolSpec],
    cfg: CPPConfig | None = None,
    sampling: SamplingConfig | None = None,
    seed: int = 0,
    episode_id: str | None = None,
    memory: MemoryBackend | None = None,
) -> Episode:
    """Run one CPP episode and return its complete trace (see the module docstring).

    ``sampling`` is how every generation samples — the caller's ``sampling.train`` (MARL rollouts)
    or ``sampling.eval`` (everything else); None is greedy, ``sampling.eval``'s default.

    Frames are counted as the sum of ``frames_used`` over executed calls: each call reports the
    frames *new to the episode's tool context*, so the sum is the number of distinct frames the
    episode needed (a worker replaced after a crash starts a fresh context; frames it decodes
    again are counted again, because they were decoded again)."""
    cfg = cfg or CPPConfig()
    t_start = time.perf_counter()
    n = len(team.names)
    if topology.num_agents != n:
        raise ValueError(f"topology has {topology.num_agents} agents, the team {n}")
    episode_id = episode_id or f"{question.qid}#{seed}"
    summ = summariser_index(team.names, cfg)
    labels = agent_labels(team)
    active = topology.active_agents
    memory = memory if memory is not None else SharedMemory()
    memory.open(episode_id, topology)
    traces = {i: AgentTrace(agent=i, name=team.names[i]) for i in active}
    remaining: dict[int, list[PlanStep]] = {i: [] for i in active}
    results: dict[int, dict[int, ToolResult]] = {i: {} for i in active}
    cache: dict[str, ToolResult] = {}
    tool_calls, tool_seconds, frames = 0, 0.0, 0

    sample_with = sampling if sampling is not None else SamplingConfig.greedy()

    def settings(agent: int, kind: str, rnd: int, max_new: int) -> SamplingSettings:
        return SamplingSettings.from_config(sample_with, max_new_tokens=max_new,
                                            seed=derive_seed(seed, agent, kind, rnd) % (2**63))

    def limits(agent: int, max_new: int) -> PromptLimits:
        return team.limits(agent, max_new, cfg.entry_tokens)

    # 1. generate plans
    reqs = [GenRequest(i, render_plan_prompt(question, catalogue, limits(i, cfg.plan_tokens), team.counter(i)),
                       settings(i, "plan", 0, cfg.plan_tokens), Phase.PLAN, question, 0, f"a{labels[i]}")
            for i in active]
    for r, c in zip(reqs, team.generate(reqs), strict=True):
        turn = _turn("plan", 0, r.prompt, c, [])
        try:
            plan = parse_plan(c.text, catalogue, first_step=1, max_steps=cfg.max_steps)
            remaining[r.agent] = plan.steps
            turn.parsed = plan.render()
            traces[r.agent].plans.append(plan.render())
            traces[r.agent].plan_steps.append(list(plan.steps))
        except PlanFormatError as e:
            turn.error, turn.error_kind = str(e), e.kind.value
        traces[r.agent].turns.append(turn)

    # 2-3. execute and communicate
    for rnd in range(1, cfg.max_rounds + 1):
        runners = [i for i in active if remaining[i] and len(traces[i].steps) < cfg.max_steps]
        if not runners:
            break
        planned: dict[int, tuple[PlanStep, ToolCall, str | None]] = {}
        for i in runners:
            step = remaining[i].pop(0)
            try:
                call, ref_error = ToolCall(tool=step.tool, args=resolve_refs(step.args, results[i])), None
            except UnresolvedRefError as e:
                call, ref_error = ToolCall(tool=step.tool, args=step.args), str(e)  # a format error, not a tool's
            planned[i] = (step, call, ref_error)
        fresh: dict[str, ToolCall] = {}
        for _step, call, ref_error in planned.values():
            key = _call_key(call)
            if ref_error is None and key not in cache:
                fresh.setdefault(key, call)
        if fresh:
            outs = tools.run(episode_id, question, list(fresh.values()))
            for key, res in zip(fresh, outs, strict=True):
                cache[key] = res
                tool_calls += 1
                tool_seconds += res.seconds
                frames += res.frames_used
        served: set[str] = set(fresh)
        for i in runners:
            step, call, ref_error = planned[i]
            key = _call_key(call)
            if ref_error is not None:
                res, cached = ToolResult.failure(call, ToolErrorKind.UNRESOLVED_REF, ref_error), False
            elif key in served:  # first user of a call executed this round
                res, cached = cache[key], False
                served.discard(key)
            else:
                res, cached = cache[key].model_copy(update={"frames_used": 0, "seconds": 0.0}), True
            results[i][step.index] = res
            entry = memory.append(episode_id, i, step.index, res)
            traces[i].steps.append(ToolStep(step=step.index, round=rnd, call=call, memory_id=entry.id,
                                            cached=cached, ref_error=ref_error))
        if not cfg.revise:
            continue
        reqs, seen = [], {}
        for i in runners:
            visible = [e for e in memory.read(episode_id, i) if e.agent != i]
            own = [_evidence(e, labels) for e in memory.read(episode_id, i) if e.agent == i]
            seen[i] = [e.id for e in visible]
            prompt = compose_revision_prompt(
                question, catalogue, Plan(steps=remaining[i]), own, [_evidence(e, labels) for e in visible],
                limits(i, cfg.revision_tokens), team.counter(i),
            )
            reqs.append(GenRequest(i, prompt.text, settings(i, "revision", rnd, cfg.revision_tokens), Phase.REVISION,
                                   question, rnd, f"a{labels[i]}", tuple(prompt.evidence), tuple(remaining[i]),
                                   len(traces[i].steps) + 1))
        for r, c in zip(reqs, team.generate(reqs), strict=True):
            turn = _turn("revision", rnd, r.prompt, c, seen[r.agent])
            try:
                rev = parse_revision(c.text, catalogue, r.next_step,
                                     max_steps=max(1, cfg.max_steps - len(traces[r.agent].steps)))
                turn.parsed = rev.render()
                if rev.action == "replace":
                    remaining[r.agent] = rev.steps
                    traces[r.agent].plans.append(rev.render())
                    traces[r.agent].plan_steps.append(list(rev.steps))
            except PlanFormatError as e:
                turn.error, turn.error_kind = str(e), e.kind.value
            traces[r.agent].turns.append(turn)

    # 4. answer
    reqs, seen, cited = [], {}, {}
    for i in active:
        everything = i == summ and question.task_type in (TaskType.GROUNDING, TaskType.OPEN_ENDED)
        entries = memory.read(episode_id, i, everything=everything)
        seen[i] = [e.id for e in entries if e.agent != i]
        # own results last: fit_evidence keeps the newest lines when the budget is short
        ordered = [e for e in entries if e.agent != i] + [e for e in entries if e.agent == i]
        lines = [_evidence(e, labels) for e in ordered]
        prompt = compose_answer_prompt(question, lines, limits(i, cfg.answer_tokens), team.counter(i))
        # citable lines: those that made it into the prompt (fit_evidence drops the oldest first)
        kept = {ev.label for ev in prompt.evidence}
        cited[i] = {ev.label: e.candidate for ev, e in zip(lines, ordered, strict=True)
                    if e.candidate is not None and not e.error and ev.label in kept}
        how = settings(i, "answer", 0, cfg.answer_tokens)
        if cfg.constrain_answers:
            how = how.model_copy(update={"pattern": answer_pattern(question, cited[i])})
            need = answer_budget(question, cited[i])
            if need is not None and need > cfg.answer_tokens:
                warnings.warn(f"cpp.answer_tokens={cfg.answer_tokens} can cut off a constrained "
                              f"{question.task_type.value} answer, which may take {need} tokens; a cut-off "
                              "answer does not parse", stacklevel=2)
        reqs.append(GenRequest(i, prompt.text, how, Phase.ANSWER, question, -1, f"a{labels[i]}",
                               tuple(prompt.evidence)))
    answers: dict[int, str | None] = {}
    scores: dict[int, float] = {}
    for r, c in zip(reqs, team.generate(reqs), strict=True):
        scores[r.agent] = sum(c.logprobs) / len(c.logprobs) if c.logprobs else float("-inf")
        turn = _turn("answer", -1, r.prompt, c, seen[r.agent])
        try:
            ans = parse_answer(c.text, question, cited[r.agent])
            turn.parsed = ans.value
            answers[r.agent] = traces[r.agent].answer = ans.value
        except PlanFormatError as e:
            turn.error, turn.error_kind = str(e), e.kind.value
            answers[r.agent] = None
        traces[r.agent].turns.append(turn)

    final, method, votes = aggregate(question, answers, summ, cfg, scores)
    tools.end(episode_id)
    log = memory.close(episode_id)
    return Episode(
        episode_id=episode_id, seed=seed, question=question, team=list(team.names), topology=topology,
        agents=[traces[i] for i in active], memory=log, final_answer=final, aggregation=method, votes=votes,
        summariser=summ if topology.active[summ] else None, frames_used=frames, tool_calls=tool_calls,
        tool_seconds=tool_seconds, wall_seconds=time.perf_counter() - t_start,
    )

