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
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def solve(q: Question, cfg: ToolsConfig | None = None, store: VideoStore | None = None) -> Solution:
    """Run the family's plan on ``q`` in a fresh episode context."""
    ctx = ToolContext(q.video, q, cfg, store)
    results = [execute(call, ctx) for call in plan_for(q)]
    cands = [r for r in results if r.candidate is not None]
    best = max(cands, key=lambda r: r.confidence or 0.0, default=None)
    return Solution(
        qid=q.qid,
        answer=best.candidate if best else None,
        confidence=(best.confidence or 0.0) if best else 0.0,
        frames_used=ctx.frames_used,
        seconds=sum(r.seconds for r in results),
        results=results,
    )
