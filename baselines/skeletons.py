"""Discrete plan skeletons over the seven tools, and the per-question cache that makes them a lookup.

A **skeleton** is a fixed list of argument-less tool calls (every argument defaulted; the
question-aware tools — ``fine_browser``, ``spatial``, ``grounding`` and the two retrieval tools,
whose query defaults to the question — read the episode's question). The set holds the reference
solver's per-family plans (:data:`m1.tools.solver.PLANS`), every single tool, and the two-tool
combinations a planner plausibly writes (:data:`SKELETONS`).

Running a skeleton's answer is what the CPP loop does for an agent whose plan it is: the answer is
the candidate of the most confident call whose candidate is an answer of the question's type
(:func:`canonical`), ``None`` when no call gives one.

**Cache.** Tools are deterministic for a (video, call, question) and cost seconds, so PPO over live
tools would be unaffordable on two cores. :func:`precompute` runs each of the seven calls once per
question in a fresh :class:`~m1.tools.context.ToolContext` (through :func:`m1.tools.registry.execute`)
and keeps its canonical candidate, confidence and the *set of frame indices* it decoded. A skeleton,
or a whole team's calls, is then a lookup: its answer as above, its frames the size of the union of
its calls' frame sets — exactly what one shared episode context would count, since a frame decoded
by two calls is counted once (``test_rllib_planner`` checks the reference skeleton against
:func:`m1.tools.solver.solve`: same answers, same frames). The cache is a JSONL file (one line per
question) so training and evaluation reuse it.

**Re-readings** (``precompute(..., rereads=True)``, for noisy tools, :mod:`m1.tools.noise`): the
question-aware calls of :data:`REREAD_TOOLS` are also run at the other sampling rates of the
reference solver's ``verify`` strategy (``tools.scan_step`` x :data:`m1.tools.solver.RATE_FACTORS`,
each an independent reading), stored as ``tool@factor``. :meth:`QuestionCache.verify` then answers
as that strategy does — a second reading, a third on disagreement, :func:`m1.tools.solver.revise` —
which is the re-read action of :class:`baselines.rllib_env.PlannerEnv`. One departure from that
strategy: readings of a structured open-ended list (M1-Synth's open-ended family, item F1) that
disagree are voted item by item (:func:`m1.team.answers.vote_items`) instead of taking the most
confident — exact agreement between lists is rare under noise (a misread caption, a missed object),
so the solver's rule would keep the first reading and the re-read would rarely pay on lists, while
the LLM team votes its agents' lists item by item (``cpp.open_ended_aggregation``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from m1.config.tools import ToolsConfig
from m1.data.answers import parse_choice, parse_interval
from m1.data.scoring import open_metric, read_number
from m1.schema import Family, Question, TaskType, ToolCall, ToolResult
from m1.team.answers import canonical_number, parse_answer, vote_items
from m1.team.plan import PlanFormatError
from m1.tools.context import ToolContext, VideoStore
from m1.tools.registry import execute
from m1.tools.solver import PLANS, RATE_FACTORS, agree, revise


@dataclass(frozen=True)
class Skeleton:
    name: str
    tools: tuple[str, ...]


SKELETONS: tuple[Skeleton, ...] = (
    Skeleton("rough+fine", ("rough_browser", "fine_browser")),  # reference: long_video, reasoning
    Skeleton("spatial", ("spatial",)),  # reference: spatial
    Skeleton("grounding", ("grounding",)),  # reference: grounding
    Skeleton("fine", ("fine_browser",)),  # reference: unknown families
    Skeleton("global", ("global_sampling",)),
    Skeleton("rough", ("rough_browser",)),
    Skeleton("video_retrieval", ("video_retrieval",)),
    Skeleton("image_retrieval", ("image_retrieval",)),
    Skeleton("global+fine", ("global_sampling", "fine_browser")),
    Skeleton("global+spatial", ("global_sampling", "spatial")),
    Skeleton("video_retrieval+grounding", ("video_retrieval", "grounding")),
    Skeleton("fine+spatial", ("fine_browser", "spatial")),
    Skeleton("fine+grounding", ("fine_browser", "grounding")),
)
CALLS: tuple[str, ...] = tuple(sorted({t for s in SKELETONS for t in s.tools}))
REREAD_TOOLS: tuple[str, ...] = ("fine_browser", "grounding", "spatial")  # what the solver's verify re-reads


def reread_key(tool: str, factor: float) -> str:
    """The cache key of ``tool`` read at ``tools.scan_step`` x ``factor`` (factor 1: the plain call)."""
    return tool if factor == 1.0 else f"{tool}@{factor:g}"


REREADS: tuple[str, ...] = tuple(reread_key(t, f) for t in REREAD_TOOLS for f in RATE_FACTORS[1:])


class CacheError(ValueError):
    """A cache file that is missing, unreadable, or lacks a call a skeleton needs."""


def reference_skeleton(q: Question) -> int:
    """Index in :data:`SKELETONS` of the reference solver's plan for ``q``'s family."""
    tools = tuple(c.tool for c in PLANS.get(q.family, PLANS[None]))
    return next(i for i, s in enumerate(SKELETONS) if s.tools == tools)


@dataclass(frozen=True)
class CallOutcome:
    """One argument-less call's result on one question: its valid canonical candidate (or None)."""

    answer: str | None
    confidence: float
    frames: frozenset[int]
    error: str | None = None


