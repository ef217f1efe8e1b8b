"""Per-tool latency (median, p90) on CPU, cold and warm, on a few M1-Synth test videos.

Usage: .venv/bin/python benchmarks/tools_latency.py [--videos 5] [--seed 0] [--data DIR]
[--out benchmarks/tools_latency.md]

Every tool runs on every question of every video (default ``SynthConfig``; the split is
generated into a temporary directory unless ``--data`` names one to reuse), each call in a
fresh :class:`ToolContext`:

- **cold**: a fresh :class:`VideoStore` per call, so the video is opened and every frame
  decoded and analysed anew (nothing shared with any earlier call);
- **warm**: a second call of the same tool on the same store (fresh context), so decoding and
  perception come from the store's caches; frames_used is counted per episode either way.

Process-wide models (rapidocr, MiniLM) are loaded by one untimed call first: their load is a
once-per-process cost, not a per-call one. One torch thread. Times are ``ToolResult.seconds``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from m1.config.synth import SynthConfig
from m1.config.tools import ToolsConfig
from m1.schema import ToolCall
from m1.synth import generate_split, read_split
from m1.tools.context import ToolContext, VideoStore
from m1.tools.registry import execute, tool_names


def _stats(xs: list[float]) -> tuple[float, float]:
    return float(np.median(xs)), float(np.percentile(xs, 90))


def run(split_dir: Path, cfg: ToolsConfig) -> tuple[list[str], int, float]:
    """Time every tool on every question; returns the table lines, question count and wall time."""
    qs = read_split(split_dir)
    # Untimed: load the OCR and text-embedding models once for the process.
    warm_up = ToolContext(qs[0].video, qs[0], cfg, VideoStore())
    for name in ("global_sampling", "image_retrieval"):
        execute(ToolCall(tool=name), warm_up)
    cold, warm, frames, errors, frame_mismatch = (defaultdict(list) for _ in range(5))
    t0 = time.time()
    for q in qs:
        for name in tool_names():
            store = VideoStore()
            r1 = execute(ToolCall(tool=name), ToolContext(q.video, q, cfg, store))
            r2 = execute(ToolCall(tool=name), ToolContext(q.video, q, cfg, store))
            cold[name].append(r1.seconds)
            warm[name].append(r2.seconds)
            frames[name].append(r1.frames_used)
            errors[name].append(r1.error is not None or r2.error is not None)
            frame_mismatch[name].append(r1.frames_used != r2.frames_used)
            store.close()
    wall = time.time() - t0
    lines = [
        "| tool | n | cold median s | cold p90 s | warm median s | warm p90 s | frames/call | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in tool_names():
        cm, c90 = _stats(cold[name])
        wm, w90 = _stats(warm[name])
        n = len(cold[name])
        lines.append(
            f"| {name} | {n} | {cm:.3f} | {c90:.3f} | {wm:.3f} | {w90:.3f} | "
            f"{np.mean(frames[name]):.1f} | {sum(errors[name])} |"
        )
        if any(frame_mismatch[name]):
            lines.append(f"| ({name}: {sum(frame_mismatch[name])} warm calls counted other frames than cold) |")
    return lines, len(qs), wall


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=5, help="M1-Synth test videos to generate.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=None, help="Directory to write (or reuse) the split in; default: a temp dir.")
    ap.add_argument("--out", default=None, help="Markdown file to write the table to.")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.data or tmp)
        split_dir = root / "test"
        if not (split_dir / "questions.jsonl").is_file():
            generate_split(SynthConfig(), root, "test", n=a.videos, seed=a.seed, progress=False)
        lines, nq, wall = run(split_dir, ToolsConfig())
    nv = a.videos
    head = (
        f"{nv} M1-Synth test videos (seed {a.seed}, default SynthConfig), {nq} questions, every tool on every "
        f"question; wall {wall:.0f} s for cold+warm on 1 torch thread."
    )
    text = head + "\n\n" + "\n".join(lines)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
