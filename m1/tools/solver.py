"""The reference solver: a fixed, sensible tool sequence per question family, answer taken from
the tools' candidates. It is the oracle teacher for SFT (its plans are what a good team does)
and the proof that the tools suffice for M1-Synth.

Plans (each a list of :class:`~m1.schema.ToolCall`, all arguments defaulted):

- long_video, reasoning: ``rough_browser`` (skim: shots, objects, captions) → ``fine_browser``
  (question-aware, returns the candidate);
- spatial: ``spatial`` (question-aware);
- grounding: ``grounding`` (question-aware);
- open_ended: ``fine_browser`` (question-aware; its forms write the list, :mod:`m1.tools.open_answers`).

The answer is the candidate of the most confident question-aware result; a question none of
them can answer gets ``None``. The solver never reads ground truth. Unknown families (real
benchmarks) fall back to ``fine_browser``.

Strategies (``solve(..., strategy=)``): ``one_call`` (the default, above: one reading of each
tool) and ``verify`` — verify-and-revise for noisy tools (``tools.noise``, :mod:`m1.tools.noise`):
the question-aware call is read again at another sampling rate (``tools.scan_step`` x
:data:`RATE_FACTORS`, an independent reading), and

- the two readings **agree** (same option / number within 5% / spans with IoU >= 0.5) → keep the
  answer (two agreeing spans are averaged);
- they **disagree** → a third reading decides by majority (spans: the one agreeing with another,
  averaged with it); three different answers → the most confident reading (spans: the
  element-wise median, the robust estimate of a span read with independent shifts).

With exact tools the second reading agrees and the answer is the one-call answer, at the cost of
the second reading's frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from m1.config.tools import ToolsConfig
from m1.schema import Family, Question, ToolCall, ToolResult
from m1.tools.context import ToolContext, VideoStore
from m1.tools.registry import execute

PLANS: dict[Family | None, list[ToolCall]] = {
    Family.LONG_VIDEO: [ToolCall(tool="rough_browser"), ToolCall(tool="fine_browser")],
    Family.REASONING: [ToolCall(tool="rough_browser"), ToolCall(tool="fine_browser")],
    Family.SPATIAL: [ToolCall(tool="spatial")],
    Family.GROUNDING: [ToolCall(tool="grounding")],
    Family.OPEN_ENDED: [ToolCall(tool="fine_browser")],
    None: [ToolCall(tool="fine_browser")],
}


@dataclass
class Solution:
    qid: str
    answer: str | None
    confidence: float
    frames_used: int
    seconds: float
    results: list[ToolResult] = field(default_factory=list)


def plan_for(q: Question) -> list[ToolCall]:
    return [c.model_copy(deep=True) for c in PLANS.get(q.family, PLANS[None])]


Strategy = Literal["one_call", "verify"]
STRATEGIES: tuple[str, ...] = ("one_call", "verify")
RATE_FACTORS = (1.0, 1.25, 0.8)  # tools.scan_step multiplier of readings 1, 2, 3


def solve(
    q: Question, cfg: ToolsConfig | None = None, store: VideoStore | None = None, strategy: Strategy = "one_call"
) -> Solution:
    """Run the family's plan on ``q`` in a fresh episode context (``strategy``: see the module doc)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    cfg = cfg or ToolsConfig()
    ctx = ToolContext(q.video, q, cfg, store)
    results = [execute(call, ctx) for call in plan_for(q)]
    cands = [r for r in results if r.candidate is not None]
    best = max(cands, key=lambda r: r.confidence or 0.0, default=None)
    answer, conf = (best.candidate, best.confidence or 0.0) if best else (None, 0.0)
    seen = set(ctx.seen)
    if strategy == "verify":
        readings = [best]
        last = plan_for(q)[-1]  # the question-aware call (rough_browser only skims)
        for f in RATE_FACTORS[1:]:
            if len(readings) == 2 and agree(readings[0], readings[1]):
                break
            rctx = ToolContext(q.video, q, cfg.model_copy(update={"scan_step": cfg.scan_step * f}), store)
            r = execute(last.model_copy(deep=True), rctx)
            results.append(r)
            readings.append(r if r.candidate is not None else None)
            seen |= rctx.seen
        answer, conf = revise(readings)
    return Solution(
        qid=q.qid,
        answer=answer,
        confidence=conf,
        frames_used=len(seen),
        seconds=sum(r.seconds for r in results),
        results=results,
    )


def parse_span(a: str) -> tuple[float, float] | None:
    """``"s e"`` as (s, e) when it is a span (two numbers, e >= s); else ``None``."""
    parts = a.split()
    if len(parts) != 2:
        return None
    try:
        s, e = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return (s, e) if e >= s else None


def same_answer(a: str, b: str) -> bool:
    """Two candidate answers say the same: equal text, numbers within 5%, or spans with IoU >= 0.5."""
    if a.strip().lower() == b.strip().lower():
        return True
    sa, sb = parse_span(a), parse_span(b)
    if sa and sb:
        inter = max(0.0, min(sa[1], sb[1]) - max(sa[0], sb[0]))
        union = max(sa[1], sb[1]) - min(sa[0], sb[0])
        return union > 0 and inter / union >= 0.5
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 0.05 * max(abs(x), abs(y), 1e-9)


def agree(a: ToolResult | None, b: ToolResult | None) -> bool:
    return a is not None and b is not None and same_answer(a.candidate or "", b.candidate or "")


def _merge(group: list[ToolResult]) -> tuple[str, float]:
    """One answer for readings that agree: spans averaged, anything else the first reading's."""
    conf = sum(r.confidence or 0.0 for r in group) / len(group)
    spans = [parse_span(r.candidate or "") for r in group]
    if len(group) > 1 and all(spans):
        s = sum(x[0] for x in spans) / len(spans)  # type: ignore[index]
        e = sum(x[1] for x in spans) / len(spans)  # type: ignore[index]
        return f"{s:.2f} {e:.2f}", conf
    return group[0].candidate or "", conf


def revise(readings: list[ToolResult | None]) -> tuple[str | None, float]:
    """The answer of independent readings (None: the reading gave no candidate): the largest
    group of agreeing readings if it has two or more (ties: the earlier reading's group), else the
    most confident reading (three spans: their element-wise median)."""
    got = [r for r in readings if r is not None]
    if not got:
        return None, 0.0
    groups = [[r for r in got if agree(r, x)] for x in got]
    big = max(groups, key=len)
    if len(big) >= 2:
        return _merge(big)
    spans = [parse_span(r.candidate or "") for r in got]
    if len(got) >= 3 and all(spans):
        mid = len(spans) // 2
        s, e = sorted(x[0] for x in spans)[mid], sorted(x[1] for x in spans)[mid]  # type: ignore[index]
        return f"{s:.2f} {max(s, e):.2f}", sum(r.confidence or 0.0 for r in got) / len(got)
    best = max(got, key=lambda r: r.confidence or 0.0)
    return best.candidate, best.confidence or 0.0
