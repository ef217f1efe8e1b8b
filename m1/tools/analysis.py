"""Video analyses the tools share, built on :meth:`ToolContext.look` (so every frame is counted).

- :func:`overview`: a sparse uniform scan → shots (cuts between samples), object tracks,
  optionally captions;
- :func:`refine_cut`, :func:`refine_entry`, :func:`refine_exit`, :func:`refine_caption`:
  bisection between two samples to frame precision (a handful of frames each) — this is how
  the tools stay far below dense sampling yet get exact times;
- :func:`follow` + :func:`motion_segments`: an object's positions at a higher rate and its
  maximal move/stop intervals, each boundary bisected.

Everything is deterministic for a video and arguments. Nothing here knows about questions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from m1.tools import noise
from m1.tools.context import FrameObs, ToolContext
from m1.tools.perception import ocr, shots
from m1.tools.perception.objects import Detection, Track, track_objects

STILL_PX = 2.0  # displacement below this between two samples counts as standing still


def grid(start: float, end: float, step: float) -> list[float]:
    """Sample times every ``step`` seconds covering [start, end), centred in each slot."""
    n = max(1, int(math.ceil((end - start) / step - 1e-9)))
    step = (end - start) / n
    return [round(start + step * (i + 0.5), 4) for i in range(n)]


@dataclass
class Shot:
    index: int
    start: float
    end: float


@dataclass
class Overview:
    times: list[float]
    obs: list[FrameObs]
    shots: list[Shot]
    tracks: list[Track]
    captions: list[tuple[float, str]] = field(default_factory=list)  # (sample time, text)

    exact: set[int] = field(default_factory=set)  # indices of shots whose bounds are bisected

    def exact_shot(self, ctx: ToolContext, shot: Shot) -> Shot:
        """``shot`` with its start and end bisected to the first frame of each shot (once)."""
        if shot.index not in self.exact:
            self.exact.add(shot.index)
            for k in (shot.index, shot.index + 1):  # the cut before and the cut after
                if 0 < k < len(self.shots):
                    a = max(t for t in self.times if t < self.shots[k].start)
                    b = min(t for t in self.times if t >= self.shots[k].start)
                    cut = refine_cut(ctx, a, b)
                    self.shots[k - 1].end = cut
                    self.shots[k].start = cut
        return shot

    def shot_at(self, t: float) -> Shot:
        for s in self.shots:
            if s.start <= t < s.end:
                return s
        return self.shots[-1]

    def track(self, name: str) -> Track | None:
        for tr in self.tracks:
            if tr.name == name:
                return tr
        # A track of the right colour whose shape was never seen unclipped may still be it.
        colour = name.split()[0]
        loose = [tr for tr in self.tracks if tr.colour == colour and all(d.clipped for _, d in tr.sightings)]
        return loose[0] if len(loose) == 1 else None


def overview(
    ctx: ToolContext,
    start: float = 0.0,
    end: float | None = None,
    step: float | None = None,
    captions: bool = False,
    exact_cuts: bool = False,
) -> Overview:
    end = ctx.duration if end is None else min(end, ctx.duration)
    step = step or ctx.cfg.scan_step
    times = grid(start, end, step)
    obs = ctx.look(times, caption=captions)
    cut_after = noise.cuts(ctx, shots.cut_positions([o.sig for o in obs]), len(obs), (start, end, step))
    bounds = [start]
    for i in cut_after:
        bounds.append(refine_cut(ctx, obs[i - 1].t, obs[i].t) if exact_cuts else (obs[i - 1].t + obs[i].t) / 2)
    bounds.append(end)
    shot_list = [Shot(k, bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]
    # Track within each shot: an object never survives a cut.
    tracks: list[Track] = []
    for s in shot_list:
        frames = [(o.t, o.objects) for o in obs if s.start <= o.t < s.end]
        tracks.extend(track_objects(frames, max_gap=step * 1.6))
    tracks = _merge_names(tracks)
    caps = [(o.t, o.caption.text) for o in obs if o.caption is not None]
    # Frame times, not grid times: later bisections compare against sighting times.
    return Overview([o.t for o in obs], obs, shot_list, tracks, caps)


def _merge_names(tracks: list[Track]) -> list[Track]:
    """(colour, shape) is unique in a shot; two tracks with one name in one shot are one object
    that was lost for a sample (occlusion), so merge them."""
    out: list[Track] = []
    for tr in sorted(tracks, key=lambda t: t.first):
        same = [o for o in out if o.name == tr.name]
        if same:
            same[0].sightings.extend(tr.sightings)
            same[0].sightings.sort(key=lambda p: p[0])
        else:
            out.append(tr)
    return out


def _frame_step(ctx: ToolContext) -> float:
    return 1.0 / max(ctx.reader.info.fps, 1e-3)


def bisect_time(ctx: ToolContext, lo: float, hi: float, pred, tol: float | None = None) -> float:  # noqa: ANN001
    """Smallest frame time in (lo, hi] where ``pred(obs)`` holds, given not pred(lo), pred(hi)."""
    tol = tol or _frame_step(ctx) * 1.01
    while hi - lo > tol:
        mid = ctx.index_times([(lo + hi) / 2])[0]
        if mid <= lo + 1e-9 or mid >= hi - 1e-9:
            break
        if pred(ctx.look([mid])[0]):
            hi = mid
        else:
            lo = mid
    return hi


def refine_cut(ctx: ToolContext, a: float, b: float) -> float:
    """Time of the first frame of the new shot, between sample times ``a`` < ``b``."""
    sa, sb = ctx.look([a])[0].sig, ctx.look([b])[0].sig
    return bisect_time(ctx, a, b, lambda o: shots.distance(o.sig, sb) < shots.distance(o.sig, sa))


def find(obs: FrameObs, name: str, near: tuple[float, float] | None = None) -> Detection | None:
    """The detection of object ``name`` ('red circle') in a frame: exact name first, then a
    clipped blob of the same colour (shapes are unreliable at the frame edge)."""
    colour, shape = name.split(" ", 1)
    exact = [d for d in obs.objects if d.colour == colour and d.shape == shape]
    loose = [d for d in obs.objects if d.colour == colour and d.clipped]
    pool = exact or loose
    if not pool:
        return None
    if near is None:
        return max(pool, key=lambda d: d.area)
    return min(pool, key=lambda d: math.hypot(d.x - near[0], d.y - near[1]))


def _present(name: str, near: tuple[float, float] | None = None):  # noqa: ANN202
    def pred(o: FrameObs) -> bool:
        return find(o, name, near) is not None or any(d.colour == name.split()[0] for d in o.objects)

    return pred


def refine_entry(ctx: ToolContext, ov: Overview, tr: Track) -> float:
    """When ``tr`` first shows up: bisect between the previous sample (or shot start) and its
    first sighting."""
    first = tr.first
    shot = ov.exact_shot(ctx, ov.shot_at(first))
    prev = [t for t in ov.times if shot.start <= t < first]
    lo = prev[-1] if prev else shot.start
    colour = tr.colour
    if not prev:
        lo_obs = ctx.look([shot.start])[0]
        if any(d.colour == colour for d in lo_obs.objects):
            return lo_obs.t
        lo = lo_obs.t
    return bisect_time(ctx, lo, first, lambda o: any(d.colour == colour for d in o.objects))


def refine_exit(ctx: ToolContext, ov: Overview, tr: Track) -> float:
    """When ``tr`` is last on screen (end of its last frame), bounded by its shot's end."""
    last = tr.last
    shot = ov.exact_shot(ctx, ov.shot_at(last))
    nxt = [t for t in ov.times if last < t < shot.end]
    colour = tr.colour
    if not nxt:
        hi_t = ctx.index_times([shot.end - 1e-3])[0]
        if any(d.colour == colour for d in ctx.look([hi_t])[0].objects):
            return shot.end
        hi = hi_t
    else:
        hi = nxt[0]
    t = bisect_time(ctx, last, hi, lambda o: not any(d.colour == colour for d in o.objects))
    return t  # first frame without it == end of the last frame with it


