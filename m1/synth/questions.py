"""Questions with exact answers, derived from an :class:`~m1.synth.world.EventLog`.

Four families, mirroring the paper's benchmarks:

* ``long_video`` (LongVideoBench-like, multiple choice): counts, first appearance, the caption
  shown when an object appeared, number of shots, number of stops.
* ``reasoning`` (multi-hop, multiple choice): chains of two facts, e.g. the colour of the object
  that appeared right after a caption, the caption shown while an object moved a given way.
* ``spatial`` (VSI-Bench-like): relative direction (easy/medium/hard), relative distance,
  appearance order (multiple choice) and counts, distances, sizes (numeric, scored by MRA).
* ``grounding`` (Charades-STA-like): a sentence → the [start, end] seconds when it happens.

A generator asks only what the log decides unambiguously (margins in time and space are
enforced, so a perfect perceiver is always right). Distractor options come from the same
video's facts first, then from the shared vocabulary, and option order is shuffled, so a
guesser without the video stays near chance (measured by :mod:`m1.synth.baseline`).
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable

from m1.config.synth import SynthConfig
from m1.schema import OPTION_LETTERS, Family, Question, TaskType
from m1.seeding import derive_seed
from m1.synth.world import CAPTION_WORDS, COLOURS, SHAPES, EventLog, Motion, SynthObject, sample_event_log

Generator = Callable[[EventLog, random.Random, SynthConfig], Question | None]

# -- option helpers ------------------------------------------------------------------------


def _choice_question(rng: random.Random, truth: str, preferred: list[str], fallback: list[str],
                     k: int) -> tuple[list[str], str] | None:
    """Options = truth + distractors (``preferred`` first, then ``fallback``), shuffled."""
    pool = [x for x in dict.fromkeys(preferred) if x != truth]
    rng.shuffle(pool)
    extra = [x for x in dict.fromkeys(fallback) if x != truth and x not in pool]
    rng.shuffle(extra)
    distractors = (pool + extra)[: k - 1]
    if len(distractors) < k - 1:
        return None
    options = [truth, *distractors]
    rng.shuffle(options)
    return options, OPTION_LETTERS[options.index(truth)]


def _count_question(rng: random.Random, truth: int, k: int, marginal: dict[int, float]) -> tuple[list[str], str]:
    """``truth`` plus k-1 distinct distractor counts drawn from ``marginal`` — the distribution of
    this subtype's true answers under the same knobs — so that no count is a priori more likely
    to be the right one (a value-prior guesser stays at chance)."""
    pool = {v: w for v, w in marginal.items() if v != truth}
    distractors: list[int] = []
    while len(distractors) < k - 1 and pool:
        values = sorted(pool)
        v = rng.choices(values, weights=[pool[x] for x in values])[0]
        distractors.append(v)
        del pool[v]
    step = 1
    while len(distractors) < k - 1:  # support too small: extend with the nearest unused counts
        for v in (truth + step, truth - step):
            if v >= 0 and v not in distractors and len(distractors) < k - 1:
                distractors.append(v)
        step += 1
    options = [str(v) for v in [truth, *distractors]]
    rng.shuffle(options)
    return options, OPTION_LETTERS[options.index(str(truth))]


_COUNT_FACTS: dict[str, Callable[[EventLog], list[int]]] = {
    "object_count": lambda log: [len(log.objects)],
    "shape_count": lambda log: [sum(o.shape == s for o in log.objects) for s in SHAPES],
    "scene_count": lambda log: [len(log.scenes)],
    "stop_count": lambda log: [sum(m.direction == "still" for m in log.motions(o)) for o in log.objects],
}


@functools.lru_cache(maxsize=8)
def _count_marginals(cfg_json: str) -> dict[str, dict[int, float]]:
    """Distribution of each count subtype's answers, estimated by simulating 400 videos of the
    same knobs with a fixed seed (deterministic; ~0.1 s), smoothed so every count between the
    observed extremes stays possible."""

    cfg = SynthConfig.model_validate_json(cfg_json)
    counts: dict[str, Counter] = {name: Counter() for name in _COUNT_FACTS}
    for i in range(400):
        log = sample_event_log(cfg, "marginal", derive_seed("count-marginal", i))
        for name, fact in _COUNT_FACTS.items():
            counts[name].update(fact(log))
    out = {}
    for name, c in counts.items():
        lo, hi = min(c), max(c)
        total = sum(c.values())
        out[name] = {v: (c[v] + 0.5) / total for v in range(lo, hi + 1)}
    return out


def _flattening(p: dict, floor: float = 0.03) -> dict:
    """Acceptance probability per answer value that makes the accepted answers roughly uniform:
    a value seen with probability p is kept with probability min(1, m / p), where m is the
    smallest probability among values above ``floor`` (rarer values are always kept)."""
    common = [w for w in p.values() if w >= floor]
    m = min(common) if common else 1.0
    return {v: min(1.0, m / w) for v, w in p.items()}


def _count_options(rng: random.Random, cfg: SynthConfig, subtype: str, truth: int) -> tuple[list[str], str]:
    p = _count_marginals(cfg.model_dump_json())[subtype]
    accept = _flattening(p)
    # distractors follow the distribution of the answers that survive flattening
    return _count_question(rng, truth, cfg.num_options, {v: w * accept[v] for v, w in p.items()})


def _balanced_choice(rng: random.Random, cands: list, label: Callable) -> object:
    """Pick a label uniformly among those present, then a candidate with it: keeps the answer
    distribution flat where the world itself is skewed (e.g. objects stand still more often)."""
    by_label: dict = {}
    for c in cands:
        by_label.setdefault(label(c), []).append(c)
    key = rng.choice(sorted(by_label))
    return rng.choice(by_label[key])


def _all_names() -> list[str]:
    return [f"{c} {s}" for c in COLOURS for s in SHAPES]


def _plural(shape: str) -> str:
    return {"circle": "circles", "square": "squares", "triangle": "triangles"}[shape]


def _q(log: EventLog, family: Family, subtype: str, task: TaskType, text: str, options: list[str] | None = None,
       answer: str = "") -> Question:
    return Question(
        qid="", video=f"videos/{log.video_id}.mp4", question=text, options=options or [], answer=answer,
        task_type=task, family=family, category=subtype, duration=log.duration,
        meta={"video_id": log.video_id},
    )


# -- facts used by several families ----------------------------------------------------------


def _motion_covering(log: EventLog, o: SynthObject, t0: float, t1: float) -> Motion | None:
    """The single motion of ``o`` spanning all of [t0, t1], if there is one."""
    for m in log.motions(o):
        if m.start <= t0 and t1 <= m.end:
            return m
    return None


def _still_and_visible(log: EventLog, o: SynthObject, t: float, margin: float = 0.5) -> bool:
    m = _motion_covering(log, o, t - margin, t + margin)
    return m is not None and m.direction == "still" and log.is_fully_visible(o, t)


def _still_pairs_moment(
    log: EventLog, rng: random.Random, min_objects: int = 2
) -> tuple[float, list[SynthObject]] | None:
    """A frame time at which at least ``min_objects`` objects are fully visible and still."""
    times = [log.frame_time(i) for i in range(0, log.num_frames, max(1, log.fps // 2))]
    rng.shuffle(times)
    for t in times:
        objs = [o for o in log.objects if _still_and_visible(log, o, t)]
        if len(objs) >= min_objects:
            return round(t, 1), objs
    return None


def _appearance(o: SynthObject) -> float:
    """When an object is first clearly visible (half a second after it starts entering)."""
    return o.t_in + 0.5


# -- long-video family -----------------------------------------------------------------------


def q_object_count(log, rng, cfg):
    if not log.objects:
        return None
    opts, ans = _count_options(rng, cfg, "object_count", len(log.objects))
    return _q(log, Family.LONG_VIDEO, "object_count", TaskType.MULTIPLE_CHOICE,
              "How many different objects appear in the video?", opts, ans)


def q_shape_count(log, rng, cfg):
    shape = rng.choice(SHAPES)
    n = sum(o.shape == shape for o in log.objects)
    opts, ans = _count_options(rng, cfg, "shape_count", n)
    return _q(log, Family.LONG_VIDEO, "shape_count", TaskType.MULTIPLE_CHOICE,
              f"How many {_plural(shape)} appear in the video?", opts, ans)


def q_scene_count(log, rng, cfg):
    opts, ans = _count_options(rng, cfg, "scene_count", len(log.scenes))
    return _q(log, Family.LONG_VIDEO, "scene_count", TaskType.MULTIPLE_CHOICE,
              "How many shots, separated by hard cuts, does the video contain?", opts, ans)


def q_first_appearance(log, rng, cfg):
    objs = sorted(log.objects, key=lambda o: o.t_in)
    if len(objs) < 2 or objs[1].t_in - objs[0].t_in < 1.0:
        return None
    r = _choice_question(rng, objs[0].name, [o.name for o in objs[1:]], _all_names(), cfg.num_options)
    if r is None:
        return None
    return _q(log, Family.LONG_VIDEO, "first_appearance", TaskType.MULTIPLE_CHOICE,
              "Which of these objects appears first in the video?", *r)


def q_caption_at_entry(log, rng, cfg):
    cands = []
    for o in log.objects:
        t = _appearance(o)
        for c in log.captions:
            if c.start <= t - 0.3 and t + 0.3 <= c.end:
                cands.append((o, c))
    if not cands:
        return None
    o, c = rng.choice(cands)
    r = _choice_question(rng, c.text, [x.text for x in log.captions], list(CAPTION_WORDS), cfg.num_options)
    if r is None:
        return None
    return _q(log, Family.LONG_VIDEO, "caption_at_entry", TaskType.MULTIPLE_CHOICE,
              f"What text was shown on screen when the {o.name} appeared?", *r)


def q_stop_count(log, rng, cfg):
    if not log.objects:
        return None
    o = rng.choice(log.objects)
    n = sum(m.direction == "still" for m in log.motions(o))
    opts, ans = _count_options(rng, cfg, "stop_count", n)
    return _q(log, Family.LONG_VIDEO, "stop_count", TaskType.MULTIPLE_CHOICE,
              f"How many times does the {o.name} come to a stop?", opts, ans)


# -- reasoning family ------------------------------------------------------------------------


def q_colour_after_caption(log, rng, cfg):
    cands = []
    for c in log.captions:
        if any(c.start - 0.5 <= o.t_in <= c.start + 0.3 for o in log.objects):
            continue
        after = sorted((o for o in log.objects if o.t_in > c.start + 0.3), key=lambda o: o.t_in)
        if after and (len(after) == 1 or after[1].t_in - after[0].t_in >= 1.0):
            cands.append((c, after[0]))
    if not cands:
        return None
    c, o = rng.choice(cands)
    r = _choice_question(rng, o.colour, [x.colour for x in log.objects], list(COLOURS), cfg.num_options)
    if r is None:
        return None
    return _q(log, Family.REASONING, "colour_after_caption", TaskType.MULTIPLE_CHOICE,
              f"What colour was the object that appeared right after the caption {c.text} was first shown?", *r)


def q_caption_during_motion(log, rng, cfg):
    cands = []
    for o in log.objects:
        moves = [m for m in log.motions(o) if m.direction != "still"]
        for d in {m.direction for m in moves}:
            ms = [m for m in moves if m.direction == d]
            if len(ms) != 1 or ms[0].end - ms[0].start < 1.0:
                continue
            m = ms[0]
            overlapping = [c for c in log.captions if min(c.end, m.end) - max(c.start, m.start) > 0]
            if len(overlapping) == 1 and min(overlapping[0].end, m.end) - max(overlapping[0].start, m.start) >= 0.8:
                cands.append((o, d, overlapping[0]))
    if not cands:
        return None
    o, d, c = rng.choice(cands)
    r = _choice_question(rng, c.text, [x.text for x in log.captions], list(CAPTION_WORDS), cfg.num_options)
    if r is None:
        return None
    return _q(log, Family.REASONING, "caption_during_motion", TaskType.MULTIPLE_CHOICE,
              f"Which text was on screen while the {o.name} was moving {d}?", *r)


def q_same_scene(log, rng, cfg):
    cands = [o for o in log.objects if sum(x.scene == o.scene for x in log.objects) >= 2]
    if not cands:
        return None
    o = rng.choice(cands)
    mates = [x for x in log.objects if x.scene == o.scene and x.id != o.id]
    truth = rng.choice(mates)
    others = [x.name for x in log.objects if x.scene != o.scene]
    absent = [n for n in _all_names() if n not in {x.name for x in log.objects}]
    r = _choice_question(rng, truth.name, others, absent, cfg.num_options)
    if r is None:
        return None
    return _q(log, Family.REASONING, "same_scene", TaskType.MULTIPLE_CHOICE,
              f"Which of these objects appeared in the same shot as the {o.name}?", *r)


_DOING = {d: f"moving {d}" for d in ("left", "right", "up", "down")} | {"still": "standing still"}


def q_direction_at_caption(log, rng, cfg):
    cands = []
    for c in log.captions:
        for o in log.objects:
            m = _motion_covering(log, o, c.start - 0.3, c.start + 1.2)
            if m is not None and log.is_fully_visible(o, c.start + 0.5):
                cands.append((c, o, m))
    if not cands:
        return None
    c, o, m = _balanced_choice(rng, cands, lambda x: x[2].direction)
    r = _choice_question(rng, _DOING[m.direction], [], list(_DOING.values()), cfg.num_options)
    if r is None:
        return None
    return _q(log, Family.REASONING, "direction_at_caption", TaskType.MULTIPLE_CHOICE,
              f"When the caption {c.text} appeared, what was the {o.name} doing?", *r)


# -- spatial family ----------------------------------------------------------------------------


def q_object_counting(log, rng, cfg):
    if rng.random() < 0.5:
        shape = rng.choice(SHAPES)
        n = sum(o.shape == shape for o in log.objects)
        text = f"How many {_plural(shape)} appear in this video?"
    else:
        n = len(log.objects)
        text = "How many distinct objects appear in this video in total?"
    if n == 0:
        return None
    return _q(log, Family.SPATIAL, "object_counting", TaskType.NUMERIC, text, answer=str(n))


def q_object_abs_distance(log, rng, cfg):
    r = _still_pairs_moment(log, rng)
    if r is None:
        return None
    t, objs = r
    a, b = rng.sample(objs, 2)
    pa, pb = a.position(t), b.position(t)
    d = math.dist(pa, pb) * log.metres_per_pixel  # type: ignore[arg-type]
    return _q(log, Family.SPATIAL, "object_abs_distance", TaskType.NUMERIC,
              f"At {t:.1f} s, what is the distance between the centres of the {a.name} and the {b.name} "
              "(in metres)?", answer=f"{d:.2f}")


def q_object_size_estimation(log, rng, cfg):
    if not log.objects:
        return None
    o = rng.choice(log.objects)
    cm = o.size * log.metres_per_pixel * 100
    return _q(log, Family.SPATIAL, "object_size_estimation", TaskType.NUMERIC,
              f"What is the width of the {o.name} in centimetres?", answer=f"{cm:.0f}")


def _still_pairs(log: EventLog) -> list[tuple[float, SynthObject, SynthObject]]:
    """All (t, a, b) with a != b both fully visible and still around t, every half second."""
    out = []
    for i in range(0, log.num_frames, max(1, log.fps // 2)):
        t = round(log.frame_time(i), 1)
        objs = [o for o in log.objects if _still_and_visible(log, o, t)]
        out += [(t, a, b) for a, b in itertools.permutations(objs, 2)]
    return out


def _direction_label(level: str, dx: float, dy: float) -> str | None:
    """The answer of a relative-direction question, or None when it is too close to call."""
    if level == "easy":
        return None if abs(dx) < 30 else ("right" if dx > 0 else "left")
    if level == "medium":
        major, minor = max(abs(dx), abs(dy)), min(abs(dx), abs(dy))
        if major < 30 or major < 1.5 * minor:
            return None
        if abs(dx) >= abs(dy):
            return "right" if dx > 0 else "left"
        return "below" if dy > 0 else "above"
    if abs(dx) < 25 or abs(dy) < 25:
        return None
    return ("lower" if dy > 0 else "upper") + "-" + ("right" if dx > 0 else "left")


_DIRECTION_POOLS = {
    "easy": (["left", "right"], 2),
    "medium": (["left", "right", "above", "below"], 3),
    "hard": (["upper-left", "upper-right", "lower-left", "lower-right"], 4),
}


def _rel_direction(log, rng, cfg, level: str):
    cands = []
    for t, a, b in _still_pairs(log):
        (ax, ay), (bx, by) = a.position(t), b.position(t)  # type: ignore[misc]
        lab = _direction_label(level, bx - ax, by - ay)
        if lab is not None:
            cands.append((t, a, b, lab))
    if not cands:
        return None
    t, a, b, truth = _balanced_choice(rng, cands, lambda c: c[3])
    text = {
        "easy": f"At {t:.1f} s, is the {b.name} to the left or to the right of the {a.name}?",
        "medium": f"At {t:.1f} s, is the {b.name} to the left of, to the right of, above or below the {a.name}?",
        "hard": f"At {t:.1f} s, in which direction from the {a.name} is the {b.name}?",
    }[level]
    pool, k = _DIRECTION_POOLS[level]
    res = _choice_question(rng, truth, [], pool, k)
    if res is None:
        return None
    return _q(log, Family.SPATIAL, f"object_rel_direction_{level}", TaskType.MULTIPLE_CHOICE, text, *res)


def q_rel_direction_easy(log, rng, cfg):
    return _rel_direction(log, rng, cfg, "easy")


def q_rel_direction_medium(log, rng, cfg):
    return _rel_direction(log, rng, cfg, "medium")


def q_rel_direction_hard(log, rng, cfg):
    return _rel_direction(log, rng, cfg, "hard")


def q_object_rel_distance(log, rng, cfg):
    r = _still_pairs_moment(log, rng, min_objects=3)
    if r is None:
        return None
    t, objs = r
    a = rng.choice(objs)
    others = sorted((o for o in objs if o.id != a.id), key=lambda o: math.dist(o.position(t), a.position(t)))
    d0, d1 = (math.dist(o.position(t), a.position(t)) for o in others[:2])
    if d1 - d0 < 40:
        return None
    res = _choice_question(rng, others[0].name, [o.name for o in others[1:]], [], min(len(others), cfg.num_options))
    if res is None:
        return None
    return _q(log, Family.SPATIAL, "object_rel_distance", TaskType.MULTIPLE_CHOICE,
              f"At {t:.1f} s, which of these objects is closest to the {a.name}?", *res)


def q_appearance_order(log, rng, cfg):
    objs = sorted(log.objects, key=lambda o: o.t_in)
    triples = [c for c in itertools.combinations(objs, 3)
               if c[1].t_in - c[0].t_in >= 1.0 and c[2].t_in - c[1].t_in >= 1.0]
    if not triples:
        return None
    trio = list(rng.choice(triples))
    truth = ", ".join(o.name for o in trio)
    perms = [", ".join(o.name for o in p) for p in itertools.permutations(trio)]
    res = _choice_question(rng, truth, [], perms, min(4, cfg.num_options))
    if res is None:
        return None
    listed = trio[:]
    rng.shuffle(listed)
    return _q(log, Family.SPATIAL, "obj_appearance_order", TaskType.MULTIPLE_CHOICE,
              "In which order do these objects first appear: " + ", ".join(o.name for o in listed) + "?", *res)


# -- grounding family ----------------------------------------------------------------------------


def _interval(s: float, e: float) -> str:
    return f"{s:.2f} {e:.2f}"


def q_ground_motion(log, rng, cfg):
    cands = []
    for o in log.objects:
        by_dir: dict[str, list[Motion]] = {}
        for m in log.motions(o):
            by_dir.setdefault(m.direction, []).append(m)
        for d, ms in by_dir.items():
            if d != "still" and len(ms) == 1 and ms[0].end - ms[0].start >= 1.0:
                cands.append((o, ms[0]))
    if not cands:
        return None
    o, m = rng.choice(cands)
    return _q(log, Family.GROUNDING, "motion", TaskType.GROUNDING,
              f"the {o.name} moves {m.direction}.", answer=_interval(m.start, m.end))


def q_ground_still(log, rng, cfg):
    cands = []
    for o in log.objects:
        ms = [m for m in log.motions(o) if m.direction == "still"]
        if len(ms) == 1 and ms[0].end - ms[0].start >= 1.0:
            cands.append((o, ms[0]))
    if not cands:
        return None
    o, m = rng.choice(cands)
    return _q(log, Family.GROUNDING, "still", TaskType.GROUNDING,
              f"the {o.name} stands still.", answer=_interval(m.start, m.end))


def q_ground_visible(log, rng, cfg):
    if not log.objects:
        return None
    o = rng.choice(log.objects)
    end = min(o.t_out, log.scenes[o.scene].end)
    return _q(log, Family.GROUNDING, "visible", TaskType.GROUNDING,
              f"the {o.name} is on screen.", answer=_interval(o.t_in, end))


def q_ground_caption(log, rng, cfg):
    if not log.captions:
        return None
    c = rng.choice(log.captions)
    return _q(log, Family.GROUNDING, "caption", TaskType.GROUNDING,
              f"the caption {c.text} is shown.", answer=_interval(c.start, c.end))


GENERATORS: dict[Family, dict[str, Generator]] = {
    Family.LONG_VIDEO: {
        "object_count": q_object_count, "shape_count": q_shape_count, "scene_count": q_scene_count,
        "first_appearance": q_first_appearance, "caption_at_entry": q_caption_at_entry,
        "stop_count": q_stop_count,
    },
    Family.REASONING: {
        "colour_after_caption": q_colour_after_caption, "caption_during_motion": q_caption_during_motion,
        "same_scene": q_same_scene, "direction_at_caption": q_direction_at_caption,
    },
    Family.SPATIAL: {
        "object_counting": q_object_counting, "object_abs_distance": q_object_abs_distance,
        "object_size_estimation": q_object_size_estimation,
        "object_rel_direction_easy": q_rel_direction_easy, "object_rel_direction_medium": q_rel_direction_medium,
        "object_rel_direction_hard": q_rel_direction_hard, "object_rel_distance": q_object_rel_distance,
        "obj_appearance_order": q_appearance_order,
    },
    Family.GROUNDING: {
        "motion": q_ground_motion, "still": q_ground_still, "visible": q_ground_visible,
        "caption": q_ground_caption,
    },
}


# Subtypes whose answers come from a small, skewed set of values (counts, directions): their
# accepted answers are flattened so that a guesser who knows the skew gains nothing.
FLATTENED = (
    "object_count", "shape_count", "scene_count", "stop_count", "direction_at_caption",
    "object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
)


def _answer_text(q: Question) -> str:
    return q.options[OPTION_LETTERS.index(q.answer)] if q.task_type == TaskType.MULTIPLE_CHOICE else str(q.answer)


@functools.lru_cache(maxsize=8)
def _answer_acceptance(cfg_json: str) -> dict[str, dict[str, float]]:
    """Per flattened subtype, the acceptance probability of each answer text, from the answers
    the raw generators give on 300 simulated videos of the same knobs (fixed seeds)."""

    cfg = SynthConfig.model_validate_json(cfg_json)
    gens = {name: g for fam in GENERATORS.values() for name, g in fam.items() if name in FLATTENED}
    seen: dict[str, Counter] = {name: Counter() for name in gens}
    for i in range(300):
        log = sample_event_log(cfg, "marginal", derive_seed("answer-marginal", i))
        rng = random.Random(derive_seed("answer-marginal-q", i))
        for name, g in gens.items():
            q = g(log, rng, cfg)
            if q is not None:
                seen[name][_answer_text(q)] += 1
    return {
        name: _flattening({v: n / max(sum(c.values()), 1) for v, n in c.items()}) for name, c in seen.items()
    }


def generate_questions(log: EventLog, cfg: SynthConfig, seed: int) -> list[Question]:
    """Up to ``cfg.questions_per_family`` distinct questions per family for one video.

    Subtypes are visited in a seeded random order so that every subtype is represented across
    a split; a subtype that the video cannot support unambiguously is skipped, and answers of
    the :data:`FLATTENED` subtypes are accepted with a probability that evens out their values.
    """
    rng = random.Random(seed)
    acceptance = _answer_acceptance(cfg.model_dump_json())
    out: list[Question] = []
    for family, gens in GENERATORS.items():
        names = list(gens)
        rng.shuffle(names)
        seen: set[str] = set()
        got = 0
        for name in itertools.islice(itertools.cycle(names), 3 * len(names)):
            if got >= cfg.questions_per_family:
                break
            q = gens[name](log, rng, cfg)
            if q is None or q.question in seen:
                continue
            if name in acceptance and rng.random() > acceptance[name].get(_answer_text(q), 1.0):
                continue
            seen.add(q.question)
            q.qid = f"{log.video_id}-{family.value}-{got}"
            out.append(q)
            got += 1
    return out
