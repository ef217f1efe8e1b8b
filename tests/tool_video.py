"""The hand-written M1-Synth event log the tool tests share (exact ground truth: positions, stops,
shots, a caption), and its encoding to an mp4."""

from __future__ import annotations

from pathlib import Path

from m1.synth.render import encode_video
from m1.synth.world import Caption, EventLog, Keyframe, Scene, SynthObject

W, H = 480, 270


def _obj(oid, scene, colour, shape, size, kfs, side):
    return SynthObject(id=oid, scene=scene, colour=colour, shape=shape, size=size,
                       keyframes=[Keyframe(t=t, x=x, y=y) for t, x, y in kfs], enter_side=side, exit_side=None)


def event_log(video_id: str) -> EventLog:
    """8 s, two shots (cut at 5 s); a red square enters from the left, stops at 1.5-3.0 s, moves down
    and stops at 4.0-5.0 s; a blue circle drops in from the top; a green triangle enters from the
    right in the second shot; the caption RAVEN is shown at 1.0-3.0 s."""
    return EventLog(
        video_id=video_id, seed=0, width=W, height=H, fps=10, duration=8.0, metres_per_pixel=0.01,
        caption_top=int(H * 0.84),
        scenes=[Scene(index=0, start=0.0, end=5.0, texture="checker", brightness=110, tint=(0, 0, 0), texture_seed=1),
                Scene(index=1, start=5.0, end=8.0, texture="stripes", brightness=165, tint=(2, 0, -2),
                      texture_seed=2)],
        objects=[
            _obj(0, 0, "red", "square", 40, [(0.5, -20, 80), (1.5, 100, 80), (3.0, 100, 80), (4.0, 100, 160),
                                               (5.0, 100, 160)], "left"),
            _obj(1, 0, "blue", "circle", 40, [(0.2, 300, -20), (1.2, 300, 120), (5.0, 300, 120)], "top"),
            _obj(2, 1, "green", "triangle", 44, [(5.5, 502, 150), (6.5, 380, 150), (8.0, 380, 150)], "right"),
        ],
        captions=[Caption(text="RAVEN", start=1.0, end=3.0, scene=0)],
    )


def encode(video_id: str, folder: Path) -> str:
    """:func:`event_log` rendered to ``folder/<video_id>.mp4``; its path."""
    path = folder / f"{video_id}.mp4"
    encode_video(event_log(video_id), path)
    return str(path)
