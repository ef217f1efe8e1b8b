"""Question forms of the open-ended family: free-text lists the tools write from what they observe.

Each form answers one kind of M1-Synth's open-ended question (:mod:`m1.synth.open_ended`) with a
comma-separated list, the form its item-F1 metric reads (:mod:`m1.data.metrics`):

- ``fine_browser``: "Describe what the X does between A s and B s" → the object's motion
  segments inside the window (``moves right, stops, ...``); "Which captions are shown ... in
  order" → the captions of the overview scan, each read once, in order; "List the objects in the
  order they first appear" → the overview's objects ordered by their bisected entries;
- ``spatial`` (and ``fine_browser``): "Which objects are on screen at T s" → the objects
  detected in that frame, sorted by name.

:func:`answer` tries these forms first and otherwise defers to :func:`m1.tools.answering.answer`
(the template forms of the four families, the VLM, the general candidate) — also when a form
matches but observes nothing (no object, no caption: natural footage), so ``builtin``'s
question-aware tools call this one function. The forms read only observations, never the log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from m1.schema import Question
from m1.tools import analysis as A
from m1.tools import answering
from m1.tools.answering import NAME, Candidate, Handler
from m1.tools.context import ToolContext
from m1.tools.perception import ocr

ITEM = {"left": "moves left", "right": "moves right", "up": "moves up", "down": "moves down", "still": "stops"}
MIN_PIECE = 0.25  # seconds: a motion segment shorter than this inside the window is a boundary artefact


def h_motion_sequence(ctx, q, m):  # noqa: ANN001, ANN201
    name, t0, t1 = m.group(1), float(m.group(2)), float(m.group(3))
    if t1 <= t0:
        return None
    path = A.follow(ctx, name, t0, t1)
    segs = [s for s in A.motion_segments(ctx, name, path) if min(s.end, t1) - max(s.start, t0) >= MIN_PIECE]
    items: list[str] = []
    for s in segs:
        if not items or items[-1] != ITEM[s.direction]:
            items.append(ITEM[s.direction])
    if not items:
        return None
    ev = f"{name} {t0:.1f}-{t1:.1f}s: " + " ".join(f"{s.direction}[{s.start:.1f}-{s.end:.1f}]" for s in segs)
    return Candidate(", ".join(items), ev, 0.85 if len(path) >= 3 else 0.4)


def h_caption_sequence(ctx, q, m):  # noqa: ANN001, ANN201
    ov = A.overview(ctx, captions=True)
    texts: list[str] = []
    for text, _first, _last in A.caption_spans(ov):
        if not any(ocr.similarity(text, t) >= 0.8 for t in texts):
            texts.append(text)
    if not texts:  # nothing read (natural footage?): the general candidate or the VLM answers instead
        return None
    ev = "captions: " + ", ".join(f"{c} {f:.1f}-{la:.1f}s" for c, f, la in A.caption_spans(ov))
    return Candidate(", ".join(texts), ev, 0.85)


def h_objects_at(ctx, q, m):  # noqa: ANN001, ANN201
    t = float(m.group(1))
    o = ctx.look(ctx.index_times([t]))[0]
    names = sorted({d.name for d in o.objects})
    if not names:  # the detector knows M1-Synth's shapes only: defer, as for every other unknown
        return None
    ev = f"at {o.t:.1f}s: " + ", ".join(f"{d.name} at ({d.x:.0f},{d.y:.0f})" for d in o.objects)
    return Candidate(", ".join(names), ev, 0.9 if not any(d.clipped for d in o.objects) else 0.6)


def h_appearance_sequence(ctx, q, m):  # noqa: ANN001, ANN201
    ov = A.overview(ctx)
    objs = answering._objects(ov)
    if not objs:
        return None
    entries = sorted((A.refine_entry(ctx, ov, tr), tr.name) for tr in objs)
    ev = "entries: " + ", ".join(f"{n} {t:.1f}s" for t, n in entries)
    return Candidate(", ".join(n for _, n in entries), ev, 0.85)


# The generator's wording and close rewordings ("What does the red circle do between 4 s and 12 s?").
_OBJECTS_AT = (re.compile(r"which objects are (?:on screen|visible|shown) at ([\d.]+) ?s", re.I), h_objects_at)
FORMS: dict[str, list[tuple[re.Pattern, Handler]]] = {
    "fine_browser": [
        (re.compile(rf"(?:what|does) the ({NAME}) do(?:es)? between ([\d.]+) ?s and ([\d.]+) ?s", re.I),
         h_motion_sequence),
        (re.compile(r"which captions (?:are shown|appear)", re.I), h_caption_sequence),
        (re.compile(r"(?:list|name) the objects in the order (?:in which )?they (?:first )?appear", re.I),
         h_appearance_sequence),
        _OBJECTS_AT,
    ],
    "spatial": [_OBJECTS_AT],
}


def answer(
    tool: str, ctx: ToolContext, text: str, q: Question | None = None, times: Sequence[float] | None = None
) -> Candidate | None:
    """The candidate of ``tool`` for ``text``: an open-ended form's when one matches and answers,
    else :func:`m1.tools.answering.answer`'s."""
    q = q or Question(qid="", video=ctx.video, question=text, task_type="open_ended")
    for pattern, handler in FORMS.get(tool, []):
        mt = pattern.search(text)
        if mt is not None:
            groups = [g.lower() if g and not g.isupper() else g for g in mt.groups()]
            cand = handler(ctx, q, answering._Match(mt, groups))
            if cand is not None:
                return cand
            break
    return answering.answer(tool, ctx, text, q, times)
