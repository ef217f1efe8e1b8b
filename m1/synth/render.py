"""Draw an :class:`~m1.synth.world.EventLog` into frames and encode them as an H.264 MP4.

Rendering is a pure function of the log (frame ``i`` shows time ``i / fps``), so the same log
always gives the same pixels; colour conversion and encoding use a single thread for the same reason. This
module knows nothing about questions.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from m1.synth.world import COLOURS, EventLog, Scene

OUTLINE = (20, 20, 20)
FONT = cv2.FONT_HERSHEY_DUPLEX


def scene_texture(scene: Scene, width: int, height: int) -> np.ndarray:
    """The background of a scene: a low-saturation grey texture around ``scene.brightness``."""
    rng = np.random.default_rng(scene.texture_seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if scene.texture == "stripes":
        period = rng.uniform(24, 60)
        angle = rng.uniform(0, np.pi)
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        field = 22.0 * np.sign(np.sin(2 * np.pi * phase))
    elif scene.texture == "checker":
        cell = int(rng.integers(28, 60))
        field = 18.0 * (((xx // cell) + (yy // cell)) % 2 * 2 - 1)
    elif scene.texture == "noise":
        small = rng.normal(0, 1, (height // 16 + 2, width // 16 + 2)).astype(np.float32)
        field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) * 18.0
    else:  # gradient
        field = (xx / max(width - 1, 1) - 0.5) * 70.0 + (yy / max(height - 1, 1) - 0.5) * 20.0
    base = np.clip(scene.brightness + field, 0, 255)
    img = np.stack([base + scene.tint[0], base + scene.tint[1], base + scene.tint[2]], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


def draw_shape(img: np.ndarray, shape: str, x: float, y: float, size: int, colour: tuple[int, int, int]) -> None:
    cx, cy, h = int(round(x)), int(round(y)), size / 2
    if shape == "circle":
        cv2.circle(img, (cx, cy), int(round(h)), colour, -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), int(round(h)), OUTLINE, 2, cv2.LINE_AA)
    elif shape == "square":
        p0, p1 = (int(round(x - h)), int(round(y - h))), (int(round(x + h)), int(round(y + h)))
        cv2.rectangle(img, p0, p1, colour, -1)
        cv2.rectangle(img, p0, p1, OUTLINE, 2)
    elif shape == "triangle":
        pts = np.array([[x, y - h], [x - h, y + h], [x + h, y + h]], dtype=np.float64)
        pts = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
        cv2.fillPoly(img, [pts], colour, cv2.LINE_AA)
        cv2.polylines(img, [pts], True, OUTLINE, 2, cv2.LINE_AA)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def caption_geometry(log: EventLog, text: str) -> tuple[float, int, tuple[int, int]]:
    """Font scale, thickness and bottom-left origin of a caption (centred in the caption band)."""
    scale = max(0.5, log.height / 360 * 1.1)
    thick = max(1, int(round(log.height / 360 * 2)))
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thick)
    band = log.height - log.caption_top
    return scale, thick, ((log.width - tw) // 2, log.caption_top + (band + th) // 2)


def render_frame(log: EventLog, t: float, textures: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """The BGR frame at time ``t``."""
    scene = log.scene_at(t)
    if textures is not None and scene.index in textures:
        img = textures[scene.index].copy()
    else:
        img = scene_texture(scene, log.width, log.height)
    for v in log.state_at(t):
        o = log.objects[v.object_id]
        draw_shape(img, o.shape, v.x, v.y, o.size, COLOURS[o.colour])
    for c in log.captions_at(t):
        scale, thick, org = caption_geometry(log, c.text)
        cv2.putText(img, c.text, org, FONT, scale, (0, 0, 0), thick + 4, cv2.LINE_AA)
        cv2.putText(img, c.text, org, FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return img


def encode_video(log: EventLog, path: str | Path, *, crf: int = 23, gop_seconds: float = 2.0) -> int:
    """Render every frame of ``log`` into an H.264 MP4 at ``path``; returns the frame count.

    The keyframe interval is ``gop_seconds``; x264 also places keyframes at hard cuts, as real
    encoders do, which is what keyframe-aware seeking in :mod:`m1.video` exploits.
    """
    import av  # local: importing PyAV is slow and only the generator needs it

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    textures = {s.index: scene_texture(s, log.width, log.height) for s in log.scenes}
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=log.fps)
        stream.width, stream.height, stream.pix_fmt = log.width, log.height, "yuv420p"
        gop = max(1, int(round(gop_seconds * log.fps)))
        stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(gop), "threads": "1"}
        for i in range(log.num_frames):
            frame = av.VideoFrame.from_ndarray(render_frame(log, log.frame_time(i), textures), format="bgr24")
            # converted here on one thread, not by the encoder with swscale's automatic slice threads:
            # the same log must give the same bytes however loaded the machine is
            frame = frame.reformat(format="yuv420p", threads=1)
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)  # a crash mid-encode never leaves a truncated file under the final name
    return log.num_frames
