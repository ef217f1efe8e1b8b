"""General answer candidates: what the providers saw, scored against a question no template knows.

M1-Synth's template handlers (:mod:`m1.tools.answering`) are exact but only for their forms.
Every other question goes through here:

1. **Evidence** (:func:`gather`): one line per overview frame (shapes, caption, people, faces,
   ImageNet tags, text read anywhere), plus speech and subtitle lines, each with its time span.
   "at the end/start of the video" or "at N s" narrows the frames to that part.
2. **Counting** ("how many <thing>"): <thing> is matched to what a provider counts — colour/shape
   words to the shape detector (per frame when a time is given, else distinct tracks), people /
   persons / pedestrians to HOG, faces to Haar; the count picks the nearest option.
3. **Options** otherwise: each option's score is the mean of a lexical part (share of its words
   found in the evidence, or edit similarity to any text read/said) and a semantic part (MiniLM
   cosine of "question + option" against the best evidence line, from :mod:`perception.text`).
   Confidence = softmax of the scores at temperature 0.05, times the evidence's coverage, capped
   at :data:`MAX_CONF` — below every template handler's confidence, so on M1-Synth a template
   answer always wins, and low enough that an agent weighs it as a hint.
4. **Abstention**: a multiple-choice candidate whose confidence is not above chance
   (1 / number of options) is no candidate at all — the evidence does not speak to the question,
   and a sub-chance guess offered as a candidate is followed by trained agents (on M1-Synth it
   outvoted the ``spatial`` tool's exact answer: ``benchmarks/pipeline.md``).

Open-ended questions get the best-matching evidence line. Not here: temporal reasoning across
events (before/after), identity of people, anything a provider did not say.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from m1.schema import OPTION_LETTERS, Question
from m1.tools import analysis as A
from m1.tools.context import FrameObs, ToolContext
from m1.tools.perception import ocr
from m1.tools.perception.objects import COLOUR_NAMES, SHAPE_NAMES

MAX_CONF = 0.6
PEOPLE_WORDS = ("people", "persons", "person", "pedestrians", "pedestrian", "men", "women", "humans")
FACE_WORDS = ("faces", "face")
TEXT_WORDS = ("text", "caption", "written", "say", "said", "says", "word", "words", "title", "sign", "spoken",
              "speaker", "mention", "mentioned", "subtitle", "read")
STOP = {"the", "a", "an", "of", "in", "on", "at", "is", "are", "what", "which", "video", "this", "that", "to", "and",
        "shown", "there", "it", "does", "do", "be", "by", "with", "for", "from"}


@dataclass(frozen=True)
class Line:
    t0: float
    t1: float
    text: str
    source: str  # 'frame' | 'speech' | 'subtitles'


@dataclass(frozen=True)
class Candidate:
    answer: str
    evidence: str
    confidence: float


def focus(ctx: ToolContext, text: str, ov: A.Overview) -> list[FrameObs]:
    """The overview frames the question is about (all, unless it names a part of the video)."""
    t = text.lower()
    m = re.search(r"\bat ([\d.]+) ?s(?:ec|econds?)?\b", t)
    if m:
        return ctx.look([float(m.group(1))])
    n = max(1, len(ov.obs) // 6)
    if re.search(r"\b(at|by|near|towards) the end\b|\blast (frame|moment|second)s?\b|\bfinal(ly)?\b", t):
        return ctx.look([ctx.duration - 0.05]) + ov.obs[-n:]
    if re.search(r"\b(at|near) the (start|beginning)\b|\bfirst (frame|moment|second)s?\b|\bopening\b", t):
        return ctx.look([0.0]) + ov.obs[:n]
    return ov.obs


def frame_line(o: FrameObs) -> str:
    parts = [d.name for d in o.objects]
    if o.caption is not None:
        parts.append(f"caption {o.caption.text}")
    if o.people:
        parts.append(f"{len(o.people)} person" + ("s" if len(o.people) > 1 else ""))
    if o.faces:
        parts.append(f"{len(o.faces)} face" + ("s" if len(o.faces) > 1 else ""))
    parts += [n.text for n in o.notes.get("tags") or []]
    parts += [f"text {n.text}" for n in o.notes.get("ocr") or []]
    return ", ".join(parts)


def gather(ctx: ToolContext, text: str) -> tuple[A.Overview, list[FrameObs], list[Line]]:
    ov = A.overview(ctx, captions=True)
    frames = focus(ctx, text, ov)
    ctx.frame_notes(frames, ocr_text=True)
    lines = [Line(o.t, o.t, s, "frame") for o in frames if (s := frame_line(o))]
    lines += [Line(n.t0, n.t1, n.text, n.provider) for n in ctx.video_notes() if n.kind == "line"]
    return ov, frames, lines


def _words(s: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9']+", s.lower()) if w not in STOP]


def _nearest(q: Question | None, n: int, ev: str, conf: float) -> Candidate:
    if q is None or not q.options:
        return Candidate(str(n), ev, conf)
    nums = [(abs(v - n), i) for i, o in enumerate(q.options) if (v := _option_number(o)) is not None]
    if not nums:
        return Candidate(OPTION_LETTERS[0], ev + " (no numeric option)", 0.0)
    d, i = min(nums)
    return Candidate(OPTION_LETTERS[i], ev, conf if d == 0 else conf * 0.5)


WORD_NUMBERS = {"none": 0, "no": 0, "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                "seven": 7, "eight": 8, "nine": 9, "ten": 10}


def _option_number(o: str) -> float | None:
    """The number an option states ('3', 'about 7', 'none', 'more than 50' -> 50)."""
    m = re.search(r"-?\d+(?:\.\d+)?", o)
    if m:
        return float(m.group(0))
    for w in re.findall(r"[a-z]+", o.lower()):
        if w in WORD_NUMBERS:
            return float(WORD_NUMBERS[w])
    return None


def count(ctx: ToolContext, text: str, q: Question | None) -> Candidate | None:
    m = re.search(r"how many ([a-z ]+?)(?: are| is| can| do| does| appear| were| was| did| in| on| at|\?|$)",
                  text.lower())
    if not m:
        return None
    thing = m.group(1).split()
    ov, frames, _ = gather(ctx, text)
    whole = frames is ov.obs
    if any(w in PEOPLE_WORDS for w in thing) or any(w in FACE_WORDS for w in thing):
        faces = any(w in FACE_WORDS for w in thing)
        ctx.frame_notes(frames)
        got = [len((o.faces if faces else o.people) or []) for o in frames if o.people is not None]
        if not got:
            return None
        n = max(got)
        what = "faces" if faces else "people"
        return _nearest(q, n, f"{what} per frame over {len(got)} frames: {got}; max {n}", MAX_CONF)
    colours = [w for w in thing if w in COLOUR_NAMES]
    shapes = [s for s in SHAPE_NAMES for w in thing if w.rstrip("s") == s]
    if not (colours or shapes or {"objects", "shapes", "things"} & set(thing)):
        return None

    def match(name: str) -> bool:
        c, s = name.split(" ", 1)
        return (not colours or c in colours) and (not shapes or s in shapes)

    if not whole:
        frames = frames[:1]  # the named moment itself ("at 12 s", the last/first frame)
    if whole:
        objs = [tr for tr in ov.tracks if match(tr.name) and (len(tr.sightings) >= 2 or any(
            not d.clipped for _, d in tr.sightings))]
        n = len(objs)
        ev = f"{n} matching object(s) over the video: " + ", ".join(tr.name for tr in objs)
    else:
        per = [sum(match(d.name) and not d.clipped for d in o.objects) for o in frames]
        n = max(per) if per else 0
        ev = "matching objects per frame " + ", ".join(f"{o.t:.1f}s {k}" for o, k in zip(frames, per, strict=True))
    return _nearest(q, n, ev, MAX_CONF)


def score_options(q: Question, text: str, lines: list[Line]) -> list[float]:
    """Per option, 0..1: mean of lexical support and MiniLM similarity to the best evidence line."""
    from m1.tools.perception import text as text_mod

    corpus = " ".join(ln.text for ln in lines).lower()
    vocab = set(_words(corpus))
    read = [ln.text for ln in lines]
    wants_text = any(w in _words(text) for w in TEXT_WORDS)
    out = []
    for opt in q.options:
        ws = _words(opt)
        lex = sum(w in vocab for w in ws) / len(ws) if ws else 0.0
        if wants_text and read:
            lex = max(lex, max(_read_similarity(opt, r) for r in read))
        sem = 0.0
        if lines:
            sem = max(0.0, text_mod.rank(f"{text} {opt}", [ln.text for ln in lines])[0][1])
        out.append(0.5 * lex + 0.5 * sem)
    return out


def _read_similarity(opt: str, read: str) -> float:
    """How well ``opt`` matches text that was read or said (whole string or any word run)."""
    best = ocr.similarity(opt, read)
    toks = read.split()
    k = max(1, len(opt.split()))
    for i in range(len(toks) - k + 1):
        best = max(best, ocr.similarity(opt, " ".join(toks[i : i + k])))
    return best


def above_chance(c: Candidate | None, q: Question | None) -> Candidate | None:
    """``c`` if it is worth more than a guess: for multiple choice, confidence > 1 / options."""
    if c is None or q is None or not q.options:
        return c
    return c if c.confidence > 1.0 / len(q.options) else None


def general_candidate(ctx: ToolContext, text: str, q: Question | None = None) -> Candidate | None:
    """A candidate answer for any question from the providers' evidence (None when none speaks to
    it, or, for multiple choice, when the best option is no more likely than chance)."""
    return above_chance(_general_candidate(ctx, text, q), q)


def _general_candidate(ctx: ToolContext, text: str, q: Question | None) -> Candidate | None:
    c = count(ctx, text, q)
    if c is not None:
        return c
    _, frames, lines = gather(ctx, text)
    if not lines:
        return None
    if q is None or not q.options:
        from m1.tools.perception import text as text_mod

        i, s = text_mod.rank(text, [ln.text for ln in lines])[0]
        ln = lines[i]
        return Candidate(ln.text, f"{ln.source} {ln.t0:.1f}-{ln.t1:.1f}s (similarity {s:.2f})", min(MAX_CONF, s) * 0.5)
    scores = score_options(q, text, lines)
    z = [math.exp((s - max(scores)) / 0.05) for s in scores]
    p = [v / sum(z) for v in z]
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    conf = min(MAX_CONF, p[best] * max(scores))
    ev = "option scores " + ", ".join(f"{OPTION_LETTERS[i]} {s:.2f}" for i, s in enumerate(scores))
    ev += f" over {len(lines)} evidence line(s), e.g. " + " | ".join(ln.text for ln in lines[:3])
    return Candidate(OPTION_LETTERS[best], ev, conf)