@dataclass(frozen=True)
class QuestionCache:
    question: Question
    calls: dict[str, CallOutcome]

    def outcome(self, tools: Iterable[str]) -> tuple[str | None, float, frozenset[int]]:
        """(answer, confidence, frames) of running ``tools`` in one episode: the most confident valid
        candidate (ties: the earlier call) and the union of the calls' frames."""
        best: tuple[str | None, float] = (None, 0.0)
        frames: set[int] = set()
        for t in tools:
            try:
                c = self.calls[t]
            except KeyError:
                raise CacheError(f"question {self.question.qid}: no cached result for {t!r}") from None
            frames |= c.frames
            if c.answer is not None and (best[0] is None or c.confidence > best[1]):
                best = (c.answer, c.confidence)
        return best[0], best[1], frozenset(frames)

    @property
    def has_rereads(self) -> bool:
        return all(k in self.calls for k in REREADS)

    def verify(self, tool: str,
               first: tuple[str | None, float] | None = None) -> tuple[str | None, float, frozenset[int]]:
        """(answer, confidence, frames) of reading ``tool`` again the way the reference solver's
        ``verify`` strategy does: ``first`` (the answer in hand, default ``tool``'s plain call) is
        the first reading, a second comes at the next rate, a third when the two disagree, and
        :func:`m1.tools.solver.revise` answers — except for a structured open-ended list (M1-Synth's
        open-ended family) whose readings disagree, which is voted item by item over the readings
        (:func:`m1.team.answers.vote_items`, the first reading first), the rule the LLM team's
        aggregation applies to its agents' lists; frames: those of the extra readings."""
        if tool not in REREAD_TOOLS:
            raise CacheError(f"{tool!r} is not re-read; re-read tools: {', '.join(REREAD_TOOLS)}")

        def reading(answer: str | None, conf: float) -> ToolResult | None:
            return None if answer is None else ToolResult(tool=tool, candidate=answer,
                                                          confidence=min(1.0, max(0.0, conf)))

        plain = self.calls.get(tool)
        if first is None and plain is None:
            raise CacheError(f"question {self.question.qid}: no cached result for {tool!r}")
        readings = [reading(*first) if first is not None else reading(plain.answer, plain.confidence)]
        frames: set[int] = set()
        for f in RATE_FACTORS[1:]:
            if len(readings) == 2 and agree(readings[0], readings[1]):
                break
            c = self.calls.get(reread_key(tool, f))
            if c is None:
                raise CacheError(f"question {self.question.qid}: no cached reading {reread_key(tool, f)!r} "
                                 "(build the cache with --rereads)")
            frames |= c.frames
            readings.append(reading(c.answer, c.confidence))
        kind = open_metric(self.question)
        got = [r for r in readings if r is not None]
        if kind is not None and len(got) >= 2 and not agree(got[0], got[1]):
            # a structured list the readings disagree on: vote item by item, first reading first
            answer = vote_items([r.candidate or "" for r in got], kind)
            conf = sum(r.confidence or 0.0 for r in got) / len(got)
        else:
            answer, conf = revise(readings)
        return canonical(answer, self.question), conf, frozenset(frames)


