"""Simulated perception errors: a setting where one tool call is not enough (``tools.noise``).

The CPU tools are exact on M1-Synth, so one right call answers a question and there is nothing
for cross-checking, revision or a team to add. With ``tools.noise.enabled`` every tool call is a
*reading* that errs the way real perception does:

- **missed detections** (``miss_rate``): the reading does not see an object (colour, shape) at
  all — it is absent from every frame the call looks at, so counts drop, entries move to the next
  object, a spatial question about it gets no template answer;
- **spurious detections** (``spurious_rate``): the reading hallucinates one phantom object at a
  fixed place for 5-30 s of the video;
- **OCR misreads** (``ocr_misread_rate``): a caption is read with about half its letters swapped
  for look-alikes (E→F, R→P, S→5 …), consistently within the reading;
- **counts off by one** (``count_off_by_one_rate``): the shot-cut detector misses or invents one
  cut in an overview, and per object the stop detector misses or invents one stop;
- **shifted grounding** (``grounding_shift_s``): a grounding span moves by a uniform draw in
  [-s, +s] seconds.

Seeding. A reading's key is SHA-256 of (``noise.seed``, the video's file name and size, the
tool, its arguments normalised — defaults resolved, so ``fine_browser()`` and
``fine_browser(start=0, end=<duration>)`` are one reading, and so are ``fine_browser()`` and
``fine_browser(step=<tools.scan_step>)`` — and the reading's sampling rates
``tools.scan_step`` / ``tools.fine_fps``). Each error is decided by a further SHA-256 of the key
and what it is about (an object's name, a caption's text, an overview's span), compared with the
rate. Hence: repeating a call — in this episode, a fresh context or another process — reproduces
its errors exactly (Python's salted ``hash()`` is never used); another tool, segment or rate is an
independent reading; and the errors at a lower rate are a subset of those at a higher one.

Errors are applied where observations are produced (:meth:`ToolContext.look` returns the
reading's view of each cached, exact frame; :func:`m1.tools.analysis.overview` asks for cuts;
:mod:`m1.tools.answering` for stops; the grounding tool for its span), so the text an agent reads
and the candidate a tool returns come from the same erroneous perception. Calls outside
:func:`m1.tools.registry.execute` (no reading) are exact.

Off by default: M1-Synth's recorded results, the SFT teacher's plans and the golden traces are
for the exact tools. ``configs/noisy_long.yaml`` turns it on with long videos.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from m1.tools.perception.objects import COLOUR_NAMES, SHAPE_NAMES, Detection

# The context, its frames and motion segments are m1.tools.context.ToolContext / FrameObs and
# m1.tools.analysis.Segment; both modules import this one, so they are not imported here (not even
# for type checking: the layout test counts every import as an edge).
ToolContext = Any
FrameObs = Any
Segment = Any

LOOKALIKE = {
    "A": "R4", "B": "8R", "C": "G", "D": "B", "E": "F3", "F": "E", "G": "C6", "H": "N", "J": "U", "K": "X",
    "L": "1", "M": "N", "N": "M", "P": "R", "R": "P", "S": "5", "T": "Y7", "U": "V", "V": "U", "W": "V", "X": "K",
    "Y": "V", "Z": "2",
}
PHANTOM_SIZE = 40  # px in the video's native resolution


@dataclass(frozen=True)
class Reading:
    """One tool call's identity for the error model: the hex key and the rates it draws against."""

    key: str
    tool: str


