"""The M1-Synth world: what happens in a synthetic video, as an exact event log.

A video is a sequence of *scenes* (shots separated by hard cuts). Objects — each a unique
(colour, shape) within the video — enter a scene from a frame edge, move axis-aligned
(left/right/up/down, some slowly), stop, and either leave through an edge or vanish at the
cut. Captions (upper-case words) are shown in a band at the bottom of the frame. Everything
the questions ask about is derived from this log, so answers are exact; the renderer
(:mod:`m1.synth.render`) draws exactly this log.

This module samples and queries logs; it neither renders nor asks questions.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field

from m1.config.synth import SynthConfig

# BGR colours, saturated so that colour segmentation separates them from the grey textures.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (30, 30, 220),
    "green": (40, 190, 40),
    "blue": (220, 80, 20),
    "yellow": (20, 220, 230),
    "magenta": (200, 40, 200),
    "cyan": (210, 200, 30),
    "orange": (20, 130, 250),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = ("left", "right", "up", "down")

# Caption words: upper case, no digits, and none of the letters an OCR confuses with digits
# (O/0, I/1, Q/0), so that a caption read back is unambiguous.
_WORDS = """
RAVEN MAPLE TRUCK CANDLE HARP PLANET AMBER CRANE DRAFT PANTHER MARKET CHANNEL
VELVET TEMPER HUNTER WANDER THUNDER EMBER HAWK DANCE FERRY CAMEL TUNDRA PARADE
CHARM PEPPER KETTLE WALNUT CARPET TRAVEL NECTAR FACET TRENCH PARCEL WEAVER RUNNER
FEATHER HAMMER PACKET CLAMP DEPTH WREATH FENCE TRUMPET HARVEST CANTER PRAWN TEACUP
UNCLE JACKET BASKET GARDEN LANTERN SUMMER WHALE ZEBRA BUCKET
"""
CAPTION_WORDS: tuple[str, ...] = tuple(
    sorted({w for w in _WORDS.split() if not set(w) & set("OIQ0123456789")})
)


class Keyframe(BaseModel):
    """Object centre (pixels) at time ``t`` (seconds); positions interpolate linearly."""

    model_config = ConfigDict(extra="forbid")
    t: float
    x: float
    y: float


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int
    start: float
    end: float
    texture: str = Field(description="stripes | checker | noise | gradient")
    brightness: int = Field(ge=0, le=255, description="Mean grey level of the background.")
    tint: tuple[int, int, int] = Field(description="Small per-channel offset (BGR), low saturation.")
    texture_seed: int


class SynthObject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    scene: int
    colour: str
    shape: str
    size: int = Field(description="Side of the square / diameter of the circle / base of the triangle, px.")
    keyframes: list[Keyframe] = Field(description="At least two; first and last are off-screen or at the cut.")
    enter_side: str
    exit_side: str | None = Field(description="Edge it leaves through, or None if it vanishes at the cut.")

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def t_in(self) -> float:
        return self.keyframes[0].t

    @property
    def t_out(self) -> float:
        return self.keyframes[-1].t

    def position(self, t: float) -> tuple[float, float] | None:
        """Centre at time ``t``, or None outside the object's lifetime."""
        kfs = self.keyframes
        if t < kfs[0].t or t > kfs[-1].t:
            return None
        for a, b in zip(kfs, kfs[1:], strict=False):
            if a.t <= t <= b.t:
                if b.t == a.t:
                    return (b.x, b.y)
                f = (t - a.t) / (b.t - a.t)
                return (a.x + f * (b.x - a.x), a.y + f * (b.y - a.y))
        return (kfs[-1].x, kfs[-1].y)


class Caption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    start: float
    end: float
    scene: int


@dataclass(frozen=True)
class Motion:
    """A maximal interval in which an object moves in one direction (or stands ``still``)."""

    object_id: int
    direction: str  # left | right | up | down | still
    start: float
    end: float


@dataclass(frozen=True)
class VisibleObject:
    object_id: int
    name: str
    x: float
    y: float
    size: int


