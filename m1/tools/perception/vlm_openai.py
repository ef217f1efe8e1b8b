"""A VLM behind any OpenAI-compatible ``/v1/chat/completions`` endpoint (vLLM, a hosted model).

Frames go as ``image_url`` content parts (JPEG data URIs); :meth:`OpenAIVLM.answer_video` sends
a whole clip as one ``video_url`` part (vLLM's extension) instead. Transport — retries on 429 /
5xx / connection errors with back-off, a per-request timeout, a client-side rate limit, a JSONL
response cache and a JSONL usage/cost log — is the LLM teacher's
(:class:`m1.train.teachers.LLMTeacher`), configured by the same :class:`LLMTeacherConfig` under
``tools.vlm_api``. It offers the methods of the local back-end (:class:`vlm.VLMBackend`), so the
tools use either unchanged.

Confidence: a chat reply carries no probabilities through this transport, so a multiple-choice
answer that parses as one of the letters gets :data:`REPLY_CONF` (a fixed, documented prior,
lower than the template handlers' 0.85-0.9), one that does not parse gets 0, and ``choice_probs``
is 1/0 from the yes/no reply. Not here: streaming, tool calls, audio parts.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from m1.config.sft import LLMTeacherConfig
from m1.tools.perception.vlm import CAPTION_PROMPT, LETTERS, VLMError, _check_images

REPLY_CONF = 0.5


def image_part(img: np.ndarray, quality: int = 85) -> dict:
    """An ``image_url`` content part holding ``img`` (HxWx3 uint8 RGB) as a JPEG data URI."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VLMError("could not JPEG-encode a frame")
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(buf).decode()}}


def video_part(path: str | Path) -> dict:
    """A ``video_url`` content part holding the video file as a data URI."""
    data = Path(path).read_bytes()
    return {"type": "video_url", "video_url": {"url": "data:video/mp4;base64," + base64.b64encode(data).decode()}}


def _mc_prompt(question: str, options: Sequence[str]) -> str:
    lines = "\n".join(f"{a}. {o}" for a, o in zip(LETTERS, options, strict=False))
    return f"{question.strip()}\n{lines}\nAnswer with the option's letter from the given choices directly."


def parse_letter(reply: str, n: int) -> str | None:
    m = re.search(rf"\b([{LETTERS[:n]}])\b", reply.strip().upper())
    return m.group(1) if m else None


class OpenAIVLM:
    """The VLM back-end's interface over an OpenAI-compatible endpoint (see the module docstring)."""

    def __init__(self, cfg: LLMTeacherConfig, client=None):  # noqa: ANN001 - an openai.OpenAI or a test double
        # Imported here, not at the top: m1.train.teachers imports m1.team.cpp, which imports the
        # tools (a module-level import would be a cycle through m1.tools).
        from m1.train.teachers import LLMTeacher

        self.cfg = cfg
        self.transport = LLMTeacher(cfg, client)

    @property
    def usage(self) -> dict:
        return self.transport.usage

    def _ask(self, parts: list[dict], text: str) -> str:
        from m1.train.teachers import TeacherError

        try:
            return self.transport.chat([{"role": "user", "content": [*parts, {"type": "text", "text": text}]}])
        except TeacherError as e:
            raise VLMError(f"VLM endpoint: {e}") from e

    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        return [" ".join(self._ask([image_part(im)], CAPTION_PROMPT).split()) for im in _check_images(images)]

    def _answer(self, parts: list[dict], question: str, options: Sequence[str]) -> tuple[str, float]:
        if not question.strip():
            raise VLMError("question is empty")
        if len(options) > len(LETTERS):
            raise VLMError(f"{len(options)} options; at most {len(LETTERS)} are supported")
        if not options:
            return " ".join(self._ask(parts, question.strip()).split()), REPLY_CONF
        letter = parse_letter(self._ask(parts, _mc_prompt(question, options)), len(options))
        return (letter, REPLY_CONF) if letter else ("A", 0.0)

    def answer(self, images: Sequence[np.ndarray], question: str, options: Sequence[str] = ()) -> tuple[str, float]:
        return self._answer([image_part(im) for im in _check_images(images)], question, options)

    def answer_video(self, path: str | Path, question: str, options: Sequence[str] = ()) -> tuple[str, float]:
        """Like :meth:`answer`, the clip sent whole as one ``video_url`` part."""
        if not Path(path).is_file():
            raise VLMError(f"video {str(path)!r} does not exist")
        return self._answer([video_part(path)], question, options)

    def choice_probs(self, images: Sequence[np.ndarray], question: str,
                     choices: Sequence[str] = ("yes", "no")) -> list[list[float]]:
        out = []
        for im in _check_images(images):
            reply = self._ask([image_part(im)], f"{question.strip()}\nAnswer {' or '.join(choices)}.").lower()
            hit = [c for c in choices if re.search(rf"\b{re.escape(c.lower())}\b", reply)]
            out.append([1.0 if hit and c == hit[0] else 0.0 for c in choices])
        return out
