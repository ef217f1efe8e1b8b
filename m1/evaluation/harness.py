"""Evaluation harness: run a *system* over a benchmark's questions, stream its predictions to disk,
resume an interrupted run, and score it officially with the paper's efficiency accounting.

Systems (:class:`EvalSystem`, one question at a time):

- ``team`` — the CPP team on the complete topology (:class:`TeamSystem`);
- ``no_comm`` — the same team on a topology without edges: every agent plans, runs and answers
  alone, and only the final aggregation combines them;
- ``solver`` — the reference solver (:mod:`m1.tools.solver`), a fixed tool plan per question family;
- ``no_tools`` — one agent of the team, no plan and no tool choice: its only evidence is the text
  of one ``global_sampling`` call (n uniformly sampled frame descriptions), one line per frame,
  given to the answer prompt (:class:`NoToolsSystem`);
- ``solo`` — one agent of the team running the CPP loop with tools alone (only it active, in the
  summariser's role; :func:`solo_topology`): the "best single agent" beside the team when the agent
  is the team's chosen summariser (``m1 models choose-summariser``), the default.

:func:`run_system` appends one JSON line per *finished* question to ``<dir>/predictions.jsonl``
(flushed at once, so an interruption loses only the questions in flight) and, on a rerun, skips
every qid already there. A torn last line (a crash in the middle of a write) is cut off and its
question rerun; anything else malformed, or a qid twice, is an :class:`EvalError`, not a guess.
While a run writes ``<dir>``, it holds ``<dir>/.lock``: a second run into the same directory, which
would write every question both have to answer twice, is refused with the first's pid. The directory's
files — the :class:`Prediction` lines, ``run.json`` and the lock — are :mod:`m1.evaluation.predictions`'.
A question whose answer met a tool error (a hung tool's timeout, often only because the machine was
loaded) still counts; ``retry_tool_errors`` drops those answers and asks the questions again, so a run
made under load can be brought to what a quiet machine gives without redoing the rest.
``<dir>/run.json`` records what produced the predictions (benchmark, split, data, system, team,
settings, the tools config and the tools' code fingerprint, :func:`m1.tools.code_fingerprint`); a rerun
with different ones is refused instead of mixing two systems' answers. Its ``provenance`` (git commit)
is recorded, not compared.

:func:`system_metrics` scores with the benchmark's official rules (:func:`m1.data.score`) and adds
frames and seconds per query (mean, median, p90), tool calls, parse rates and — for teams — each
agent's own answers scored alone. Reports are written by :mod:`m1.evaluation.report`.

Not here: loading files (:mod:`m1.data`), the CPP loop (:mod:`m1.team.cpp`), Ray wiring
(``actors.rollout``). ``m1.evaluation.summary`` is a smaller helper for the SFT record on M1-Synth families
(its results need video durations) and holds the per-family summary of the training-side tables; both score
with the one scorer (:func:`m1.data.scoring.score_question`); this harness scores any benchmark.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from m1.config.cpp import CPPConfig
from m1.config.sampling import SamplingConfig
from m1.config.tools import ToolsConfig
from m1.config.video import VideoConfig
from m1.data import score
from m1.engines.base import SamplingSettings
from m1.evaluation.predictions import (
    MANIFEST,
    PREDICTIONS,
    PROVENANCE,
    EvalError,
    Prediction,
    check_manifest,
    held,
    provenance,
    read_predictions,
)
from m1.schema import Question, ToolCall, ToolResult, ToolSpec
from m1.seeding import derive_seed
from m1.team.answers import parse_answer
from m1.team.cpp import GenRequest, Phase, agent_labels, aggregate, run_episode, summariser_index
from m1.team.plan import Evidence, PlanFormatError, compose_answer_prompt
from m1.team.topology import Topology, complete_topology

SYSTEMS = ("team", "no_comm", "solver", "no_tools", "solo", "endpoint_team")
METRICS = "metrics.json"


class EvalSystem(Protocol):
    """Something that answers questions. ``settings()`` identifies its predictions for resume."""

    name: str
    concurrency: int

    def predict(self, q: Question) -> Prediction: ...

    def settings(self) -> dict[str, Any]: ...


def question_seed(seed: int, qid: str) -> int:
    """The seed of one question's episode: fixed by (run seed, qid), so a resumed run and a
    fresh one sample identically whatever the order questions finish in."""
    return derive_seed(seed, "eval", qid) % (2**63)


def no_comm_topology(num_agents: int) -> Topology:
    """Every agent active, no edges: each reads only its own memory entries."""
    return Topology(num_agents=num_agents, active=(True,) * num_agents, edges=(), kind="no_comm")


def solo_topology(num_agents: int, agent: int) -> Topology:
    """Only ``agent`` takes part: it plans, calls tools, revises from its own results and answers."""
    if not 0 <= agent < num_agents:
        raise EvalError(f"agent index {agent} is not in a team of {num_agents}")
    return Topology(num_agents=num_agents, active=tuple(i == agent for i in range(num_agents)), edges=(),
                    kind="solo")


# ---------------------------------------------------------------------------------- systems


def prediction_from_episode(system: str, ep: Any) -> Prediction:
    """A :class:`Prediction` from a CPP :class:`~m1.team.trace.Episode`."""
    n = max(1, len(ep.agents))
    plans = sum(1 for a in ep.agents if a.turns and a.turns[0].kind == "plan" and a.turns[0].parsed is not None)
    errors = [e.error for e in ep.memory if e.error]
    return Prediction(
        qid=ep.question.qid, system=system, prediction=ep.final_answer or "", frames=ep.frames_used,
        seconds=ep.wall_seconds, tool_calls=ep.tool_calls, tool_seconds=ep.tool_seconds,
        agent_answers={a.name: a.answer for a in ep.agents}, agent_scores={a.name: answer_score(a) for a in ep.agents},
        aggregation=ep.aggregation, plan_parse=plans / n,
        answer_parse=sum(1 for a in ep.agents if a.answer is not None) / n,
        error=f"{len(errors)} tool error(s), first: {errors[0]}" if errors else None)


def answer_score(trace: Any) -> float | None:
    """An agent's mean token log-prob over its answer turn, as ``run_episode`` scores it for
    ``cpp.aggregation=top_score`` (None: no answer turn, or no log-probs)."""
    turn = next((t for t in reversed(trace.turns) if t.kind == "answer"), None)
    return sum(turn.logprobs) / len(turn.logprobs) if turn is not None and turn.logprobs else None


def records_team_answers(pred: Prediction) -> bool:
    """Whether ``pred`` holds a team's answers that :func:`reaggregate` can aggregate again (not a
    single agent's or the solver's, and not an episode that failed before the agents answered)."""
    return pred.aggregation not in ("single", "solver") and bool(pred.agent_answers)


# CPP settings added after runs were recorded, and the value each such run used: a run.json without
# the key aggregated that way, whatever today's default is
_PREDATES = {"open_ended_aggregation": "summariser"}


def recorded_cpp(cpp: dict[str, Any]) -> dict[str, Any]:
    """The CPP settings a recorded run (``run.json``'s ``settings.cpp``) ran under, with the settings
    added since filled with the value that reproduces it (not today's default): what to build the
    :class:`CPPConfig` of :func:`reaggregate` from."""
    return {**_PREDATES, **cpp}


def reparsed(value: str | None, question: Question) -> str | None:
    """A recorded agent answer parsed again by today's :func:`~m1.team.answers.parse_answer` (None when
    it now fails): what a run today would aggregate, where the parser has become stricter since the
    run (e.g. a structured open-ended list that is an evidence label). A recorded value is canonical,
    so one that still parses is unchanged."""
    if value is None:
        return None
    try:
        return parse_answer(value, question).value
    except PlanFormatError:
        return None


def reaggregate(pred: Prediction, question: Question, agents: Sequence[str], cfg: CPPConfig,
                reparse: bool = False) -> Prediction:
    """``pred`` with the team's answer chosen again by ``cfg``'s aggregation rule from the agents' own
    answers it recorded — exactly the answer the episode would have given under that rule, since
    aggregation runs after every agent has answered and changes nothing before it. ``agents`` is the
    team's agent order (``run.json``'s ``settings.agents``), which sets the summariser and the ties.
    ``top_score`` needs the recorded ``agent_scores``. A ``cfg.summariser`` other than the run's is
    exact only for a complete topology: elsewhere the summariser of grounding and open-ended
    questions reads more of the memory than the other agents did. ``reparse``: the agents' answers
    are first parsed again by today's parser (:func:`reparsed`); exact too, since an answer is parsed
    after it is generated and nothing but the aggregation reads the parsed value."""
    if not records_team_answers(pred):
        raise EvalError(f"{pred.qid}: a {pred.system!r} prediction (aggregation {pred.aggregation!r}) records no "
                        "team of answers to aggregate again")
    index = {name: i for i, name in enumerate(agents)}
    unknown = sorted(set(pred.agent_answers) - set(index))
    if unknown:
        raise EvalError(f"{pred.qid}: agents {unknown} are not in the team {list(agents)}")
    if cfg.aggregation == "top_score" and not pred.agent_scores:
        raise EvalError(f"{pred.qid}: top_score needs each agent's answer log-prob; these predictions were "
                        "written before they were recorded (agent_scores) — evaluate again")
    scores = {index[a]: float("-inf") if s is None else s for a, s in pred.agent_scores.items()}
    answers = {index[a]: reparsed(v, question) if reparse else v for a, v in pred.agent_answers.items()}
    final, method, _ = aggregate(question, answers, summariser_index(agents, cfg), cfg, scores)
    return pred.model_copy(update={"system": f"{pred.system}@{cfg.aggregation}", "prediction": final or "",
                                   "aggregation": method})


class TeamSystem:
    """The CPP team on a fixed topology (``team``: complete; ``no_comm``: no edges), sampling with
    ``sampling`` (``m1 eval`` passes ``sampling.eval``; None: greedy)."""

    def __init__(self, name: str, backends: Any, catalogue: Sequence[ToolSpec], cpp: CPPConfig, topology: Topology,
                 seed: int, team_dir: str, concurrency: int = 1, sampling: SamplingConfig | None = None):
        if topology.num_agents != len(backends.team.names):
            raise EvalError(f"{name}: topology has {topology.num_agents} agents, the team {len(backends.team.names)}")
        self.name, self.b, self.catalogue, self.cpp = name, backends, list(catalogue), cpp
        self.sampling = sampling if sampling is not None else SamplingConfig.greedy()
        self.topology, self.seed, self.team_dir, self.concurrency = topology, seed, team_dir, concurrency

    def predict(self, q: Question) -> Prediction:

        ep = run_episode(q, self.b.team, self.b.tools, self.topology, self.catalogue, self.cpp, self.sampling,
                         seed=question_seed(self.seed, q.qid), episode_id=f"{q.qid}#{self.name}", memory=self.b.memory)
        return prediction_from_episode(self.name, ep)

    def settings(self) -> dict[str, Any]:
        return {"team": self.team_dir, "agents": list(self.b.team.names), "topology": self.topology.kind,
                "edges": len(self.topology.edges), "cpp": self.cpp.model_dump(mode="json"),
                "sampling": self.sampling.model_dump(mode="json"), "seed": self.seed}


class SolverSystem:
    """The reference solver (:func:`m1.tools.solver.solve`), in this process."""

    name = "solver"
    concurrency = 1

    def __init__(self, tools_cfg: Any = None, video_cfg: Any = None):
        from m1.tools.context import VideoStore

        self.tools_cfg = tools_cfg or ToolsConfig()
        self.store = VideoStore(video_cfg or VideoConfig())

    def predict(self, q: Question) -> Prediction:
        from m1.tools.solver import solve

        t0 = time.perf_counter()
        s = solve(q, self.tools_cfg, self.store)
        errors = [r.error for r in s.results if r.error]
        return Prediction(
            qid=q.qid, system=self.name, prediction=s.answer or "", frames=s.frames_used,
            seconds=time.perf_counter() - t0, tool_calls=len(s.results), tool_seconds=s.seconds,
            aggregation="solver", error=f"{len(errors)} tool error(s), first: {errors[0]}" if errors else None)

    def settings(self) -> dict[str, Any]:
        return {"tools": self.tools_cfg.model_dump(mode="json")}


def sampling_evidence(result: ToolResult, agent: str) -> list[Any]:
    """A ``global_sampling`` result as answer-prompt evidence, one line per frame description:
    prompts clip each evidence line to ``cpp.entry_tokens``, which would keep only the first frame
    or two of the result as one line."""

    if result.error:
        return [Evidence(agent=agent, step=1, tool=result.tool, text=f"error: {result.error}")]
    return [Evidence(agent=agent, step=1, tool=result.tool, text=line)
            for line in result.text.splitlines() if line.strip()]


class NoToolsSystem:
    """One agent, no tools of its choosing: question + ``frames`` uniform frame descriptions → answer,
    sampled with ``sampling`` (``m1 eval`` passes ``sampling.eval``; None: greedy)."""

    name = "no_tools"

    def __init__(self, team: Any, tools: Any, cpp: CPPConfig, agent: int, frames: int, seed: int, team_dir: str,
                 concurrency: int = 1, sampling: SamplingConfig | None = None):
        if not 0 <= agent < len(team.names):
            raise EvalError(f"no_tools: agent index {agent} is not in the team {list(team.names)}")
        if not 1 <= frames <= 64:
            raise EvalError(f"no_tools: frames must be in [1, 64] (global_sampling's n), got {frames}")
        self.team, self.tools, self.cpp, self.agent, self.frames = team, tools, cpp, agent, frames
        self.seed, self.team_dir, self.concurrency = seed, team_dir, concurrency
        self.sampling = sampling if sampling is not None else SamplingConfig.greedy()

    def predict(self, q: Question) -> Prediction:
        t0 = time.perf_counter()
        eid = f"{q.qid}#{self.name}"
        try:
            [res] = self.tools.run(eid, q, [ToolCall(tool="global_sampling", args={"n": self.frames})])
        finally:
            self.tools.end(eid)
        a, cpp = self.agent, self.cpp
        label = f"a{agent_labels(self.team)[a]}"
        prompt = compose_answer_prompt(q, sampling_evidence(res, label),
                                       self.team.limits(a, cpp.answer_tokens, cpp.entry_tokens), self.team.counter(a))
        settings = SamplingSettings.from_config(self.sampling, max_new_tokens=cpp.answer_tokens,
                                                seed=question_seed(self.seed, q.qid))
        [c] = self.team.generate([GenRequest(a, prompt.text, settings, Phase.ANSWER, q, -1, label,
                                             tuple(prompt.evidence))])
        try:
            answer: str | None = parse_answer(c.text, q).value
        except PlanFormatError:
            answer = None
        # an answer the strict plan-language parser rejects still goes to the official, more tolerant
        # parser, which counts it as unparseable if it cannot read it either
        return Prediction(
            qid=q.qid, system=self.name, prediction=answer if answer is not None else c.text.strip(),
            frames=res.frames_used, seconds=time.perf_counter() - t0, tool_calls=1, tool_seconds=res.seconds,
            agent_answers={self.team.names[a]: answer}, aggregation="single",
            answer_parse=float(answer is not None), error=res.error)

    def settings(self) -> dict[str, Any]:
        cpp = self.cpp
        return {"team": self.team_dir, "agent": self.team.names[self.agent], "frames": self.frames,
                "answer_tokens": cpp.answer_tokens, "entry_tokens": cpp.entry_tokens,
                "temperature": self.sampling.temperature, "top_p": self.sampling.top_p, "seed": self.seed}


def team_systems(names: Iterable[str], backends: Any, cfg: Any, team_dir: str, agent: str | None = None,
                 frames: int | None = None) -> dict[str, EvalSystem]:
    """The team-based systems among ``names`` (team, no_comm, no_tools, solo) over one set of back-ends;
    ``agent``: who answers in no_tools and solo (default: the summariser)."""
    n = len(backends.team.names)
    catalogue = backends.tool_catalogue
    conc = cfg.ray.concurrency if backends.on_ray else 1
    out: dict[str, EvalSystem] = {}
    for name in names:
        if name == "team":
            out[name] = TeamSystem(name, backends, catalogue(), cfg.cpp, complete_topology(n), cfg.seed, team_dir, conc,
                                   sampling=cfg.sampling.eval)
        elif name == "no_comm":
            out[name] = TeamSystem(name, backends, catalogue(), cfg.cpp, no_comm_topology(n), cfg.seed, team_dir, conc,
                                   sampling=cfg.sampling.eval)
        elif name in ("no_tools", "solo"):
            if agent is not None and agent not in backends.team.names:
                raise EvalError(f"--agent {agent!r} is not an agent of the team {list(backends.team.names)}")
            idx = list(backends.team.names).index(agent) if agent else summariser_index(backends.team.names, cfg.cpp)
            if name == "solo":
                cpp = cfg.cpp.model_copy(update={"summariser": backends.team.names[idx]})
                out[name] = TeamSystem(name, backends, catalogue(), cpp, solo_topology(n, idx), cfg.seed, team_dir,
                                       conc, sampling=cfg.sampling.eval)
                continue
            out[name] = NoToolsSystem(backends.team, backends.tools, cfg.cpp, idx, frames or cfg.tools.global_frames,
                                      cfg.seed, team_dir, conc, sampling=cfg.sampling.eval)
        else:
            raise EvalError(f"{name!r} is not a team system; systems: {', '.join(SYSTEMS)}")
    return out


def endpoint_team_system(cfg: Any, endpoint: Any, agents: int, out_dir: str | Path) -> EvalSystem:
    """``endpoint_team``: the paper's untrained "4×GPT-4o" baseline — ``agents`` endpoint agents
    (one :class:`m1.config.EndpointConfig`, each its own agent) running the same CPP loop, tools and
    complete topology as ``team``; responses are cached under ``out_dir`` so a rerun resends nothing."""
    from m1.config import AgentSpec, TeamConfig
    from m1.team.cpp import LocalTeam, ToolRunner
    from m1.team.memory import SharedMemory
    from m1.team.rollout import Backends
    from m1.tools.registry import catalogue

    if agents < 1:
        raise EvalError(f"endpoint_team needs at least one agent, got {agents}")
    ep = endpoint.model_copy(update={"cache_path": endpoint.cache_path or str(Path(out_dir) / "endpoint_cache.jsonl")})
    team_cfg = TeamConfig(agents=[AgentSpec(name=f"endpoint-{i + 1}", arch="qwen2", engine="endpoint", endpoint=ep,
                                            max_context=8192) for i in range(agents)])
    team = LocalTeam.from_dir(str(out_dir), team_cfg, engine_cfg=cfg.engine)
    backends = Backends(team, ToolRunner(cfg.tools, cfg.video), SharedMemory(), on_ray=False)
    return TeamSystem("endpoint_team", backends, catalogue(), cfg.cpp, complete_topology(agents), cfg.seed,
                      f"endpoint:{ep.base_url} model={ep.model}", 1, sampling=cfg.sampling.eval)


# ------------------------------------------------------------------------- the resumable run


@dataclass
class RunResult:
    system: str
    predictions: dict[str, Prediction]  # qid → prediction, for the questions asked about only
    reused: int  # finished in an earlier run, not redone
    ran: int  # answered by this run
    seconds: float
    torn_line_dropped: bool
    extra_in_file: int  # predictions in the file for qids not among the questions (e.g. a larger --limit before)
    retried: int = 0  # earlier answers that met a tool error, dropped and asked again (retry_tool_errors)


def run_system(
    system: EvalSystem,
    questions: Sequence[Question],
    out_dir: str | Path,
    manifest: Mapping[str, Any],
    progress: bool = False,
    on_prediction: Callable[[Prediction], None] | None = None,
    retry_tool_errors: bool = False,
) -> RunResult:
    """Answer every question of ``questions`` not yet in ``out_dir/predictions.jsonl`` (rules in the
    module docstring). An exception from the system stops the run after recording every question
    that finished; rerun to resume. ``retry_tool_errors`` first removes the recorded answers (of these
    questions) that met a tool error, so they are asked again."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with held(out):
        return _run_system(system, questions, out, manifest, progress, on_prediction, retry_tool_errors)