class EventLog(BaseModel):
    """Everything that happens in one video. The single source of ground truth."""

    model_config = ConfigDict(extra="forbid")

    video_id: str
    seed: int
    width: int
    height: int
    fps: int
    duration: float
    metres_per_pixel: float
    caption_top: int = Field(description="y of the top of the caption band; objects stay above it.")
    scenes: list[Scene]
    objects: list[SynthObject]
    captions: list[Caption]

    # -- queries -------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(round(self.duration * self.fps))

    def frame_time(self, i: int) -> float:
        return i / self.fps

    def scene_at(self, t: float) -> Scene:
        for s in self.scenes:
            if s.start <= t < s.end:
                return s
        return self.scenes[-1]

    def object_by_name(self, name: str) -> SynthObject:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(name)

    def is_on_screen(self, o: SynthObject, t: float) -> bool:
        """True when any part of the object's bounding box lies inside the frame at ``t``."""
        p = o.position(t)
        if p is None or t >= self.scenes[o.scene].end:
            return False
        h = o.size / 2
        return p[0] + h > 0 and p[0] - h < self.width and p[1] + h > 0 and p[1] - h < self.height

    def is_fully_visible(self, o: SynthObject, t: float) -> bool:
        p = o.position(t)
        if p is None or t >= self.scenes[o.scene].end:
            return False
        h = o.size / 2
        return h <= p[0] <= self.width - h and h <= p[1] <= self.caption_top - h

    def state_at(self, t: float) -> list[VisibleObject]:
        """Objects on screen at ``t`` in drawing order (later ones are drawn on top)."""
        out = []
        for o in self.objects:
            if self.is_on_screen(o, t):
                x, y = o.position(t)  # type: ignore[misc]
                out.append(VisibleObject(o.id, o.name, x, y, o.size))
        return out

    def captions_at(self, t: float) -> list[Caption]:
        return [c for c in self.captions if c.start <= t < c.end]

    def cut_times(self) -> list[float]:
        return [s.start for s in self.scenes[1:]]

    @cached_property
    def _motions(self) -> dict[int, list[Motion]]:
        return {o.id: _motions_of(o) for o in self.objects}

    def motions(self, o: SynthObject) -> list[Motion]:
        """Maximal same-direction intervals of an object, including its entry and exit."""
        return self._motions[o.id]

    def content_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def _direction(a: Keyframe, b: Keyframe) -> str:
    dx, dy = b.x - a.x, b.y - a.y
    if abs(dx) < 1e-9 and abs(dy) < 1e-9:
        return "still"
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def _motions_of(o: SynthObject) -> list[Motion]:
    out: list[Motion] = []
    for a, b in zip(o.keyframes, o.keyframes[1:], strict=False):
        if b.t <= a.t:
            continue
        d = _direction(a, b)
        if out and out[-1].direction == d:
            out[-1] = Motion(o.id, d, out[-1].start, b.t)
        else:
            out.append(Motion(o.id, d, a.t, b.t))
    return out


# -- sampling ------------------------------------------------------------------------------

def _r(x: float) -> float:
    return round(x, 3)


