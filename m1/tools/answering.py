"""Question-aware reasoning behind the perception-heavy tools: question text → candidate answer
with evidence and a confidence, as the paper's VLM-backed tools return.

Each handler recognises one question form by a regular expression over the question text (not
by benchmark category, so a real benchmark's question in the same form is handled too), runs
the analyses of :mod:`m1.tools.analysis` it needs, and returns a :class:`Candidate`. Handlers
are grouped by the tool that owns them (``fine_browser``: temporal/long-video/reasoning forms;
``spatial``: positions, distances, sizes, counts, order; ``grounding``: sentence → interval).
A question no handler recognises is put to the VLM when ``tools.backend='vlm'``
(:func:`vlm_candidate`), else gets a general candidate from the providers' evidence
(:mod:`m1.tools.evidence`, confidence at most 0.6).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from m1.schema import OPTION_LETTERS, Question
from m1.tools import analysis as A
from m1.tools import evidence, noise
from m1.tools.context import ToolContext
from m1.tools.perception import ocr
from m1.tools.perception.objects import COLOUR_NAMES, SHAPE_NAMES

NAME = r"(?:" + "|".join(COLOUR_NAMES) + r") (?:" + "|".join(SHAPE_NAMES) + r")"
PLURAL = {"circles": "circle", "squares": "square", "triangles": "triangle"}
DOING = {
    "left": "moving left",
    "right": "moving right",
    "up": "moving up",
    "down": "moving down",
    "still": "standing still",
}


@dataclass(frozen=True)
class Candidate:
    answer: str  # option letter, number text, or "start end"
    evidence: str
    confidence: float


Handler = Callable[[ToolContext, Question, re.Match], Candidate | None]


# ------------------------------------------------------------------ option helpers
def pick_option(q: Question, value: str, evidence: str, conf: float) -> Candidate:
    """The option whose text best matches ``value`` (exact, else numeric-nearest, else edit similarity)."""
    if not q.options:
        return Candidate(value, evidence, conf)
    opts = [o.strip().lower() for o in q.options]
    v = value.strip().lower()
    if v in opts:
        return Candidate(OPTION_LETTERS[opts.index(v)], evidence, conf)
    try:
        num = float(v)
        nums = [(abs(float(o) - num), i) for i, o in enumerate(opts) if _is_number(o)]
        if nums:
            _, i = min(nums)
            return Candidate(OPTION_LETTERS[i], evidence + " (nearest option)", conf * 0.5)
    except ValueError:
        pass
    sims = [(ocr.similarity(v, o), -i) for i, o in enumerate(opts)]
    s, neg_i = max(sims)
    return Candidate(OPTION_LETTERS[-neg_i], evidence, conf * max(0.2, s))


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _overview(ctx: ToolContext, captions: bool = False) -> A.Overview:
    return A.overview(ctx, captions=captions)


def _objects(ov: A.Overview) -> list:
    # A track seen only clipped once is a fragment (an object entering as the shot ends).
    return [tr for tr in ov.tracks if len(tr.sightings) >= 2 or any(not d.clipped for _, d in tr.sightings)]


def _entry(ctx: ToolContext, ov: A.Overview, name: str) -> float | None:
    tr = ov.track(name)
    return None if tr is None else A.refine_entry(ctx, ov, tr)


def _lifetime(ctx: ToolContext, ov: A.Overview, name: str) -> tuple[float, float] | None:
    tr = ov.track(name)
    if tr is None:
        return None
    return A.refine_entry(ctx, ov, tr), A.refine_exit(ctx, ov, tr)


def _segments(ctx: ToolContext, ov: A.Overview, name: str) -> list[A.Segment] | None:
    life = _lifetime(ctx, ov, name)
    if life is None:
        return None
    t0, t1 = life
    path = A.follow(ctx, name, t0, t1)
    # The two last frames before the object vanishes: a short final stop shows only there.
    tail = ctx.index_times([t1 - 1e-3 - 1.0 / ctx.reader.info.fps, t1 - 1e-3])
    tail = [t for t in tail if t > (path[-1][0] if path else t0)]
    for o in ctx.look(tail):
        d = A.find(o, name, (path[-1][1].x, path[-1][1].y) if path else None)
        if d is not None:
            path.append((o.t, d))
    return noise.stops(ctx, name, A.motion_segments(ctx, name, path))


def _caption_start(ctx: ToolContext, ov: A.Overview, text: str) -> float | None:
    for cap, first, last in A.caption_spans(ov):
        if ocr.similarity(cap, text) >= 0.6:
            prev = [t for t in ov.times if t < first]
            lo = prev[-1] if prev else 0.0
            start, _ = A.refine_caption(ctx, text, first, last, lo, last)
            return start
    return None


# ------------------------------------------------------------------ fine_browser forms
def h_object_count(ctx, q, m):  # noqa: ANN001, ANN201
    ov = _overview(ctx)
    objs = _objects(ov)
    n = len(objs)
    ev = f"{n} objects: " + ", ".join(tr.name for tr in objs)
    return pick_option(q, str(n), ev, 0.9) if q.options else Candidate(str(n), ev, 0.9)


def h_shape_count(ctx, q, m):  # noqa: ANN001, ANN201
    shape = PLURAL[m.group(1)]
    ov = _overview(ctx)
    objs = [tr for tr in _objects(ov) if tr.shape == shape]
    ev = f"{len(objs)} {m.group(1)}: " + ", ".join(tr.name for tr in objs)
    n = str(len(objs))
    return pick_option(q, n, ev, 0.9) if q.options else Candidate(n, ev, 0.9)


def h_scene_count(ctx, q, m):  # noqa: ANN001, ANN201
    ov = _overview(ctx)
    ev = f"{len(ov.shots)} shots, cuts near " + ", ".join(f"{s.start:.1f}s" for s in ov.shots[1:])
    return pick_option(q, str(len(ov.shots)), ev, 0.9)


def h_first_appearance(ctx, q, m):  # noqa: ANN001, ANN201
    ov = _overview(ctx)
    firsts = {}
    for opt in q.options:
        tr = ov.track(opt.strip().lower())
        if tr is not None:
            firsts[opt] = tr.first
    if not firsts:
        return None
    # Refine only options whose coarse first sighting is within one scan step of the earliest.
    lead = min(firsts.values())
    exact = {o: (_entry(ctx, ov, o.lower()) if t - lead <= 2 * A.ov_step(ov) else t) for o, t in firsts.items()}
    best = min(exact, key=lambda o: (exact[o], q.options.index(o)))
    ev = "entries: " + ", ".join(f"{o} {t:.1f}s" for o, t in sorted(exact.items(), key=lambda p: p[1]))
    return pick_option(q, best, ev, 0.9 if len(firsts) == len(q.options) else 0.7)


def h_caption_at_entry(ctx, q, m):  # noqa: ANN001, ANN201
    name = m.group(1)
    ov = _overview(ctx)
    t = _entry(ctx, ov, name)
    if t is None:
        return None
    text = A.read_caption_at(ctx, t + 0.5)
    if text is None:
        return Candidate(pick_option(q, "", "", 0.2).answer, f"{name} enters at {t:.1f}s; no caption read", 0.2)
    return pick_option(q, text, f"{name} enters at {t:.1f}s while '{text}' is shown", 0.9)


def h_stop_count(ctx, q, m):  # noqa: ANN001, ANN201
    name = m.group(1)
    ov = _overview(ctx)
    segs = _segments(ctx, ov, name)
    if segs is None:
        return None
    n = sum(s.direction == "still" for s in segs)
    ev = f"{name}: " + " ".join(f"{s.direction}[{s.start:.1f}-{s.end:.1f}]" for s in segs)
    return pick_option(q, str(n), ev, 0.85)


def h_colour_after_caption(ctx, q, m):  # noqa: ANN001, ANN201
    text = m.group(1)
    ov = _overview(ctx, captions=True)
    c0 = _caption_start(ctx, ov, text)
    if c0 is None:
        return None
    step = A.ov_step(ov)
    later = [tr for tr in _objects(ov) if tr.first > c0 - step]
    entries = sorted(((A.refine_entry(ctx, ov, tr), tr) for tr in later), key=lambda p: p[0])
    entries = [(t, tr) for t, tr in entries if t > c0 + 0.1]
    if not entries:
        return None
    t, tr = entries[0]
    return pick_option(q, tr.colour, f"'{text}' from {c0:.1f}s; next entry {tr.name} at {t:.1f}s", 0.9)


def h_caption_during_motion(ctx, q, m):  # noqa: ANN001, ANN201
    name, direction = m.group(1), m.group(2)
    ov = _overview(ctx)
    segs = _segments(ctx, ov, name)
    if not segs:
        return None
    moves = [s for s in segs if s.direction == direction]
    if not moves:
        return None
    s = max(moves, key=lambda s: s.end - s.start)
    times = A.grid(s.start, s.end, 0.4)
    seen: dict[str, int] = {}
    for o in ctx.look(times, caption=True):
        if o.caption is not None:
            seen[o.caption.text] = seen.get(o.caption.text, 0) + 1
    if not seen:
        return None
    best = max(seen, key=lambda k: (seen[k], k))
    return pick_option(q, best, f"{name} moves {direction} {s.start:.1f}-{s.end:.1f}s; captions {seen}", 0.85)


def h_same_scene(ctx, q, m):  # noqa: ANN001, ANN201
    name = m.group(1)
    ov = _overview(ctx)
    tr = ov.track(name)
    if tr is None:
        return None
    shot = ov.shot_at(tr.first)
    mates = [o for o in q.options if (t := ov.track(o.strip().lower())) is not None and ov.shot_at(t.first) is shot]
    if not mates:
        return None
    return pick_option(
        q, mates[0], f"{name} in shot {shot.index + 1} with {', '.join(mates)}", 0.9 if len(mates) == 1 else 0.5
    )


def h_direction_at_caption(ctx, q, m):  # noqa: ANN001, ANN201
    text, name = m.group(1), m.group(2)
    ov = _overview(ctx, captions=True)
    c0 = _caption_start(ctx, ov, text)
    if c0 is None:
        return None
    times = ctx.index_times([c0 - 0.2, c0 + 0.4, c0 + 1.0])
    path = [(o.t, d) for o in ctx.look(times) if (d := A.find(o, name)) is not None]
    if len(path) < 2:
        return None
    dirs = [A._direction(a, b) for (_, a), (_, b) in zip(path, path[1:], strict=False)]
    d = max(set(dirs), key=lambda x: (dirs.count(x), x))
    return pick_option(q, DOING[d], f"'{text}' at {c0:.1f}s: {name} {DOING[d]}", 0.9 if len(set(dirs)) == 1 else 0.6)


# ------------------------------------------------------------------ spatial forms
def _at(ctx: ToolContext, t: float, *names: str) -> list | None:
    o = ctx.look([t])[0]
    found = [A.find(o, n) for n in names]
    return None if any(f is None for f in found) else found


def h_abs_distance(ctx, q, m):  # noqa: ANN001, ANN201
    t, a, b = float(m.group(1)), m.group(2), m.group(3)
    found = _at(ctx, t, a, b)
    if found is None:
        return None
    da, db = found
    d = math.hypot(da.x - db.x, da.y - db.y) * ctx.cfg.metres_per_pixel
    return Candidate(f"{d:.2f}", f"at {t:.1f}s {a} ({da.x:.0f},{da.y:.0f}) {b} ({db.x:.0f},{db.y:.0f})", 0.9)


def h_size(ctx, q, m):  # noqa: ANN001, ANN201
    name = m.group(1)
    ov = _overview(ctx)
    tr = ov.track(name)
    if tr is None:
        return None
    cm = tr.size * ctx.cfg.metres_per_pixel * 100
    return Candidate(f"{cm:.0f}", f"{name} is {tr.size:.0f} px wide", 0.85)


def _rel(da, db) -> tuple[float, float]:  # noqa: ANN001
    return db.x - da.x, db.y - da.y


def h_rel_direction(ctx, q, m):  # noqa: ANN001, ANN201
    t, b, a = float(m.group(1)), m.group(2), m.group(3)
    found = _at(ctx, t, a, b)
    if found is None:
        return None
    dx, dy = _rel(*found)
    lr = "right" if dx > 0 else "left"
    ud = "below" if dy > 0 else "above"
    opts = {o.strip().lower() for o in q.options}
    if opts <= {"left", "right"}:
        truth = lr
    elif opts <= {"left", "right", "above", "below"}:
        truth = lr if abs(dx) >= abs(dy) else ud
    else:
        truth = ("lower" if dy > 0 else "upper") + "-" + lr
    return pick_option(q, truth, f"at {t:.1f}s {b} is dx={dx:.0f} dy={dy:.0f} px from {a}", 0.9)


def h_rel_direction_hard(ctx, q, m):  # noqa: ANN001, ANN201
    t, a, b = float(m.group(1)), m.group(2), m.group(3)
    found = _at(ctx, t, a, b)
    if found is None:
        return None
    dx, dy = _rel(*found)
    truth = ("lower" if dy > 0 else "upper") + "-" + ("right" if dx > 0 else "left")
    return pick_option(q, truth, f"at {t:.1f}s {b} is dx={dx:.0f} dy={dy:.0f} px from {a}", 0.9)


def h_rel_distance(ctx, q, m):  # noqa: ANN001, ANN201
    t, a = float(m.group(1)), m.group(2)
    o = ctx.look([t])[0]
    da = A.find(o, a)
    if da is None:
        return None
    dists = {}
    for opt in q.options:
        d = A.find(o, opt.strip().lower())
        if d is not None:
            dists[opt] = math.hypot(d.x - da.x, d.y - da.y)
    if not dists:
        return None
    best = min(dists, key=lambda k: (dists[k], k))
    return pick_option(q, best, "distances px: " + ", ".join(f"{k} {v:.0f}" for k, v in dists.items()), 0.9)


def h_counting(ctx, q, m):  # noqa: ANN001, ANN201
    if m.group(1):
        return h_shape_count(ctx, q, m)
    return h_object_count(ctx, q, m)


def h_appearance_order(ctx, q, m):  # noqa: ANN001, ANN201
    names = [n.strip() for n in m.group(1).split(",")]
    ov = _overview(ctx)
    entries = {}
    for n in names:
        t = _entry(ctx, ov, n)
        entries[n] = math.inf if t is None else t
    order = ", ".join(sorted(names, key=lambda n: (entries[n], n)))
    conf = 0.9 if all(math.isfinite(v) for v in entries.values()) else 0.4
    return pick_option(q, order, "entries: " + ", ".join(f"{n} {t:.1f}s" for n, t in entries.items()), conf)


# ------------------------------------------------------------------ grounding forms
def _span(s: float, e: float, ev: str, conf: float) -> Candidate:
    return Candidate(f"{s:.2f} {e:.2f}", ev, conf)


def g_motion(ctx, q, m):  # noqa: ANN001, ANN201
    name, direction = m.group(1), m.group(2)
    ov = _overview(ctx)
    segs = _segments(ctx, ov, name)
    moves = [s for s in segs or [] if s.direction == direction]
    if not moves:
        return None
    s = max(moves, key=lambda s: s.end - s.start)
    return _span(s.start, s.end, f"{name} moves {direction}", 0.85)


def g_still(ctx, q, m):  # noqa: ANN001, ANN201
    name = m.group(1)
    ov = _overview(ctx)
    stills = [s for s in _segments(ctx, ov, name) or [] if s.direction == "still"]
    if not stills:
        return None
    s = max(stills, key=lambda s: s.end - s.start)
    return _span(s.start, s.end, f"{name} stands still", 0.85)


def g_visible(ctx, q, m):  # noqa: ANN001, ANN201
    name = m.group(1)
    ov = _overview(ctx)
    life = _lifetime(ctx, ov, name)
    if life is None:
        return None
    return _span(life[0], life[1], f"{name} on screen", 0.9)


def g_caption(ctx, q, m):  # noqa: ANN001, ANN201
    text = m.group(1)
    ov = _overview(ctx, captions=True)
    for cap, first, last in A.caption_spans(ov):
        if ocr.similarity(cap, text) >= 0.6:
            prev = [t for t in ov.times if t < first]
            nxt = [t for t in ov.times if t > last]
            s, e = A.refine_caption(ctx, text, first, last, prev[-1] if prev else 0.0, nxt[0] if nxt else ctx.duration)
            return _span(s, e, f"caption {cap} read", 0.9)
    return None


FORMS: dict[str, list[tuple[re.Pattern, Handler]]] = {
    "fine_browser": [
        (re.compile(r"how many different objects appear", re.I), h_object_count),
        (re.compile(r"how many (circles|squares|triangles) appear in the video", re.I), h_shape_count),
        (re.compile(r"how many shots", re.I), h_scene_count),
        (re.compile(r"which of these objects appears first", re.I), h_first_appearance),
        (re.compile(rf"text was shown on screen when the ({NAME}) appeared", re.I), h_caption_at_entry),
        (re.compile(rf"how many times does the ({NAME}) come to a stop", re.I), h_stop_count),
        (
            re.compile(r"colour was the object that appeared right after the caption (\w+)", re.I),
            h_colour_after_caption,
        ),
        (
            re.compile(rf"text was on screen while the ({NAME}) was moving (left|right|up|down)", re.I),
            h_caption_during_motion,
        ),
        (re.compile(rf"appeared in the same shot as the ({NAME})", re.I), h_same_scene),
        (re.compile(rf"when the caption (\w+) appeared, what was the ({NAME}) doing", re.I), h_direction_at_caption),
    ],
    "spatial": [
        (
            re.compile(
                rf"at ([\d.]+) s, what is the distance between the centres of the ({NAME}) and the ({NAME})", re.I
            ),
            h_abs_distance,
        ),
        (re.compile(rf"width of the ({NAME})", re.I), h_size),
        (re.compile(rf"at ([\d.]+) s, is the ({NAME}) to the left (?:of|or).*? the ({NAME})", re.I), h_rel_direction),
        (
            re.compile(rf"at ([\d.]+) s, in which direction from the ({NAME}) is the ({NAME})", re.I),
            h_rel_direction_hard,
        ),
        (re.compile(rf"at ([\d.]+) s, which of these objects is closest to the ({NAME})", re.I), h_rel_distance),
        (
            re.compile(r"how many (?:(circles|squares|triangles)|distinct objects) appear in this video", re.I),
            h_counting,
        ),
        (re.compile(rf"in which order do these objects first appear: ((?:{NAME}(?:, )?)+)", re.I), h_appearance_order),
    ],
    "grounding": [
        (re.compile(rf"the ({NAME}) moves (left|right|up|down)", re.I), g_motion),
        (re.compile(rf"the ({NAME}) stands still", re.I), g_still),
        (re.compile(rf"the ({NAME}) is on screen", re.I), g_visible),
        (re.compile(r"the caption (\w+) is shown", re.I), g_caption),
    ],
}


def answer(
    tool: str, ctx: ToolContext, text: str, q: Question | None = None, times: Sequence[float] | None = None
) -> Candidate | None:
    """Candidate answer of ``tool`` for question text ``text`` (None if no form matches).

    Names in the text are lower-cased before matching so 'Red Circle' works too. With
    ``tools.backend='vlm'``, a question the classical forms leave without a candidate is put to
    the VLM (:func:`vlm_candidate`) over the frames at ``times`` (default: ``tools.global_frames``
    uniform frames); with the CPU back-end ``times`` is unused.
    """
    q = q or Question(qid="", video=ctx.video, question=text, task_type="open_ended")
    cand = None
    for pattern, handler in FORMS.get(tool, []):
        mt = pattern.search(text)
        if mt is not None:
            groups = [g.lower() if g and not g.isupper() else g for g in mt.groups()]
            cand = handler(ctx, q, _Match(mt, groups))
            break
    if cand is None and ctx.vlm_enabled:
        cand = vlm_candidate(tool, ctx, text, q, times)
    if cand is None and tool != "grounding":
        g = evidence.general_candidate(ctx, text, q)
        cand = Candidate(g.answer, f"general: {g.evidence}", g.confidence) if g is not None else None
    return cand


def vlm_candidate(
    tool: str, ctx: ToolContext, text: str, q: Question, times: Sequence[float] | None = None
) -> Candidate | None:
    """The VLM back-end's candidate: grounding scores each overview frame with P(yes | "does this
    frame show ...") and returns the best frame's scan slot, widened over neighbours that score
    nearly as high; other tools ask the question (with its options) over the frames at ``times``."""
    vlm = ctx.vlm()
    if tool == "grounding":
        ov = _overview(ctx)
        imgs = [im for _, _, im in ctx.images(ov.times)]
        p_yes = [p[0] for p in vlm.choice_probs(imgs, f"Does this frame show: {text}?", ("yes", "no"))]
        best = max(range(len(p_yes)), key=lambda i: (p_yes[i], -i))
        lo = hi = best
        while lo > 0 and p_yes[lo - 1] >= p_yes[best] - 0.05:
            lo -= 1
        while hi < len(p_yes) - 1 and p_yes[hi + 1] >= p_yes[best] - 0.05:
            hi += 1
        half = A.ov_step(ov) / 2
        s, e = max(0.0, ov.times[lo] - half), min(ctx.duration, ov.times[hi] + half)
        return _span(s, e, f"vlm: p(yes)={p_yes[best]:.2f} at {ov.times[best]:.1f}s", p_yes[best])
    frames = ctx.images(ctx.reader.uniform_times(ctx.cfg.global_frames) if times is None else times)
    span = f"vlm on {len(frames)} frame(s) {frames[0][0]:.1f}-{frames[-1][0]:.1f}s"
    ans, conf = vlm.answer([im for _, _, im in frames], text, q.options)
    if q.options:
        return Candidate(ans, f"{span}: {ans}. {q.options[OPTION_LETTERS.index(ans)]}", conf)
    ans = " ".join(ans.split())
    return Candidate(ans, f"{span}: {ans}", conf) if ans else None


class _Match:
    """A match whose groups are normalised (object names lower-case, captions as written)."""

    def __init__(self, m: re.Match, groups: list[str | None]):
        self._m, self._g = m, groups

    def group(self, i: int) -> str | None:
        return self._g[i - 1]

    def groups(self) -> tuple:
        return tuple(self._g)