def _run_system(
    system: EvalSystem,
    questions: Sequence[Question],
    out: Path,
    manifest: Mapping[str, Any],
    progress: bool,
    on_prediction: Callable[[Prediction], None] | None,
    retry_tool_errors: bool,
) -> RunResult:
    from m1.tools import code_fingerprint

    check_manifest(out / MANIFEST, {**manifest, "system": system.name, "settings": system.settings(),
                                    "tools_code": code_fingerprint(), PROVENANCE: provenance()})
    path = out / PREDICTIONS
    done, torn = read_predictions(path, system.name, repair=True)
    ids = [q.qid for q in questions]
    if len(set(ids)) != len(ids):
        raise EvalError("the questions repeat a qid; predictions are keyed by qid")
    wanted = set(ids)
    retried = 0
    if retry_tool_errors:
        failed = {k for k, p in done.items() if p.error and k in wanted}
        if failed:
            keep = [p for k, p in done.items() if k not in failed]
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(p.model_dump_json() + "\n" for p in keep), encoding="utf-8")
            os.replace(tmp, path)  # whole or not at all: an interruption never leaves half a file
            done = {p.qid: p for p in keep}
            retried = len(failed)
    extra = sum(1 for k in done if k not in wanted)
    todo = [q for q in questions if q.qid not in done]
    reused = len(questions) - len(todo)
    bar: Any = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"eval {system.name}", unit="q")
    lock = threading.Lock()
    t0 = time.perf_counter()
    ran = 0
    with path.open("a", encoding="utf-8") as f:

        def record(q: Question, p: Prediction) -> None:
            nonlocal ran
            if p.qid != q.qid or p.system != system.name:
                raise EvalError(f"system {system.name!r} answered {p.system}/{p.qid} for question {q.qid!r}")
            with lock:
                f.write(p.model_dump_json() + "\n")
                f.flush()
                os.fsync(f.fileno())
                done[p.qid] = p
                ran += 1
            if bar is not None:
                bar.update(1)
            if on_prediction is not None:
                on_prediction(p)

        try:
            if system.concurrency <= 1:
                for q in todo:
                    record(q, system.predict(q))
            else:
                _run_concurrently(system, todo, record)
        finally:
            if bar is not None:
                bar.close()
    preds = {q.qid: done[q.qid] for q in questions if q.qid in done}
    return RunResult(system.name, preds, reused, ran, time.perf_counter() - t0, torn, extra, retried)