class _SceneBuilder:
    """Samples the objects and captions of one scene."""

    def __init__(self, rng: random.Random, cfg: SynthConfig, log_geom: dict, scene: Scene):
        self.rng, self.cfg, self.scene = rng, cfg, scene
        self.W, self.H, self.cap_top = log_geom["width"], log_geom["height"], log_geom["caption_top"]

    def stage(self, size: int) -> tuple[float, float, float, float]:
        h = size / 2 + 4
        return (h, self.W - h, h, self.cap_top - h)

    def speed(self) -> float:
        if self.rng.random() < self.cfg.slow_motion_prob:
            return self.rng.uniform(12.0, 25.0)
        return self.rng.uniform(60.0, 140.0)

    def sample_object(self, oid: int, colour: str, shape: str) -> SynthObject | None:
        rng, sc = self.rng, self.scene
        size = rng.randint(self.cfg.min_object_size, self.cfg.max_object_size)
        x0, x1, y0, y1 = self.stage(size)
        latest_entry = sc.end - 3.0
        if latest_entry <= sc.start:
            return None
        t = rng.uniform(sc.start, latest_entry)
        side = rng.choice(("left", "right", "top", "bottom"))
        half = size / 2
        if side in ("left", "right"):
            y = rng.uniform(y0, y1)
            xs = -half if side == "left" else self.W + half
            xt = rng.uniform(x0, (x0 + x1) / 2) if side == "left" else rng.uniform((x0 + x1) / 2, x1)
            start, target = (xs, y), (xt, y)
        else:
            x = rng.uniform(x0, x1)
            ys = -half if side == "top" else self.H + half
            yt = rng.uniform(y0, (y0 + y1) / 2) if side == "top" else rng.uniform((y0 + y1) / 2, y1)
            start, target = (x, ys), (x, yt)
        kfs = [Keyframe(t=_r(t), x=_r(start[0]), y=_r(start[1]))]
        dist = math.dist(start, target)
        t_end = t + dist / self.speed()
        if t_end > sc.end - 0.5:
            return None
        kfs.append(Keyframe(t=_r(t_end), x=_r(target[0]), y=_r(target[1])))
        t, (x, y) = t_end, target
        exit_side = None
        while True:
            # stop
            stop = rng.uniform(0.8, 3.0)
            if t + stop >= sc.end:
                break
            t += stop
            kfs.append(Keyframe(t=_r(t), x=_r(x), y=_r(y)))
            roll = rng.random()
            if roll < 0.25:  # try to leave through the nearest edge
                cands = {"left": x + half, "right": self.W + half - x, "top": y + half, "bottom": self.H + half - y}
                exit_side = min(cands, key=cands.get)  # type: ignore[arg-type]
                ex, ey = {
                    "left": (-half, y), "right": (self.W + half, y), "top": (x, -half), "bottom": (x, self.H + half)
                }[exit_side]
                te = t + math.dist((x, y), (ex, ey)) / self.speed()
                if te <= sc.end - 0.05:
                    kfs.append(Keyframe(t=_r(te), x=_r(ex), y=_r(ey)))
                    return SynthObject(
                        id=oid, scene=sc.index, colour=colour, shape=shape, size=size,
                        keyframes=kfs, enter_side=side, exit_side=exit_side,
                    )
                exit_side = None
                continue
            rooms = {"left": x - x0, "right": x1 - x, "up": y - y0, "down": y1 - y}
            dirs = [d for d, room in rooms.items() if room >= 60]
            if not dirs:
                continue
            d = rng.choice(dirs)
            dist = rng.uniform(50.0, rooms[d])
            v = self.speed()
            if t + dist / v > sc.end - 0.3:
                dist = (sc.end - 0.3 - t) * v
                if dist < 40:
                    break
            dx, dy = {"left": (-dist, 0), "right": (dist, 0), "up": (0, -dist), "down": (0, dist)}[d]
            t += dist / v
            x, y = x + dx, y + dy
            kfs.append(Keyframe(t=_r(t), x=_r(x), y=_r(y)))
        # vanish at the cut: the object holds its place until the scene ends
        if kfs[-1].t < sc.end:
            kfs.append(Keyframe(t=_r(sc.end), x=kfs[-1].x, y=kfs[-1].y))
        return SynthObject(
            id=oid, scene=sc.index, colour=colour, shape=shape, size=size,
            keyframes=kfs, enter_side=side, exit_side=None,
        )

    def sample_crossing(self, oid: int, colour: str, shape: str, under: SynthObject) -> SynthObject | None:
        """An object that crosses in front of ``under`` while ``under`` stands still."""
        rng, sc = self.rng, self.scene
        stills = [m for m in _motions_of(under) if m.direction == "still" and m.end - m.start >= 1.5]
        if not stills:
            return None
        m = rng.choice(stills)
        ax, ay = under.position((m.start + m.end) / 2)  # type: ignore[misc]
        size = rng.randint(self.cfg.min_object_size, self.cfg.max_object_size)
        half = size / 2
        side = rng.choice(("left", "right"))
        xs, xe = (-half, self.W + half) if side == "left" else (self.W + half, -half)
        v = rng.uniform(80.0, 160.0)
        t_cross = (m.start + m.end) / 2
        t_in = t_cross - abs(ax - xs) / v
        t_out = t_cross + abs(xe - ax) / v
        if t_in < sc.start or t_out > sc.end - 0.05:
            return None
        kfs = [Keyframe(t=_r(t_in), x=_r(xs), y=_r(ay)), Keyframe(t=_r(t_out), x=_r(xe), y=_r(ay))]
        return SynthObject(
            id=oid, scene=sc.index, colour=colour, shape=shape, size=size, keyframes=kfs,
            enter_side=side, exit_side="right" if side == "left" else "left",
        )

    def sample_captions(self, words: list[str]) -> list[Caption]:
        rng, sc = self.rng, self.scene
        lo, hi = self.cfg.captions_per_scene
        n = rng.randint(lo, hi)
        caps: list[Caption] = []
        t = sc.start + rng.uniform(0.3, 2.0)
        for _ in range(n):
            dur = rng.uniform(2.0, 5.0)
            if t + dur > sc.end - 0.3 or not words:
                break
            caps.append(Caption(text=words.pop(), start=_r(t), end=_r(t + dur), scene=sc.index))
            t += dur + rng.uniform(1.0, 4.0)
        return caps