def canonical(candidate: str | None, q: Question) -> str | None:
    """``candidate`` in the canonical form of ``q``'s answers, or None if it is no answer of ``q``'s type.

    A candidate :func:`~m1.team.answers.parse_answer` rejects is read as the project's scorer reads free
    text (an option's text picks its letter, ``"1.2 m"`` is 1.2, ``"3 to 5"`` a span), so a skeleton's
    answer scores what the reference solver's free-text answer scores."""
    if candidate is None:
        return None
    try:
        return parse_answer(candidate, q).value
    except PlanFormatError:
        pass
    if q.task_type == TaskType.MULTIPLE_CHOICE:
        return parse_choice(candidate, q.options)
    if q.task_type == TaskType.NUMERIC:
        value = read_number(candidate)
        return None if value is None else canonical_number(value)
    if q.task_type == TaskType.GROUNDING:
        span = parse_interval(candidate)
        return None if span is None else f"{canonical_number(span[0])} {canonical_number(span[1])}"
    return None


def run_call(q: Question, tool: str, cfg: ToolsConfig | None = None, store: VideoStore | None = None,
             factor: float = 1.0) -> CallOutcome:
    """Run the argument-less ``tool`` on ``q`` in a fresh context, scanning at ``tools.scan_step`` x
    ``factor`` (another factor is another, independent reading under ``tools.noise``)."""
    cfg = cfg or ToolsConfig()
    if factor != 1.0:
        cfg = cfg.model_copy(update={"scan_step": cfg.scan_step * factor})
    ctx = ToolContext(q.video, q, cfg, store)
    r = execute(ToolCall(tool=tool), ctx)
    return CallOutcome(canonical(r.candidate, q), float(r.confidence or 0.0), frozenset(ctx.seen), r.error)


def precompute(
    questions: Sequence[Question], cfg: ToolsConfig | None = None, store: VideoStore | None = None,
    calls: Sequence[str] = CALLS, rereads: bool = False,
) -> Iterator[QuestionCache]:
    """Every call of ``calls`` on every question (module docstring), one question at a time;
    ``rereads``: also the re-readings of :data:`REREAD_TOOLS` at the solver's other rates."""
    extra = [(t, f) for t in REREAD_TOOLS for f in RATE_FACTORS[1:]] if rereads else []
    for q in questions:
        got = {t: run_call(q, t, cfg, store) for t in calls}
        got.update({reread_key(t, f): run_call(q, t, cfg, store, f) for t, f in extra})
        yield QuestionCache(q, got)


def cache_line(c: QuestionCache) -> str:
    calls = {t: {"answer": o.answer, "confidence": o.confidence, "frames": sorted(o.frames), "error": o.error}
             for t, o in c.calls.items()}
    return json.dumps({"question": c.question.model_dump(mode="json"), "calls": calls})


def save_cache(caches: Iterable[QuestionCache], path: str | Path, log_every: int = 0) -> int:
    """Write ``caches`` (e.g. :func:`precompute`'s stream) line by line, flushed, so a partial run is usable."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    t0 = time.monotonic()
    with path.open("w") as f:
        for c in caches:
            f.write(cache_line(c) + "\n")
            f.flush()
            n += 1
            if log_every and n % log_every == 0:
                print(f"  cached {n} questions in {time.monotonic() - t0:.0f} s", flush=True)
    return n


def load_cache(path: str | Path) -> list[QuestionCache]:
    path = Path(path)
    if not path.is_file():
        raise CacheError(f"no cache file at {path} (build it with `python -m baselines.rllib_planner cache`)")
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            d = json.loads(line)
            q = Question.model_validate(d["question"])
            calls = {t: CallOutcome(o["answer"], float(o["confidence"]), frozenset(o["frames"]), o.get("error"))
                     for t, o in d["calls"].items()}
        except (ValueError, KeyError, TypeError) as e:
            raise CacheError(f"{path}:{n}: not a cache line ({type(e).__name__}: {e})") from None
        missing = set(CALLS) - set(calls)
        if missing:
            raise CacheError(f"{path}:{n}: question {q.qid} lacks calls {sorted(missing)}")
        if q.answer is None:
            raise CacheError(f"{path}:{n}: question {q.qid} has no ground truth; the planner trains on labelled ones")
        out.append(QuestionCache(q, calls))
    if not out:
        raise CacheError(f"{path} holds no questions")
    return out


FAMILIES: tuple[Family | None, ...] = (*Family, None)