def follow(
    ctx: ToolContext, name: str, start: float, end: float, fps: float | None = None
) -> list[tuple[float, Detection]]:
    """Positions of ``name`` at ``fps`` within [start, end] (frames where it is not found are skipped)."""
    fps = fps or ctx.cfg.fine_fps
    times = ctx.index_times(grid(start, end, 1.0 / fps)) if end > start else []
    out: list[tuple[float, Detection]] = []
    near = None
    for o in ctx.look(times):
        d = find(o, name, near)
        if d is not None:
            out.append((o.t, d))
            near = (d.x, d.y)
    return out


@dataclass(frozen=True)
class Segment:
    direction: str  # left | right | up | down | still
    start: float
    end: float


def _direction(a: Detection, b: Detection) -> str:
    dx, dy = b.x - a.x, b.y - a.y
    if math.hypot(dx, dy) < STILL_PX:
        return "still"
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def motion_segments(ctx: ToolContext, name: str, path: list[tuple[float, Detection]]) -> list[Segment]:
    """Maximal same-direction intervals along ``path``; each change is bisected to a frame.

    Clipped sightings (entering/leaving) move their box centre with the visible part only, so
    directions are read from unclipped pairs when there are any.
    """
    full = [p for p in path if not p[1].clipped]
    t_first, t_last = (path[0][0], path[-1][0]) if path else (0.0, 0.0)
    if len(full) >= 2:
        path = full
    if len(path) < 2:
        return []
    labels = [_direction(a, b) for (_, a), (_, b) in zip(path, path[1:], strict=False)]
    runs: list[list[int]] = []  # [label index start, end] inclusive, over pairs
    for i, lab in enumerate(labels):
        if runs and labels[runs[-1][0]] == lab:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    segs: list[Segment] = []
    for k, (i, j) in enumerate(runs):
        lab = labels[i]
        seg_start = path[i][0]
        seg_end = path[j + 1][0]
        if k == 0:
            seg_start = t_first  # entering (clipped) continues the first motion
        elif lab == "still":
            # Reached the still position at or before path[i]: bisect in (path[i-1], path[i]].
            seg_start = _refine_change(ctx, name, path[i - 1], path[i], labels[i - 1], lab)
        else:
            # Left the previous position after path[i]: bisect in (path[i], path[i+1]].
            seg_start = _refine_change(ctx, name, path[i], path[i + 1], labels[i - 1], lab)
        if k == len(runs) - 1:
            seg_end = max(seg_end, t_last)
        segs.append(Segment(lab, seg_start, seg_end))
    # Each segment ends where the next starts.
    return [
        Segment(s.direction, s.start, segs[n + 1].start if n + 1 < len(segs) else s.end) for n, s in enumerate(segs)
    ]