_TEXTURES = ("stripes", "checker", "noise", "gradient")


def sample_event_log(cfg: SynthConfig, video_id: str, seed: int) -> EventLog:
    """Sample one video's event log. Deterministic in (cfg, seed); ``video_id`` is only a label."""
    rng = random.Random(seed)
    lo, hi = cfg.duration_range
    duration = round(rng.uniform(lo, hi) * cfg.fps) / cfg.fps
    n_scenes = rng.randint(cfg.min_scenes, cfg.max_scenes)
    n_scenes = max(1, min(n_scenes, int(duration // cfg.min_scene_seconds)))
    # scene boundaries: random partition with a minimum length, snapped to frame times
    spare = duration - n_scenes * cfg.min_scene_seconds
    cuts_raw = sorted(rng.uniform(0, spare) for _ in range(n_scenes - 1))
    bounds = [0.0] + [c + (i + 1) * cfg.min_scene_seconds for i, c in enumerate(cuts_raw)] + [duration]
    bounds = [round(b * cfg.fps) / cfg.fps for b in bounds]
    # consecutive scenes differ clearly in brightness and texture: alternate dark/bright bands
    levels = [60, 110, 165]
    scenes = []
    prev_level, prev_tex = None, None
    for i in range(n_scenes):
        level = rng.choice([lv for lv in levels if lv != prev_level])
        tex = rng.choice([tx for tx in _TEXTURES if tx != prev_tex])
        tint = tuple(rng.randint(-8, 8) for _ in range(3))
        scenes.append(Scene(
            index=i, start=bounds[i], end=bounds[i + 1], texture=tex,
            brightness=level + rng.randint(-10, 10), tint=tint, texture_seed=rng.getrandbits(31),
        ))
        prev_level, prev_tex = level, tex

    geom = {"width": cfg.width, "height": cfg.height, "caption_top": int(cfg.height * 0.84)}
    identities = [(c, s) for c in COLOURS for s in SHAPES]
    rng.shuffle(identities)
    words = list(CAPTION_WORDS)
    rng.shuffle(words)
    objects: list[SynthObject] = []
    captions: list[Caption] = []
    for sc in scenes:
        b = _SceneBuilder(rng, cfg, geom, sc)
        k = rng.randint(*cfg.objects_per_scene)
        scene_objs: list[SynthObject] = []
        for _ in range(k):
            if not identities:
                break
            for _attempt in range(4):
                o = b.sample_object(len(objects), *identities[-1])
                if o is not None:
                    identities.pop()
                    objects.append(o)
                    scene_objs.append(o)
                    break
        if scene_objs and identities and rng.random() < cfg.occlusion_prob:
            o = b.sample_crossing(len(objects), *identities[-1], under=rng.choice(scene_objs))
            if o is not None:
                identities.pop()
                objects.append(o)
        captions.extend(b.sample_captions(words))
    return EventLog(
        video_id=video_id, seed=seed, width=cfg.width, height=cfg.height, fps=cfg.fps, duration=duration,
        metres_per_pixel=cfg.metres_per_pixel, caption_top=geom["caption_top"], scenes=scenes,
        objects=objects, captions=captions,
    )
