"""A natural-footage set of our own, and the reference solver (tools alone) on it, against chance.

Builds (nothing committed; all from offline sources, see :mod:`m1.data.natural`):

- ``street.mp4``: the first 20 s of opencv-doc's ``vtest.avi`` (a street, pedestrians);
- ``cartoon.mp4``: opencv-doc's ``Megamind.avi`` (an animated film clip);
- ``spoken.mp4``: ``tree.avi``'s frames under espeak-ng reading a sentence;
- ``photos.mp4``: five photographs, 3 s each (opencv-doc's messi5, baboon, orange, butterfly;
  scikit-image's coffee);
- ``tree.mp4``: ``tree.avi`` with a LongVideoBench subtitle file.

Questions are written by hand below, in LongVideoBench (``lvb_test.json``, multiple choice) and
Charades-STA (``charades_sta_test.txt``, grounding) formats, and read back through the project's
loaders. Usage::

    .venv/bin/python benchmarks/natural_footage.py --out-dir /tmp/natural --md benchmarks/natural_footage.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from m1.data import natural
from m1.data.registry import load_benchmark
from m1.data.scoring import score_question
from m1.tools.solver import solve

SPEECH = "The meeting starts at nine o'clock in the library. Please bring your notebook."
SUBTITLE = "Look at this tree swaying in the wind."
PHOTOS = [("messi5.jpg", "soccer"), ("baboon.jpg", "baboon"), ("orange.jpg", "orange"), ("butterfly.jpg", "butterfly"),
          ("coffee", "coffee")]

# (video, category, question, options, correct index) — written by hand, not from M1-Synth's templates.
MC = [
    ("street.mp4", "people_count", "About how many pedestrians can be seen in this street scene?",
     ["none", "1", "about 7", "more than 50"], 2),
    ("street.mp4", "scene", "Where was this video filmed?",
     ["on a street with pedestrians", "under water", "inside a kitchen", "in outer space"], 0),
    ("cartoon.mp4", "scene", "What kind of video is this?",
     ["an animated film clip", "a security camera recording", "a cooking show", "a slide presentation"], 0),
    ("spoken.mp4", "speech", "According to the speaker, when does the meeting start?",
     ["at seven", "at nine o'clock", "at noon", "at midnight"], 1),
    ("spoken.mp4", "speech", "Where will the meeting take place, according to the speaker?",
     ["in the gym", "in the library", "in the cafeteria", "in the parking lot"], 1),
    ("spoken.mp4", "speech", "What should people bring?",
     ["a laptop", "their notebook", "an umbrella", "lunch"], 1),
    ("photos.mp4", "object", "Which animal appears in the video?", ["elephant", "baboon", "shark", "horse"], 1),
    ("photos.mp4", "object", "Which fruit is shown?", ["banana", "strawberry", "orange", "pineapple"], 2),
    ("photos.mp4", "object", "Which sport appears in one of the pictures?",
     ["tennis", "soccer", "golf", "swimming"], 1),
    ("photos.mp4", "object", "Which insect is shown?", ["butterfly", "ant", "bee", "mosquito"], 0),
    ("photos.mp4", "object", "What drink appears in the video?", ["orange juice", "coffee", "milk", "wine"], 1),
    ("tree.mp4", "subtitles", "What is the narrator describing?",
     ["a tree swaying in the wind", "a car race", "a birthday party", "a football match"], 0),
    ("tree.mp4", "scene", "What is mainly visible in the video?",
     ["a tree", "a crowd of people", "a computer screen", "a city skyline at night"], 0),
]


def build(out: Path) -> Path:
    d = out / "test"
    (d / "videos").mkdir(parents=True, exist_ok=True)
    (d / "subtitles").mkdir(exist_ok=True)
    data = natural.opencv_data()
    v = d / "videos"
    natural.cut(data / "vtest.avi", v / "street.mp4", 20.0, width=640)
    natural.cut(data / "Megamind.avi", v / "cartoon.mp4", 12.0, width=640)
    natural.spoken_clip(data / "tree.avi", SPEECH, v / "spoken.mp4", width=320)
    natural.cut(data / "tree.avi", v / "tree.mp4", 6.0, width=320)
    _slideshow(data, v / "photos.mp4")
    (d / "subtitles" / "tree_en.json").write_text(json.dumps([{"timestamp": [0.5, 4.0], "text": SUBTITLE}]))
    rows = []
    for i, (vid, cat, q, opts, ans) in enumerate(MC):
        rows.append({"video_id": vid[:-4], "question": q, "candidates": opts, "correct_choice": ans,
                     "question_category": cat, "id": f"nat-{i}", "video_path": vid, "duration_group": 15,
                     "subtitle_path": "tree_en.json" if vid == "tree.mp4" else None,
                     "starting_timestamp_for_subtitles": 0})
    (d / "lvb_test.json").write_text(json.dumps(rows, indent=1))
    speech_end = 0.5 + natural.speak(SPEECH).size / 16000
    lines = ["photos 0.00 3.00##a man kicks a soccer ball.", "photos 3.00 6.00##a baboon looks at the camera.",
             "photos 9.00 12.00##a butterfly sits on a flower.", "photos 12.00 15.00##a cup of coffee.",
             f"spoken 0.50 {speech_end:.2f}##a person talks about a meeting in the library."]
    (d / "charades_sta_test.txt").write_text("\n".join(lines) + "\n")
    return d


def _slideshow(data: Path, dst: Path, seconds: float = 3.0, fps: int = 10) -> None:
    import av
    import skimage.data as sd

    with av.open(str(dst), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt, s.bit_rate = 640, 480, "yuv420p", 2_000_000
        for name, _ in PHOTOS:
            img = (np.ascontiguousarray(getattr(sd, name)()[..., :3]) if "." not in name
                   else cv2.cvtColor(cv2.imread(str(data / name)), cv2.COLOR_BGR2RGB))
            h, w = img.shape[:2]
            k = min(640 / w, 480 / h)
            img = cv2.resize(img, (int(w * k), int(h * k)), interpolation=cv2.INTER_AREA)
            frame = np.zeros((480, 640, 3), np.uint8)
            y0, x0 = (480 - img.shape[0]) // 2, (640 - img.shape[1]) // 2
            frame[y0 : y0 + img.shape[0], x0 : x0 + img.shape[1]] = img
            for _ in range(int(seconds * fps)):
                for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    c.mux(p)
        for p in s.encode():
            c.mux(p)


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--out-dir", default="/tmp/natural")
    ap.add_argument("--md", default=None)
    a = ap.parse_args()
    d = build(Path(a.out_dir))
    qs = load_benchmark("longvideobench", d, "test").questions + load_benchmark("charades_sta", d, "test").questions
    rows = []
    t_all = time.time()
    for q in qs:
        s = solve(q)
        sc = score_question(q, s.answer).score
        chance = 1 / len(q.options) if q.options else None
        kind = ("mc/" + q.category) if q.options else "grounding"
        rows.append((kind, q, s, sc, chance))
        print(f"{q.qid} {kind}: answer={s.answer} truth={q.answer} score={sc:.2f} conf={s.confidence:.2f} "
              f"frames={s.frames_used} {s.seconds:.1f}s", file=sys.stderr)
    wall = time.time() - t_all
    out = ["| question type | metric | n | tools alone | chance | frames/q | s/q |", "|---|---|---|---|---|---|---|"]
    for kind in sorted({r[0] for r in rows}):
        rs = [r for r in rows if r[0] == kind]
        n = len(rs)
        chance = "—" if rs[0][4] is None else f"{sum(r[4] for r in rs) / n:.2f}"
        metric = "mean IoU" if kind == "grounding" else "accuracy"
        out.append(f"| {kind} | {metric} | {n} | {sum(r[3] for r in rs) / n:.2f} | {chance} | "
                   f"{sum(r[2].frames_used for r in rs) / n:.1f} | {sum(r[2].seconds for r in rs) / n:.1f} |")
    mc = [r for r in rows if r[4] is not None]
    out.append(f"\nAll {len(mc)} multiple-choice questions: {sum(r[3] for r in mc) / len(mc):.2f} accuracy vs "
               f"{sum(r[4] for r in mc) / len(mc):.2f} chance; wall {wall:.0f} s (models loaded once).\n")
    out.append("| id | question | answer | truth | conf | evidence (truncated) |")
    out.append("|---|---|---|---|---|---|")
    for _, q, s, _, _ in rows:
        ev = next((r.payload.get("evidence", "") for r in s.results if r.candidate == s.answer), "")
        out.append(f"| {q.qid} | {q.question} | {s.answer} | {q.answer} | {s.confidence:.2f} | "
                   f"{str(ev)[:140].replace('|', '/')} |")
    text = "\n".join(out)
    print(text)
    if a.md:
        Path(a.md).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
