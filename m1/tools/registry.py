"""The tool registry: the stable interface between agents (the CPP runtime) and the tools.

::

    from m1.tools.registry import catalogue, execute
    from m1.tools.context import ToolContext
    specs = catalogue()                       # list[ToolSpec]: name, one-line description, JSON schema
    ctx = ToolContext(video_path, question, cfg.tools)   # one per episode; cheap
    res = execute(ToolCall(tool="spatial", args={"t": 3.0}), ctx)   # ToolResult, never raises

``execute`` turns every failure into ``ToolResult(error=..., error_kind=...)``: unknown tool
(``unknown_tool``), arguments that fail the schema (``bad_args``), arguments meaningless for the
video (``unusable_args``), an unreadable video (``video_error``), a tool timeout (``timeout``),
or a bug inside a tool (``internal``, reported with its exception type). ``frames_used`` is the number of frames
this call added to the episode's set of looked-at frames; ``seconds`` its wall time. Identical
calls in identical contexts return identical results. A question-aware tool's ``step`` argument
scans at that step instead of ``tools.scan_step`` for this call only.
"""

from __future__ import annotations

import time

from pydantic import ValidationError

from m1.schema import ToolCall, ToolErrorKind, ToolResult, ToolSpec
from m1.tools import noise
from m1.tools.builtin import TOOLS
from m1.tools.context import ToolArgumentError, ToolContext, ToolTimeoutError
from m1.video import VideoError


def catalogue() -> list[ToolSpec]:
    """Every tool's name, one-line description and argument JSON schema, in a fixed order."""
    return [
        ToolSpec(name=t.name, description=t.description, args_schema=t.args.model_json_schema()) for t in TOOLS.values()
    ]


def tool_names() -> list[str]:
    return list(TOOLS)


def _failure_kind(e: Exception, tool: str) -> tuple[ToolErrorKind, str]:
    """The kind and message of an exception a tool raised."""
    if isinstance(e, ToolTimeoutError):
        return ToolErrorKind.TIMEOUT, str(e)
    if isinstance(e, ToolArgumentError):
        return ToolErrorKind.UNUSABLE_ARGS, str(e)
    if isinstance(e, VideoError):
        return ToolErrorKind.VIDEO_ERROR, str(e)
    return ToolErrorKind.INTERNAL, f"{tool} failed: {type(e).__name__}: {e}"


def execute(call: ToolCall, ctx: ToolContext) -> ToolResult:
    """Run one tool call; never raises (errors come back in ``ToolResult.error``)."""
    t0 = time.monotonic()
    tool = TOOLS.get(call.tool)
    if tool is None:
        return ToolResult.failure(call, ToolErrorKind.UNKNOWN_TOOL,
                                  f"unknown tool {call.tool!r}; known: {', '.join(TOOLS)}")
    try:
        args = tool.args.model_validate(call.args)
    except ValidationError as e:
        probs = "; ".join(
            f"{'.'.join(map(str, x['loc'])) or 'args'}={x.get('input')!r}: {x['msg']}" for x in e.errors()
        )
        return ToolResult.failure(call, ToolErrorKind.BAD_ARGS, f"bad arguments for {call.tool}: {probs}")
    before = len(ctx.seen)
    warned = len(ctx.warnings)
    ctx.deadline = t0 + ctx.cfg.timeout
    episode_cfg = ctx.cfg
    step = getattr(args, "step", None)
    if step is not None:  # this call scans at its own step (an independent reading under tools.noise)
        ctx.cfg = episode_cfg.model_copy(update={"scan_step": step})
    try:
        ctx.reading = noise.reading(ctx, call.tool, args.model_dump())  # None unless tools.noise is on
        out = tool.run(ctx, args)
    except Exception as e:  # noqa: BLE001 - a tool bug must not cross the boundary either
        kind, msg = _failure_kind(e, call.tool)
        return ToolResult.failure(call, kind, msg, len(ctx.seen) - before, time.monotonic() - t0)
    finally:
        ctx.deadline = None
        ctx.reading = None
        ctx.cfg = episode_cfg
    cand = out.candidate
    warnings = ctx.warnings[warned:]
    return ToolResult(
        tool=call.tool,
        args=call.args,
        text=out.text + "".join(f"\nwarning: {w}" for w in warnings),
        payload=out.payload
        | ({"evidence": cand.evidence} if cand else {})
        | ({"warnings": warnings} if warnings else {}),
        candidate=cand.answer if cand else None,
        confidence=round(min(1.0, max(0.0, cand.confidence)), 4) if cand else None,
        frames_used=len(ctx.seen) - before,
        seconds=time.monotonic() - t0,
    )
