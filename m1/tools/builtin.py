"""The seven tools of the paper's team, on the CPU perception back-ends.

| tool | arguments (all optional) | returns |
| --- | --- | --- |
| ``global_sampling`` | ``n`` | n uniform frames → one description each (objects, caption, shot) |
| ``video_retrieval`` | ``query``, ``top_k`` | top-k time segments whose description matches the text |
| ``image_retrieval`` | ``query``, ``top_k`` | top-k frames whose description matches the text |
| ``rough_browser`` | ``start``, ``end``, ``fps`` | segment at low fps → shots, objects (first/last), captions |
| ``fine_browser`` | ``start``, ``end``, ``question`` | segment at high fps → motions, stops, captions; candidate |
| ``spatial`` | ``t``, ``question`` | objects' positions, pairwise directions/distances, counts; + candidate |
| ``grounding`` | ``query`` | the [start, end] when the sentence happens; + candidate |

Times are seconds; a segment defaults to the whole video; ``question`` / ``query`` default to
the episode's question. Question-aware tools (fine_browser, spatial, grounding) put a candidate
answer, its evidence and a confidence in the result and end their text with
``candidate=B conf=0.90``. Descriptions come from the classical detectors. With
``tools.backend='vlm'`` (:mod:`m1.tools.perception.vlm`) the frame descriptions of
``global_sampling`` and ``rough_browser`` also carry a VLM caption, and the question-aware tools
fall back to the VLM's answer where no classical form matches (:func:`m1.tools.answering.answer`;
the open-ended family's forms come first, :func:`m1.tools.open_answers.answer`).
The retrieval tools rank the providers' notes with MiniLM; with ``tools.clip_model`` set they
also score the frames' pixels against the query with CLIP/SigLIP (:func:`_rank`,
:mod:`m1.tools.perception.clip`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from m1.tools import analysis as A
from m1.tools import answering, noise, open_answers
from m1.tools.context import FrameObs, ToolArgumentError, ToolContext
from m1.tools.perception import motion


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _step_field() -> Any:
    """``step`` of the question-aware tools: their scan's sampling step. With ``tools.noise`` on,
    another step is another reading (:mod:`m1.tools.noise`), so an agent can cross-check a call."""
    return Field(None, ge=1.0, le=10.0,
                 description="Seconds between scanned frames (default tools.scan_step); another step reads anew.")


class SegmentArgs(Args):
    start: float | None = Field(None, ge=0, description="Segment start, seconds (default 0).")
    end: float | None = Field(None, ge=0, description="Segment end, seconds (default: end of video).")


class GlobalSamplingArgs(Args):
    n: int | None = Field(None, ge=1, le=64, description="Number of uniformly spaced frames.")


class RetrievalArgs(Args):
    query: str | None = Field(None, max_length=300, description="What to look for (default: the question).")
    top_k: int | None = Field(None, ge=1, le=20, description="Number of results.")


class RoughArgs(SegmentArgs):
    fps: float | None = Field(None, gt=0, le=5, description="Sampling rate, frames per second.")


class FineArgs(SegmentArgs):
    question: str | None = Field(None, max_length=500, description="Question to answer (default: the episode's).")
    step: float | None = _step_field()


class SpatialArgs(Args):
    t: float | None = Field(None, ge=0, description="Time of the frame to analyse (default: from the question).")
    question: str | None = Field(None, max_length=500, description="Question to answer (default: the episode's).")
    step: float | None = _step_field()


class GroundingArgs(Args):
    query: str | None = Field(None, max_length=300, description="Sentence to locate (default: the question).")
    step: float | None = _step_field()


@dataclass
class Output:
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    candidate: answering.Candidate | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[Args]
    run: Callable[[ToolContext, Any], Output]


# ------------------------------------------------------------------ helpers
def _segment(ctx: ToolContext, a: SegmentArgs) -> tuple[float, float]:
    s = 0.0 if a.start is None else a.start
    e = ctx.duration if a.end is None else min(a.end, ctx.duration)
    if s >= ctx.duration:
        raise ToolArgumentError(f"start={s} is beyond the video's end ({ctx.duration:.1f} s)")
    if e <= s:
        raise ToolArgumentError(f"end={e} must be greater than start={s}")
    return s, e


def _question_text(ctx: ToolContext, given: str | None) -> str | None:
    if given:
        return given
    return ctx.question.question if ctx.question is not None else None


def describe(ctx: ToolContext, o: FrameObs, shot: int | None = None) -> str:
    """One line per frame: time, shot, objects with positions, caption, people/faces, tags, text."""
    parts = [f"{o.t:.1f}s"]
    if shot is not None:
        parts.append(f"shot {shot + 1}")
    if o.objects:
        parts.append(", ".join(f"{d.name} at ({d.x:.0f},{d.y:.0f})" for d in o.objects))
    if o.caption is not None:
        parts.append(f"caption '{o.caption.text}'")
    if o.vlm_caption is not None:
        parts.append(f"vlm: {o.vlm_caption}")
    ctx.frame_notes([o])
    if o.people:
        parts.append(f"{len(o.people)} person" + ("s" if len(o.people) > 1 else ""))
    if o.faces:
        parts.append(f"{len(o.faces)} face" + ("s" if len(o.faces) > 1 else ""))
    tags = o.notes.get("tags") or []
    if tags:
        parts.append("looks like " + ", ".join(f"{n.text} {n.score:.2f}" for n in tags))
    texts = o.notes.get("ocr") or []
    if texts:
        parts.append("text " + ", ".join(f"'{n.text}'" for n in texts))
    if len(parts) == (2 if shot is not None else 1):
        parts.append("nothing recognised")
    return ": ".join([parts[0], "; ".join(parts[1:])])


def speech_lines(ctx: ToolContext, start: float = 0.0, end: float | None = None) -> list[str]:
    """Speech and subtitle lines overlapping [start, end], as 'a-b s speech: text'."""
    end = ctx.duration if end is None else end
    return [
        f"{n.t0:.1f}-{n.t1:.1f}s {n.provider}: {n.text}"
        for n in ctx.video_notes()
        if n.kind == "line" and n.t1 >= start and n.t0 <= end
    ]


def _obs_payload(o: FrameObs) -> dict[str, Any]:
    vlm = {"vlm_caption": o.vlm_caption} if o.vlm_caption is not None else {}
    return vlm | {
        "t": round(o.t, 3),
        "objects": [
            {"name": d.name, "x": round(d.x, 1), "y": round(d.y, 1), "size": round(d.size, 1), "clipped": d.clipped}
            for d in o.objects
        ],
        "caption": o.caption.text if o.caption else None,
        "people": len(o.people) if o.people is not None else None,
        "faces": len(o.faces) if o.faces is not None else None,
    } | {f"{k}_notes": [n.text for n in v] for k, v in o.notes.items() if k in ("tags", "ocr") and v}


def _with_candidate(out: Output, cand: answering.Candidate | None) -> Output:
    if cand is not None:
        out.candidate = cand
        out.text += f"\nevidence: {cand.evidence}\ncandidate={cand.answer} conf={cand.confidence:.2f}"
    return out


# ------------------------------------------------------------------ tools
def run_global_sampling(ctx: ToolContext, a: GlobalSamplingArgs) -> Output:
    n = a.n or ctx.cfg.global_frames
    times = ctx.reader.uniform_times(n)
    obs = ctx.look(times, caption=True)
    ctx.vlm_describe(obs)
    from m1.tools.perception import shots

    cuts = set(shots.cut_positions([o.sig for o in obs]))
    shot, lines, shot_of = 0, [], []
    for i, o in enumerate(obs):
        shot += i in cuts
        shot_of.append(shot)
        lines.append(describe(ctx, o, shot))
    ctx.frame_notes(obs, ocr_text=True)
    lines = [describe(ctx, o, s) for o, s in zip(obs, shot_of, strict=True)]
    said = speech_lines(ctx)
    text = f"{n} frames over {ctx.duration:.1f}s, {shot + 1} shot(s) seen:\n" + "\n".join(lines + said)
    payload = {"frames": [_obs_payload(o) | {"shot": s} for o, s in zip(obs, shot_of, strict=True)]}
    return Output(text, payload | ({"speech": said} if said else {}))


def _windows(ctx: ToolContext, ov: A.Overview, width: int = 3) -> list[tuple[float, float, list[FrameObs]]]:
    step = A.ov_step(ov)
    out = []
    for i in range(0, len(ov.obs), width):
        group = ov.obs[i : i + width]
        out.append((max(0.0, group[0].t - step / 2), min(ctx.duration, group[-1].t + step / 2), group))
    return out


def _window_text(ctx: ToolContext, group: list[FrameObs], start: float, end: float) -> str:
    """Everything the providers said about a window: objects, captions, people, tags, text, speech."""
    ctx.frame_notes(group)
    names = sorted({d.name for o in group for d in o.objects})
    parts = [", ".join(names)] if names else []
    caps = sorted({o.caption.text for o in group if o.caption})
    if caps:
        parts.append("caption " + ", ".join(caps))
    people = max((len(o.people or []) for o in group), default=0)
    if people:
        parts.append(f"{people} person" + ("s" if people > 1 else ""))
    tags = sorted({n.text for o in group for n in o.notes.get("tags") or []})
    if tags:
        parts.append("looks like " + ", ".join(tags))
    texts = sorted({n.text for o in group for n in o.notes.get("ocr") or []})
    if texts:
        parts.append("text " + ", ".join(texts))
    said = [n.text for n in ctx.video_notes() if n.kind == "line" and n.t1 >= start and n.t0 <= end]
    if said:
        parts.append("said: " + " ".join(said))
    return "; ".join(parts) or "nothing recognised"


def _rank(
    ctx: ToolContext, query: str, docs: list[str], groups: list[list[FrameObs]]
) -> tuple[list[tuple[int, float]], dict[int, dict[str, float]]]:
    """Candidates (windows or frames) best first, with their score, and per candidate the parts
    of a combined score. Without ``tools.clip_model``: the MiniLM cosine of each description with
    the query (nothing else). With it: a candidate's image score is the best CLIP/SigLIP cosine of
    its frames with the query, and the score is :func:`m1.tools.perception.clip.combine` of the
    two (z-scored over the candidates, weighted by ``tools.clip_weight``); ties by position."""
    from m1.tools.perception import text as text_mod

    by_text = text_mod.rank(query, docs)
    if not ctx.cfg.clip_model or not docs:
        return by_text, {}
    from m1.tools.perception import clip

    sims = ctx.clip_similarity(query, [o for g in groups for o in g])
    image, k = np.zeros(len(groups)), 0
    for j, g in enumerate(groups):
        image[j] = sims[k : k + len(g)].max() if g else -1.0
        k += len(g)
    text = np.zeros(len(docs))
    for i, sc in by_text:
        text[i] = sc
    score = clip.combine(text, image, ctx.cfg.clip_weight)
    order = sorted(range(len(docs)), key=lambda i: (-score[i], i))
    extra = {i: {"text_score": round(float(text[i]), 4), "clip_score": round(float(image[i]), 4)} for i in order}
    return [(i, float(score[i])) for i in order], extra


def _clip_note(extra: dict[int, dict[str, float]], i: int) -> str:
    e = extra.get(i)
    return f"; text {e['text_score']:.2f}, clip {e['clip_score']:.2f}" if e else ""


def run_video_retrieval(ctx: ToolContext, a: RetrievalArgs) -> Output:
    query = _question_text(ctx, a.query)
    if not query:
        raise ToolArgumentError("query is required when the episode has no question")
    ov = A.overview(ctx, captions=True)
    wins = _windows(ctx, ov)
    docs = [_window_text(ctx, g, a0, a1) for a0, a1, g in wins]
    ranked, extra = _rank(ctx, query, docs, [g for _, _, g in wins])
    ranked = ranked[: a.top_k or ctx.cfg.top_k]
    lines = [f"{wins[i][0]:.1f}-{wins[i][1]:.1f}s (score {s:.2f}{_clip_note(extra, i)}): {docs[i]}" for i, s in ranked]
    payload = {
        "segments": [
            {"start": round(wins[i][0], 2), "end": round(wins[i][1], 2), "score": round(s, 4), "description": docs[i]}
            | extra.get(i, {})
            for i, s in ranked
        ]
    }
    return Output(f"segments matching '{query}':\n" + "\n".join(lines), payload)


def run_image_retrieval(ctx: ToolContext, a: RetrievalArgs) -> Output:
    query = _question_text(ctx, a.query)
    if not query:
        raise ToolArgumentError("query is required when the episode has no question")
    ov = A.overview(ctx, captions=True)
    docs = [describe(ctx, o) for o in ov.obs]
    ranked, extra = _rank(ctx, query, [d.split(": ", 1)[1] for d in docs], [[o] for o in ov.obs])
    ranked = ranked[: a.top_k or ctx.cfg.top_k]
    payload = {"frames": [_obs_payload(ov.obs[i]) | {"score": round(s, 4)} | extra.get(i, {}) for i, s in ranked]}
    lines = [f"{docs[i]} (score {s:.2f}{_clip_note(extra, i)})" for i, s in ranked]
    return Output(f"frames matching '{query}':\n" + "\n".join(lines), payload)


def run_rough_browser(ctx: ToolContext, a: RoughArgs) -> Output:
    s, e = _segment(ctx, a)
    step = 1.0 / (a.fps or ctx.cfg.rough_fps)
    n = math.ceil((e - s) / step)
    if n > ctx.cfg.max_frames_per_call:
        raise ToolArgumentError(f"{n} frames requested > tools.max_frames_per_call={ctx.cfg.max_frames_per_call}")
    ov = A.overview(ctx, s, e, step, captions=True)
    lines = [f"{len(ov.shots)} shot(s): " + ", ".join(f"{x.start:.1f}-{x.end:.1f}s" for x in ov.shots)]
    objs = [tr for tr in ov.tracks if len(tr.sightings) >= 2 or any(not d.clipped for _, d in tr.sightings)]
    lines.append(f"{len(objs)} object(s): " + ", ".join(f"{tr.name} {tr.first:.1f}-{tr.last:.1f}s" for tr in objs))
    caps = A.caption_spans(ov)
    if caps:
        lines.append("captions: " + ", ".join(f"{c} {f:.1f}-{la:.1f}s" for c, f, la in caps))
    ctx.frame_notes(ov.obs)
    looked = [o for o in ov.obs if o.people is not None]
    if looked:
        counts = [len(o.people or []) for o in looked]
        faces = [len(o.faces or []) for o in looked]
        lines.append(f"people per frame ({len(looked)} frames): max {max(counts)}, median "
                     f"{sorted(counts)[len(counts) // 2]}; faces per frame: max {max(faces)}")
    tags: dict[str, int] = {}
    for o in ov.obs:
        for n in o.notes.get("tags") or []:
            tags[n.text] = tags.get(n.text, 0) + 1
    if tags:
        lines.append("looks like: " + ", ".join(f"{k} ({v} frames)" for k, v in sorted(tags.items(),
                                                                                     key=lambda p: -p[1])[:8]))
    said = speech_lines(ctx, s, e)
    if said:
        lines.append("speech/subtitles: " + " | ".join(said[:20]))
    if ctx.vlm_enabled:
        ctx.vlm_describe(ov.obs)
        lines.append("frames: " + " | ".join(f"{o.t:.1f}s {o.vlm_caption}" for o in ov.obs))
    payload = {
        "shots": [{"start": round(x.start, 2), "end": round(x.end, 2)} for x in ov.shots],
        "objects": [
            {"name": tr.name, "first": tr.first, "last": tr.last, "shot": ov.shot_at(tr.first).index} for tr in objs
        ],
        "captions": [{"text": c, "first": f, "last": la} for c, f, la in caps],
        "frames": [_obs_payload(o) for o in ov.obs],
    }
    return Output(f"{s:.1f}-{e:.1f}s at {1 / step:.2g} fps:\n" + "\n".join(lines), payload)


def run_fine_browser(ctx: ToolContext, a: FineArgs) -> Output:
    s, e = _segment(ctx, a)
    question = _question_text(ctx, a.question)
    q = ctx.question if not a.question else None
    vlm_times = A.grid(s, e, (e - s) / ctx.cfg.global_frames)  # frames the VLM fallback would see
    cand = open_answers.answer("fine_browser", ctx, question, q, times=vlm_times) if question else None
    if cand is not None and a.start is None and a.end is None:
        return _with_candidate(Output(f"fine browse for: {question}"), cand)
    # Observations over the segment at the fine rate: objects' motion and captions.
    n = math.ceil((e - s) * ctx.cfg.fine_fps)
    if n > ctx.cfg.max_frames_per_call:
        raise ToolArgumentError(f"segment needs {n} frames > tools.max_frames_per_call; narrow start/end")
    times = ctx.index_times(A.grid(s, e, 1.0 / ctx.cfg.fine_fps))
    obs = ctx.look(times, caption=True)
    lines = []
    names = sorted({d.name for o in obs for d in o.objects if not d.clipped})
    for name in names:
        path = [(o.t, d) for o in obs if (d := A.find(o, name)) is not None]
        segs = A.motion_segments(ctx, name, path)
        lines.append(f"{name}: " + " ".join(f"{x.direction} {x.start:.1f}-{x.end:.1f}s" for x in segs))
    caps = sorted({(o.caption.text) for o in obs if o.caption})
    if caps:
        lines.append("captions: " + ", ".join(caps))
    if not names and len(obs) >= 2:
        flows = [
            motion.optical_flow(ctx.images([x.t])[0][2], ctx.images([y.t])[0][2])
            for x, y in zip(obs, obs[1:], strict=False)
        ]
        dirs = [f.direction for f in flows]
        lines.append("motion: " + ", ".join(f"{o.t:.1f}s {d}" for o, d in zip(obs, dirs, strict=False)))
    text = f"{s:.1f}-{e:.1f}s at {ctx.cfg.fine_fps:g} fps:\n" + ("\n".join(lines) or "nothing detected")
    return _with_candidate(Output(text, {"frames": [_obs_payload(o) for o in obs]}), cand)


def run_spatial(ctx: ToolContext, a: SpatialArgs) -> Output:
    question = _question_text(ctx, a.question)
    t = a.t
    if t is None and question:
        import re

        m = re.search(r"at ([\d.]+) s", question)
        t = float(m.group(1)) if m else None
    q = ctx.question if not a.question else None
    vlm_times = [t] if t is not None else None
    cand = open_answers.answer("spatial", ctx, question, q, times=vlm_times) if question else None
    if t is None:
        if cand is not None:
            return _with_candidate(Output(f"spatial analysis for: {question}"), cand)
        t = ctx.duration / 2
    o = ctx.look([t])[0]
    lines = [describe(ctx, o)]
    ds = [d for d in o.objects if not d.clipped]
    mpp = ctx.cfg.metres_per_pixel
    for i, da in enumerate(ds):
        for db in ds[i + 1 :]:
            dx, dy = db.x - da.x, db.y - da.y
            horiz = "right" if dx > 0 else "left"
            vert = "below" if dy > 0 else "above"
            lines.append(f"{db.name} is {horiz}/{vert} of {da.name}, {math.hypot(dx, dy) * mpp:.2f} m")
    lines.append(f"{len(ds)} object(s) fully visible")
    return _with_candidate(Output("\n".join(lines), {"frame": _obs_payload(o)}), cand)


def _retrieval_span(ctx: ToolContext, query: str) -> answering.Candidate:
    """Free text: every overview frame's slot described by the providers and ranked with MiniLM;
    the best slot, widened over contiguous neighbours scoring within 0.05 of it."""
    from m1.tools.perception import text as text_mod

    ov = A.overview(ctx, captions=True)
    slots = _windows(ctx, ov, width=1)
    docs = [_window_text(ctx, g, a0, a1) for a0, a1, g in slots]
    sims = dict(text_mod.rank(query, docs))
    best = max(range(len(docs)), key=lambda i: (sims[i], -i))
    lo = hi = best
    while lo > 0 and sims[lo - 1] >= sims[best] - 0.05:
        lo -= 1
    while hi < len(docs) - 1 and sims[hi + 1] >= sims[best] - 0.05:
        hi += 1
    score = max(0.0, min(1.0, sims[best]))
    ev = f"retrieval: {docs[best]} (similarity {sims[best]:.2f})"
    return answering.Candidate(f"{slots[lo][0]:.2f} {slots[hi][1]:.2f}", ev, score * 0.5)


def run_grounding(ctx: ToolContext, a: GroundingArgs) -> Output:
    query = _question_text(ctx, a.query)
    if not query:
        raise ToolArgumentError("query is required when the episode has no question")
    cand = answering.answer("grounding", ctx, query, None)
    if cand is None:
        cand = _retrieval_span(ctx, query)
    s, e = (float(x) for x in cand.answer.split())
    ns, ne = noise.shift_span(ctx, s, e)
    if (ns, ne) != (s, e):  # tools.noise: this reading's grounding is off by a shift
        s, e = ns, ne
        cand = answering.Candidate(f"{s:.2f} {e:.2f}", cand.evidence, cand.confidence)
    return _with_candidate(Output(f"'{query}' happens {s:.2f}-{e:.2f}s", {"start": s, "end": e}), cand)


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "global_sampling",
            "Look at n evenly spaced frames: objects, captions and shots in each.",
            GlobalSamplingArgs,
            run_global_sampling,
        ),
        Tool(
            "video_retrieval",
            "Find the time segments that best match a text query.",
            RetrievalArgs,
            run_video_retrieval,
        ),
        Tool(
            "image_retrieval",
            "Find the single frames that best match a text query.",
            RetrievalArgs,
            run_image_retrieval,
        ),
        Tool(
            "rough_browser",
            "Skim a segment at low fps: shots, objects with first/last times, captions.",
            RoughArgs,
            run_rough_browser,
        ),
        Tool(
            "fine_browser",
            "Watch a segment closely to answer the question: motions, stops, captions.",
            FineArgs,
            run_fine_browser,
        ),
        Tool(
            "spatial",
            "Positions, directions, distances, sizes and counts of objects for the question.",
            SpatialArgs,
            run_spatial,
        ),
        Tool(
            "grounding",
            "Locate when a described event happens: returns [start, end] seconds.",
            GroundingArgs,
            run_grounding,
        ),
    )
}