def _run_concurrently(system: EvalSystem, todo: Sequence[Question],
                      record: Callable[[Question, Prediction], None]) -> None:
    ex = ThreadPoolExecutor(max_workers=system.concurrency)
    futures: dict[Future, Question] = {ex.submit(system.predict, q): q for q in todo}
    recorded: set[Future] = set()
    try:
        for fut in as_completed(futures):
            record(futures[fut], fut.result())
            recorded.add(fut)
    finally:
        # on a failure: stop queued questions, let those in flight finish, keep every finished one
        ex.shutdown(wait=True, cancel_futures=True)
        for fut, q in futures.items():
            if fut not in recorded and fut.done() and not fut.cancelled() and fut.exception() is None:
                record(q, fut.result())


# ---------------------------------------------------------------------------------- metrics


def _dist(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0}
    s = sorted(values)
    return {"mean": statistics.fmean(s), "median": statistics.median(s),
            "p90": s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))], "max": s[-1]}


def efficiency(preds: Sequence[Prediction]) -> dict[str, Any]:
    """The paper's accounting: frames and seconds per query (plus tool calls), as distributions."""
    return {"queries": len(preds), "frames_per_query": _dist([p.frames for p in preds]),
            "seconds_per_query": _dist([p.seconds for p in preds]),
            "tool_calls_per_query": statistics.fmean(p.tool_calls for p in preds) if preds else 0.0,
            "tool_seconds_per_query": statistics.fmean(p.tool_seconds for p in preds) if preds else 0.0}


