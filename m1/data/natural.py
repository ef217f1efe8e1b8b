"""Real footage available offline, for tests and the natural-footage benchmark (no hub, no datasets).

- :func:`opencv_data`: Debian's ``opencv-doc`` sample data (``vtest.avi``: a street with
  pedestrians, ``Megamind.avi``: an animated clip, ``tree.avi``, ~100 photos), fetched with
  ``apt-get download`` (no root needed) and unpacked with ``dpkg-deb -x`` into
  ``~/.cache/m1/opencv-doc`` (``M1_MEDIA_CACHE`` overrides the cache root);
- :func:`spoken_clip`: a clip whose audio is ``espeak-ng`` reading a text, muxed with PyAV under
  frames of another video, so speech recognition has a known transcript;
- :func:`cut`: the first seconds of a clip re-encoded (small test inputs).

Nothing here is committed media: everything is built at test/benchmark time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np


class MediaUnavailable(RuntimeError):
    """The offline source of real media is missing (no apt-get/dpkg-deb/espeak-ng here)."""


def cache_root() -> Path:
    return Path(os.environ.get("M1_MEDIA_CACHE", Path.home() / ".cache" / "m1"))


def opencv_data() -> Path:
    """The directory of opencv-doc's sample data (videos and images), downloading it once."""
    root = cache_root() / "opencv-doc"
    data = root / "usr/share/doc/opencv-doc/examples/data"
    if (data / "vtest.avi").is_file():
        return data
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise MediaUnavailable(f"{tool} not found: cannot fetch Debian's opencv-doc sample media")
    root.mkdir(parents=True, exist_ok=True)
    debs = sorted(root.parent.glob("opencv-doc_*.deb"))
    if not debs:
        r = subprocess.run(["apt-get", "download", "opencv-doc"], cwd=root.parent, capture_output=True, text=True,
                           timeout=600)
        debs = sorted(root.parent.glob("opencv-doc_*.deb"))
        if r.returncode != 0 or not debs:
            raise MediaUnavailable(f"apt-get download opencv-doc failed: {r.stderr.strip()[-300:]}")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True, timeout=600)
    if not (data / "vtest.avi").is_file():
        raise MediaUnavailable(f"{debs[-1]} holds no examples/data/vtest.avi")
    return data


def cut(src: str | Path, dst: str | Path, seconds: float, width: int | None = None, audio: np.ndarray | None = None,
        rate: int = 16000) -> Path:
    """Re-encode the first ``seconds`` of ``src`` to ``dst`` (MPEG-4 in .mp4/.avi), optionally
    resized to ``width`` and with mono float ``audio`` at ``rate`` Hz as an AAC track."""
    import av
    import cv2

    dst = Path(dst)
    with av.open(str(src)) as inp:
        vin = inp.streams.video[0]
        fps = float(vin.average_rate or 25)
        with av.open(str(dst), "w") as out:
            vs = out.add_stream("mpeg4", rate=int(round(fps)))
            vs.pix_fmt = "yuv420p"
            vs.bit_rate = 2_000_000
            a_s = out.add_stream("aac", rate=rate, layout="mono") if audio is not None else None
            n = 0
            for frame in inp.decode(vin):
                if n >= seconds * fps:
                    break
                img = frame.to_ndarray(format="rgb24")
                if width:
                    h = int(round(img.shape[0] * width / img.shape[1])) // 2 * 2
                    img = cv2.resize(img, (width, h), interpolation=cv2.INTER_AREA)
                if n == 0:
                    vs.width, vs.height = img.shape[1], img.shape[0]
                for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    out.mux(p)
                n += 1
            for p in vs.encode():
                out.mux(p)
            if a_s is not None:
                samples = audio.astype(np.float32)[None, :]
                step = 1024
                for i in range(0, samples.shape[1], step):
                    fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, i : i + step]), format="fltp",
                                                    layout="mono")
                    fr.sample_rate = rate
                    fr.pts = i
                    for p in a_s.encode(fr):
                        out.mux(p)
                for p in a_s.encode():
                    out.mux(p)
    return dst


def speak(text: str, rate: int = 16000, wpm: int = 140) -> np.ndarray:
    """``text`` read by espeak-ng, as mono float32 samples at ``rate`` Hz."""
    import av

    if shutil.which("espeak-ng") is None:
        raise MediaUnavailable("espeak-ng not found (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory() as d:
        wav = Path(d) / "s.wav"
        subprocess.run(["espeak-ng", "-s", str(wpm), "-w", str(wav), text], check=True, capture_output=True,
                       timeout=60)
        with av.open(str(wav)) as c:
            rs = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks = [o.to_ndarray().reshape(-1) for f in c.decode(audio=0) for o in rs.resample(f)]
            chunks += [o.to_ndarray().reshape(-1) for o in rs.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def spoken_clip(video: str | Path, text: str, dst: str | Path, seconds: float | None = None,
                width: int | None = 320, lead: float = 0.5) -> Path:
    """``video``'s first frames with espeak-ng reading ``text`` (after ``lead`` seconds of silence)."""
    rate = 16000
    voice = speak(text, rate)
    audio = np.concatenate([np.zeros(int(lead * rate), np.float32), voice, np.zeros(rate // 2, np.float32)])
    return cut(video, dst, seconds or audio.size / rate, width, audio, rate)
