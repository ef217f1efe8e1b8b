"""Encode RGB frames to a video file with PyAV — used to build test clips and benchmark inputs.

Supports the codecs the reader is tested on (H.264, MPEG-4 part 2, MJPEG, VP9) with a fixed
keyframe interval. It does not mux audio and is not a general transcoder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

# codec name -> (PyAV encoder, pixel format, extra encoder options)
CODECS: dict[str, tuple[str, str, dict[str, str]]] = {
    "h264": ("libx264", "yuv420p", {"preset": "veryfast", "crf": "23", "sc_threshold": "0"}),
    "mpeg4": ("mpeg4", "yuv420p", {"qscale": "3"}),
    "mjpeg": ("mjpeg", "yuvj420p", {}),
    "vp9": ("libvpx-vp9", "yuv420p", {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}),
}


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: int = 10,
    codec: str = "h264",
    gop: int | None = None,
) -> Path:
    """Write RGB uint8 frames (all the same even size) to ``path``; ``gop`` frames per keyframe."""
    if codec not in CODECS:
        raise ValueError(f"codec {codec!r} not in {sorted(CODECS)}")
    enc, pix, opts = CODECS[codec]
    path = Path(path)
    out = av.open(str(path), mode="w")
    stream = None
    try:
        for img in frames:
            if stream is None:
                h, w = img.shape[:2]
                stream = out.add_stream(enc, rate=fps)
                stream.width, stream.height, stream.pix_fmt = w, h, pix
                stream.options = dict(opts)
                if gop:
                    stream.gop_size = gop
                    if codec == "h264":
                        stream.options["keyint_min"] = str(gop)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img, dtype=np.uint8), format="rgb24")
            for pkt in stream.encode(frame):
                out.mux(pkt)
        if stream is None:
            raise ValueError("no frames to write")
        for pkt in stream.encode():
            out.mux(pkt)
    finally:
        out.close()
    return path