def video_id(path: str) -> str:
    """The video as the error model knows it: file name and size (not the directory it sits in)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        size = -1
    return f"{os.path.basename(path)}:{size}"


def _r(v: Any) -> Any:
    return round(float(v), 3) if isinstance(v, float) else v


def normalise_args(ctx: ToolContext, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` with every default an argument-less call would use written out."""
    out = dict(args)
    if "question" in out and not out["question"]:
        out["question"] = ctx.question.question if ctx.question is not None else None
    if "query" in out and not out["query"]:
        out["query"] = ctx.question.question if ctx.question is not None else None
    if "start" in out and out["start"] is None:
        out["start"] = 0.0
    if "end" in out:
        out["end"] = ctx.duration if out["end"] is None else min(out["end"], ctx.duration)
    defaults = {"fps": ctx.cfg.rough_fps, "n": ctx.cfg.global_frames, "top_k": ctx.cfg.top_k,
                "step": ctx.cfg.scan_step}
    for k, v in defaults.items():
        if k in out and out[k] is None:
            out[k] = v
    return {k: _r(v) for k, v in sorted(out.items())}


def reading(ctx: ToolContext, tool: str, args: dict[str, Any]) -> Reading | None:
    """The reading of one call, or None when the error model is off."""
    cfg = ctx.cfg.noise
    if not cfg.enabled:
        return None
    ident = {
        "seed": cfg.seed,
        "video": video_id(ctx.video),
        "tool": tool,
        "args": normalise_args(ctx, args),
        "rates": {"scan_step": _r(ctx.cfg.scan_step), "fine_fps": _r(ctx.cfg.fine_fps)},
    }
    key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
    return Reading(key, tool)