def system_metrics(benchmark: str, questions: Sequence[Question], preds: Mapping[str, Prediction]) -> dict[str, Any]:
    """Official score (percent; see :func:`m1.data.score`) + efficiency + parse rates + per-agent scores."""
    ids = {q.qid for q in questions}
    mine = [preds[q.qid] for q in questions if q.qid in preds]
    texts = {k: p.prediction for k, p in preds.items() if k in ids}
    out: dict[str, Any] = {"score": score(benchmark, questions, texts)}
    out["efficiency"] = efficiency(mine)
    for key in ("plan_parse", "answer_parse"):
        vals = [getattr(p, key) for p in mine if getattr(p, key) is not None]
        out[key] = statistics.fmean(vals) if vals else None
    out["with_tool_errors"] = sum(1 for p in mine if p.error)
    agents = sorted({a for p in mine for a in p.agent_answers})
    if len(agents) > 1:  # a team: each agent's own answer, scored as if it answered alone
        out["per_agent"] = {}
        for a in agents:
            own = {p.qid: p.agent_answers[a] or "" for p in mine if a in p.agent_answers}
            s = score(benchmark, [q for q in questions if q.qid in own], own)
            out["per_agent"][a] = {"overall": s["overall"], "n": s["n"], "unparseable": s["unparseable"]}
    return out
