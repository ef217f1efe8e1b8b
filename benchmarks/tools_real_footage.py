"""Run the tools on real footage shipped by Debian's opencv-doc package (vtest.avi: pedestrians,
Megamind.avi: an animated movie clip) and print what they see, plus per-tool latency on CPU.

Get the clips (no hub download; Debian package archive):
    cd /tmp && apt-get download opencv-doc && dpkg-deb --fsys-tarfile opencv-doc_*.deb | \
      tar -x --wildcards './usr/share/doc/opencv-doc/examples/data/*.avi'
Usage: .venv/bin/python benchmarks/tools_real_footage.py VIDEO... [--out benchmarks/tools_real_footage.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from m1.schema import ToolCall
from m1.tools.context import ToolContext, VideoStore
from m1.tools.perception import ocr
from m1.tools.registry import execute

CALLS = [
    ToolCall(tool="global_sampling", args={"n": 6}),
    ToolCall(tool="rough_browser", args={}),
    ToolCall(tool="fine_browser", args={"start": 2.0, "end": 4.0}),
    ToolCall(tool="spatial", args={"t": 3.0}),
    ToolCall(tool="video_retrieval", args={"query": "a person walking", "top_k": 2}),
    ToolCall(tool="image_retrieval", args={"query": "a face", "top_k": 2}),
    ToolCall(tool="grounding", args={"query": "two people"}),
]


def main() -> int:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser()
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = []
    lat: dict[str, list[float]] = {c.tool: [] for c in CALLS}
    for path in a.videos:
        store = VideoStore()
        ctx = ToolContext(path, None, None, store)
        out.append(f"## {ctx.reader.info.summary()}\n")
        for call in CALLS:
            r = execute(call, ctx)
            lat[call.tool].append(r.seconds)
            out.append(
                f"### {call.tool} {call.args}  ({r.seconds:.2f} s, {r.frames_used} new frames)\n```\n"
                f"{r.text[:1500]}\n```\n"
            )
        _, _, img = ctx.images([ctx.duration / 2])[0]
        t0 = time.perf_counter()
        texts = ocr.read_text(img)
        out.append(
            f"full-frame OCR at {ctx.duration / 2:.1f}s ({time.perf_counter() - t0:.2f} s): "
            f"{[t.text for t in texts] or 'no text'}\n"
        )
    out.append("## Per-tool latency on these clips (cold cache per clip, 1 thread)\n")
    out.append("| tool | median s | max s |\n|---|---|---|")
    for k, v in lat.items():
        out.append(f"| {k} | {statistics.median(v):.2f} | {max(v):.2f} |")
    text = "\n".join(out)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(
                "# Tools on real footage (opencv-doc sample clips)\n\nCommand: `.venv/bin/python "
                "benchmarks/tools_real_footage.py /tmp/realfoot/vtest.avi /tmp/realfoot/Megamind.avi "
                "--out benchmarks/tools_real_footage.md`\n\n" + text + "\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