def draw(rd: Reading, *parts: Any) -> float:
    """A uniform number in [0, 1) that depends only on the reading and ``parts``."""
    h = hashlib.sha256((rd.key + "|" + json.dumps([_r(p) for p in parts])).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def _active(ctx: ToolContext) -> Reading | None:
    return ctx.reading if ctx.cfg.noise.enabled else None


# ------------------------------------------------------------------ detections and captions
def misread(rd: Reading, text: str) -> str:
    """``text`` as this reading misreads it: about half its letters swapped for look-alikes."""
    letters = [i for i, c in enumerate(text) if c.upper() in LOOKALIKE]
    k = min(len(letters), max(1, (len(text) + 1) // 2))
    chosen = sorted(letters, key=lambda i: draw(rd, "ocr-pos", text, i))[:k]
    chars = list(text)
    for i in chosen:
        alts = LOOKALIKE[chars[i].upper()]
        chars[i] = alts[int(draw(rd, "ocr-alt", text, i) * len(alts))]
    return "".join(chars)


def phantom(ctx: ToolContext, rd: Reading) -> tuple[Detection, float, float] | None:
    """The object this reading hallucinates (with its time span), or None."""
    cfg = ctx.cfg.noise
    if draw(rd, "spurious") >= cfg.spurious_rate:
        return None
    names = [(c, s) for c in COLOUR_NAMES for s in SHAPE_NAMES]
    colour, shape = names[int(draw(rd, "spurious-name") * len(names))]
    dur = ctx.duration
    length = min(dur, 5.0 + 25.0 * draw(rd, "spurious-length"))
    t0 = draw(rd, "spurious-start") * max(0.0, dur - length)
    info = ctx.reader.info
    x = info.width * (0.15 + 0.7 * draw(rd, "spurious-x"))
    y = info.height * (0.15 + 0.55 * draw(rd, "spurious-y"))
    area = PHANTOM_SIZE * PHANTOM_SIZE
    if shape == "circle":
        area = int(3.1416 * (PHANTOM_SIZE / 2) ** 2)
    elif shape == "triangle":
        area //= 2
    return Detection(colour, shape, x, y, PHANTOM_SIZE, PHANTOM_SIZE, area, False), t0, t0 + length


def view(ctx: ToolContext, o: FrameObs) -> FrameObs:
    """The current reading's view of the exact frame ``o`` (``o`` itself when nothing changes)."""
    rd = _active(ctx)
    if rd is None:
        return o
    cfg = ctx.cfg.noise
    objects = [d for d in o.objects if draw(rd, "miss", d.colour, d.shape) >= cfg.miss_rate]
    ph = phantom(ctx, rd) if cfg.spurious_rate > 0 and ctx._shapes_on() else None
    if ph is not None:
        det, t0, t1 = ph
        if t0 <= o.t <= t1 and all(d.name != det.name for d in o.objects):
            objects.append(det)
    caption = o.caption
    if caption is not None and draw(rd, "ocr", caption.text) < cfg.ocr_misread_rate:
        caption = dataclasses.replace(caption, text=misread(rd, caption.text))
    if caption is o.caption and len(objects) == len(o.objects) and all(
            a is b for a, b in zip(objects, o.objects, strict=True)):
        return o
    # which providers run on the frame is decided by the exact frame, not by this reading of it
    return dataclasses.replace(o, objects=objects, caption=caption, shapes_fired=o.synthetic)


# ------------------------------------------------------------------ counts, stops, spans
def cuts(ctx: ToolContext, cut_after: list[int], n: int, span: tuple[float, float, float]) -> list[int]:
    """Cut positions of an overview of ``n`` samples as this reading's shot detector reports them:
    with ``count_off_by_one_rate``, one real cut missed or one invented (a count off by one)."""
    rd = _active(ctx)
    if rd is None or n < 2 or draw(rd, "cuts", *span) >= ctx.cfg.noise.count_off_by_one_rate:
        return cut_after
    free = [i for i in range(1, n) if i not in cut_after]
    if cut_after and (not free or draw(rd, "cuts-kind", *span) < 0.5):
        drop = cut_after[int(draw(rd, "cuts-which", *span) * len(cut_after))]
        return [i for i in cut_after if i != drop]
    add = free[int(draw(rd, "cuts-which", *span) * len(free))]
    return sorted([*cut_after, add])


def stops(ctx: ToolContext, name: str, segs: list[Segment]) -> list[Segment]:
    """``name``'s motion segments as this reading's stop detector reports them: with
    ``count_off_by_one_rate``, one stop missed (merged into the motion around it) or one short
    stop invented in the middle of the longest move."""
    rd = _active(ctx)
    if rd is None or not segs or draw(rd, "stops", name) >= ctx.cfg.noise.count_off_by_one_rate:
        return segs
    seg = type(segs[0])
    still = [i for i, s in enumerate(segs) if s.direction == "still"]
    moves = [i for i, s in enumerate(segs) if s.direction != "still" and s.end - s.start >= 0.6]
    if still and (not moves or draw(rd, "stops-kind", name) < 0.5):
        i = still[int(draw(rd, "stops-which", name) * len(still))]
        out = list(segs)
        gone = out.pop(i)
        if i > 0:
            out[i - 1] = seg(out[i - 1].direction, out[i - 1].start, gone.end)
        elif out:
            out[0] = seg(out[0].direction, gone.start, out[0].end)
        merged: list[Segment] = []
        for s in out:  # a move, the missed stop, the same move again: one move
            if merged and merged[-1].direction == s.direction:
                merged[-1] = seg(s.direction, merged[-1].start, s.end)
            else:
                merged.append(s)
        return merged
    if not moves:
        return segs
    i = max(moves, key=lambda k: (segs[k].end - segs[k].start, -k))
    s = segs[i]
    mid, half = (s.start + s.end) / 2, max(0.2, 0.1 * (s.end - s.start))
    parts = [seg(s.direction, s.start, mid - half), seg("still", mid - half, mid + half),
             seg(s.direction, mid + half, s.end)]
    return [*segs[:i], *parts, *segs[i + 1 :]]


def shift_span(ctx: ToolContext, start: float, end: float) -> tuple[float, float]:
    """A grounding span as this reading reports it: moved by a uniform draw in ±grounding_shift_s
    (kept inside the video, length preserved where it fits)."""
    rd = _active(ctx)
    g = ctx.cfg.noise.grounding_shift_s
    if rd is None or g <= 0:
        return start, end
    d = (2.0 * draw(rd, "shift") - 1.0) * g
    length = end - start
    s = min(max(0.0, start + d), max(0.0, ctx.duration - length))
    return s, min(ctx.duration, s + length)