def _refine_change(
    ctx: ToolContext, name: str, a: tuple[float, Detection], b: tuple[float, Detection], before: str, after: str
) -> float:
    """Find when motion switches from ``before`` to ``after`` between samples a and b of the pair
    that precedes the first pair labelled ``after``."""
    (ta, da), (tb, db) = a, b
    if after == "still":
        # Still from here on at position of b: first frame whose position equals b's.
        def pred(o: FrameObs) -> bool:
            d = find(o, name, (db.x, db.y))
            return d is not None and math.hypot(d.x - db.x, d.y - db.y) < STILL_PX

        return bisect_time(ctx, ta, tb, pred)
    if before == "still":
        # Still at a's position until it starts moving.
        def moved(o: FrameObs) -> bool:
            d = find(o, name, (da.x, da.y))
            return d is None or math.hypot(d.x - da.x, d.y - da.y) >= STILL_PX

        t = bisect_time(ctx, ta, tb, moved)
        return max(ta, t - _frame_step(ctx))  # motion starts in the frame interval before
    return (ta + tb) / 2


def caption_spans(ov: Overview) -> list[tuple[str, float, float]]:
    """(text, first sample, last sample) of each distinct caption read in the overview."""
    spans: list[tuple[str, float, float]] = []
    for t, text in ov.captions:
        if spans and ocr.similarity(spans[-1][0], text) >= 0.6 and t - spans[-1][2] <= ov_step(ov) * 1.5:
            spans[-1] = (spans[-1][0], spans[-1][1], t)
        else:
            spans.append((text, t, t))
    return spans


def ov_step(ov: Overview) -> float:
    return ov.times[1] - ov.times[0] if len(ov.times) > 1 else 1.0


def read_caption_at(ctx: ToolContext, t: float) -> str | None:
    o = ctx.look([t], caption=True)[0]
    return o.caption.text if o.caption else None


def refine_caption(ctx: ToolContext, text: str, first: float, last: float, lo: float, hi: float) -> tuple[float, float]:
    """Start and end of caption ``text`` seen from ``first`` to ``last``, bisecting towards
    ``lo`` (a time it is not shown, or the search limit) and ``hi``."""

    def shown(o: FrameObs) -> bool:
        return o.caption is not None and ocr.similarity(o.caption.text, text) >= 0.6

    def look_shown(t: float) -> bool:
        return shown(ctx.look([t], caption=True)[0])

    def bis(a: float, b: float, want_shown_at_b: bool) -> float:
        step = _frame_step(ctx) * 1.01
        while b - a > step:
            mid = ctx.index_times([(a + b) / 2])[0]
            if mid <= a + 1e-9 or mid >= b - 1e-9:
                break
            if look_shown(mid) == want_shown_at_b:
                b = mid
            else:
                a = mid
        return b

    lo = ctx.index_times([lo])[0]
    hi = ctx.index_times([hi])[0]
    start = lo if look_shown(lo) else bis(lo, first, True)
    end_first_off = hi if look_shown(hi) else bis(last, hi, False)
    return start, end_first_off
