"""Per-provider latency on CPU (one torch/ONNX thread): ms per frame for the frame providers on
natural frames (opencv-doc clips and photos, longer side 640), and the real-time factor of the
speech provider on an espeak-ng clip. Model loading is timed separately (once per process).

Usage: .venv/bin/python benchmarks/providers_latency.py [--frames 12]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from m1.config.tools import ToolsConfig
from m1.data import natural
from m1.tools.perception import providers
from m1.video import VideoReader, fit_size


def frames(data: Path, n: int) -> list[np.ndarray]:
    out = []
    for clip in ("vtest.avi", "Megamind.avi"):
        r = VideoReader(str(data / clip))
        out += [f.image for f in r.frames_at(r.uniform_times(n // 3), size=fit_size(r.info.width, r.info.height, 640))]
    for p in ("messi5.jpg", "baboon.jpg", "fruits.jpg", "butterfly.jpg")[: n - len(out)]:
        img = cv2.cvtColor(cv2.imread(str(data / p)), cv2.COLOR_BGR2RGB)
        h, w = img.shape[:2]
        k = min(1.0, 640 / max(h, w))
        out.append(cv2.resize(img, (int(w * k), int(h * k)), interpolation=cv2.INTER_AREA))
    return out


def main() -> int:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=12)
    a = ap.parse_args()
    data = natural.opencv_data()
    imgs = frames(data, a.frames)
    cfg = ToolsConfig()
    print(f"{len(imgs)} natural frames (vtest, Megamind at 640 wide; photos), 1 thread\n")
    print("| provider | load s | median ms/frame | max ms/frame |")
    print("|---|---|---|---|")
    for name in ("shapes", "people", "tags", "ocr"):
        t0 = time.perf_counter()
        p = providers.lookup(name, cfg)
        p.observe(imgs[0])  # warm-up (ONNX/torch first-call costs belong to loading)
        load = time.perf_counter() - t0
        ms = []
        for img in imgs:
            t = time.perf_counter()
            p.observe(img)
            ms.append((time.perf_counter() - t) * 1000)
        print(f"| {name} | {load:.1f} | {statistics.median(ms):.0f} | {max(ms):.0f} |")
    with tempfile.TemporaryDirectory() as d:
        text = "The meeting starts at nine o'clock in the library. Please bring your notebook and a pen."
        clip = natural.spoken_clip(data / "tree.avi", text, Path(d) / "s.mp4", width=320)
        t0 = time.perf_counter()
        sp = providers.lookup("speech", cfg)
        load = time.perf_counter() - t0
        t = time.perf_counter()
        notes = sp.observe_video(str(clip))
        took = time.perf_counter() - t
        dur = VideoReader(str(clip)).info.duration
    print(f"\nspeech: load {load:.1f} s; {dur:.1f} s of audio transcribed in {took:.1f} s "
          f"({dur / took:.1f}x real time, decode included); {sum(n.kind == 'word' for n in notes)} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
