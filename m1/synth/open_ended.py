"""M1-Synth's open-ended family: free-text questions whose reference is a list read off the event log.

Four kinds, each answered by a list of items and scored by item F1 (:mod:`m1.data.metrics`;
``meta["open_metric"]`` says which):

* ``motion_sequence`` (sequence): "Describe what the red circle does between 4.2 s and 9.8 s, in
  order." → ``"moves right, stops, moves up"`` — the object's maximal motions overlapping the window;
* ``caption_sequence`` (sequence): "Which captions are shown in the video, in order?" →
  ``"RAVEN, MAPLE"``;
* ``objects_at`` (set): "Which objects are on screen at 12.5 s?" → ``"blue square, red circle"``
  (names sorted; the order of a reply does not matter);
* ``appearance_sequence`` (sequence): "List the objects in the order they first appear." →
  ``"green triangle, red circle, blue square"``.

As in :mod:`m1.synth.questions`, a generator asks only what the log decides unambiguously: every
motion in a window lasts 0.8 s or more inside it, a window edge is at least 0.3 s from the motion
outside it, and the object is fully visible throughout; no caption is shorter than 2.2 s; at the asked time every object
on screen is fully visible for ±0.3 s, away from a cut, and no two overlap; entries are 1 s apart.
A perfect perceiver therefore scores 1 on every question.

The family is asked only with ``synth.open_ended=true`` (:func:`generate_open_questions`, called by
:func:`m1.synth.generate.video_questions` after the four families, with its own random stream: the
other families' questions are identical with or without it).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from m1.config.synth import SynthConfig
from m1.schema import Family, Question, TaskType
from m1.synth.world import EventLog, Motion, SynthObject

OpenGenerator = Callable[[EventLog, random.Random, SynthConfig], Question | None]

MOTION_ITEM = {"left": "moves left", "right": "moves right", "up": "moves up", "down": "moves down", "still": "stops"}
MAX_ITEMS = 8  # an open answer is at most 200 characters (m1.team.answers.parse_answer); 8 names fit


def _q(log: EventLog, subtype: str, text: str, items: list[str], metric: str) -> Question:
    return Question(
        qid="", video=f"videos/{log.video_id}.mp4", question=text, answer=", ".join(items),
        task_type=TaskType.OPEN_ENDED, family=Family.OPEN_ENDED, category=subtype, duration=log.duration,
        meta={"video_id": log.video_id, "open_metric": metric},
    )


def _visible_throughout(log: EventLog, o: SynthObject, t0: float, t1: float) -> bool:
    """Fully visible at t0, t1 and every keyframe between (motion is piecewise linear and the
    fully-visible region convex, so that is fully visible throughout)."""
    times = [t0, t1] + [k.t for k in o.keyframes if t0 < k.t < t1]
    return all(log.is_fully_visible(o, t) for t in times)


def motion_windows(log: EventLog, o: SynthObject) -> list[tuple[list[Motion], float, float]]:
    """Every run of 2-4 consecutive motions of ``o`` that a window can isolate unambiguously, with
    the earliest start and the latest end of such a window (0.3 s inside the run; module docstring)."""
    ms = log.motions(o)
    out = []
    for i in range(len(ms)):
        for j in range(i + 1, min(i + 4, len(ms))):
            first, last, inner = ms[i], ms[j], ms[i + 1 : j]
            if first.end - first.start < 1.1 or last.end - last.start < 1.1:
                continue
            if any(m.end - m.start < 0.8 for m in inner):
                continue
            out.append((ms[i : j + 1], first.start + 0.3, last.end - 0.3))
    return out


def q_motion_sequence(log: EventLog, rng: random.Random, cfg: SynthConfig) -> Question | None:
    cands = []
    for o in log.objects:
        for run, lo, hi in motion_windows(log, o):
            first, last = run[0], run[-1]
            t0 = round(rng.uniform(lo, first.end - 0.8), 1)
            t1 = round(rng.uniform(last.start + 0.8, hi), 1)
            if t0 < lo - 1e-9 or first.end - t0 < 0.8 or t1 > hi + 1e-9 or t1 - last.start < 0.8:
                continue  # rounding pushed an edge out
            if _visible_throughout(log, o, t0, t1):
                cands.append((o, run, t0, t1))
    if not cands:
        return None
    length = rng.choice(sorted({len(c[1]) for c in cands}))  # longer runs are rarer: even out the lengths
    o, run, t0, t1 = rng.choice([c for c in cands if len(c[1]) == length])
    return _q(log, "motion_sequence",
              f"Describe what the {o.name} does between {t0:.1f} s and {t1:.1f} s, in order.",
              [MOTION_ITEM[m.direction] for m in run], "sequence")


def q_caption_sequence(log: EventLog, rng: random.Random, cfg: SynthConfig) -> Question | None:
    caps = sorted(log.captions, key=lambda c: c.start)
    if not caps or len(caps) > MAX_ITEMS or any(c.end - c.start < 2.2 for c in caps):
        return None
    return _q(log, "caption_sequence", "Which captions are shown in the video, in order?",
              [c.text for c in caps], "sequence")


def objects_on_screen(log: EventLog, t: float, margin: float = 0.3) -> list[SynthObject] | None:
    """The objects on screen at ``t`` if that is unambiguous (module docstring), else None."""
    if any(abs(t - c) < 0.5 for c in log.cut_times()):
        return None
    near = {o.id: o for s in (t - margin, t, t + margin) for o in log.objects if log.is_on_screen(o, s)}
    objs = list(near.values())
    if not all(log.is_fully_visible(o, s) for o in objs for s in (t - margin, t, t + margin)):
        return None
    for i, a in enumerate(objs):  # no overlap: an occluded object is no fair question
        pa = a.position(t)
        for b in objs[i + 1 :]:
            pb = b.position(t)
            gap = (a.size + b.size) / 2 + 4
            if abs(pa[0] - pb[0]) < gap and abs(pa[1] - pb[1]) < gap:  # type: ignore[index]
                return None
    return objs


def q_objects_at(log: EventLog, rng: random.Random, cfg: SynthConfig) -> Question | None:
    times = [round(i * 0.5, 1) for i in range(1, int(log.duration / 0.5))]
    rng.shuffle(times)
    for t in times:
        objs = objects_on_screen(log, t)
        if objs and len(objs) <= MAX_ITEMS:
            return _q(log, "objects_at", f"Which objects are on screen at {t:.1f} s?",
                      sorted(o.name for o in objs), "set")
    return None


def q_appearance_sequence(log: EventLog, rng: random.Random, cfg: SynthConfig) -> Question | None:
    objs = sorted(log.objects, key=lambda o: o.t_in)
    if not 2 <= len(objs) <= MAX_ITEMS or any(b.t_in - a.t_in < 1.0 for a, b in zip(objs, objs[1:], strict=False)):
        return None
    return _q(log, "appearance_sequence", "List the objects in the order they first appear.",
              [o.name for o in objs], "sequence")


OPEN_GENERATORS: dict[str, OpenGenerator] = {
    "motion_sequence": q_motion_sequence, "caption_sequence": q_caption_sequence,
    "objects_at": q_objects_at, "appearance_sequence": q_appearance_sequence,
}


def generate_open_questions(log: EventLog, cfg: SynthConfig, seed: int) -> list[Question]:
    """Up to ``cfg.open_ended_per_video`` (default ``cfg.questions_per_family``) distinct open-ended
    questions for one video, qids ``<video>-open_ended-<k>``; kinds visited in a seeded order (as
    :func:`~m1.synth.questions.generate_questions`), cycling so that a larger count draws the kinds with
    a free parameter (an object's window, a time) again. A larger count extends the list: its first
    questions are those of a smaller one (one random stream, read in the same order)."""
    rng = random.Random(seed)
    names = list(OPEN_GENERATORS)
    rng.shuffle(names)
    n = cfg.open_ended_per_video or cfg.questions_per_family
    out: list[Question] = []
    seen: set[str] = set()
    for name in names * max(2, n):
        if len(out) >= n:
            break
        q = OPEN_GENERATORS[name](log, rng, cfg)
        if q is None or q.question in seen:
            continue
        seen.add(q.question)
        q.qid = f"{log.video_id}-{Family.OPEN_ENDED.value}-{len(out)}"
        out.append(q)
    return out
