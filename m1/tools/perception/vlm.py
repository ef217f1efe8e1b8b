"""VLM perception back-ends: a local Qwen2-VL / Qwen2.5-VL checkpoint, or any OpenAI-compatible
vision endpoint, as frame captioner and answerer.

:class:`VLMBackend` loads a local Hugging Face checkpoint directory (``config.json`` +
safetensors, ``tokenizer.json``, ``preprocessor_config.json``) with
``AutoModelForImageTextToText`` on ``tools.vlm_device`` and offers

- :meth:`VLMBackend.caption` — one short description per image, batched greedy generation;
- :meth:`VLMBackend.answer` — one answer over a list of frames: for multiple choice the option
  letter with the highest next-token probability (confidence = that probability renormalised
  over the option letters, one forward pass); open-ended, greedy text (confidence = geometric
  mean of the generated tokens' probabilities, from the raw logits);
- :meth:`VLMBackend.choice_probs` — per image, the probability of each of a few one-token
  choices (``yes``/``no``), batched; the grounding fallback scores frames with it.

Inputs are built here, not with ``AutoProcessor``: the Qwen processors in transformers 5.x
refuse to construct without torchvision's video processor, which the CPU image does not ship.
So the prompt is the Qwen2-VL chat format written out, each image's ``<|image_pad|>`` run is
expanded to ``grid_t*grid_h*grid_w / merge_size**2`` tokens exactly as the processor does, and
the image processor is the PIL ``Qwen2VLImageProcessorPil``; token ids come from the model's
config, so a real checkpoint and the tiny random one go through one code path. The tokenizer
is read as ``PreTrainedTokenizerFast`` from ``tokenizer.json`` (see :mod:`m1.models`).

:func:`build_tiny_vlm` writes a randomly initialised Qwen2.5-VL (~0.2 M parameters) with its own
byte-level tokenizer, for tests: it checks shapes and plumbing, never quality.

Not here: video decoding (the tools pass RGB frames), retrieval embeddings, serving a VLM.

**Over an endpoint** (:class:`OpenAIVLM`, ``tools.vlm_api``): a VLM behind any OpenAI-compatible
``/v1/chat/completions`` endpoint (vLLM, a hosted model). Frames go as ``image_url`` content parts
(JPEG data URIs); :meth:`OpenAIVLM.answer_video` sends a whole clip as one ``video_url`` part
(vLLM's extension) instead. Transport — retries on 429 / 5xx / connection errors with back-off, a
per-request timeout, a client-side rate limit, a JSONL response cache and a JSONL usage/cost log —
is the LLM teacher's client (:class:`m1.engines.endpoint.ChatClient`), configured by the same
:class:`LLMTeacherConfig` under ``tools.vlm_api``. It offers the methods of the local back-end
(:class:`VLMBackend`), so the tools use either unchanged.

Confidence: a chat reply carries no probabilities through this transport, so a multiple-choice
answer that parses as one of the letters gets :data:`REPLY_CONF` (a fixed, documented prior,
lower than the template handlers' 0.85-0.9), one that does not parse gets 0, and ``choice_probs``
is 1/0 from the yes/no reply. Not here: streaming, tool calls, audio parts.
"""

from __future__ import annotations

import base64
import math
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from m1.checkpoint import load_tokenizer, save_agent, train_tokenizer
from m1.config.sft import LLMTeacherConfig
from m1.config.tools import ToolsConfig
from m1.engines.endpoint import ChatClient, EndpointError

IM_START, IM_END = "<|im_start|>", "<|im_end|>"
SYSTEM = "You are a helpful assistant."
CAPTION_PROMPT = "Describe this frame in one short sentence."
LETTERS = "ABCDEFGHIJ"
CAPTION_BATCH = 8  # images per generate() call: bounds activation memory on long frame lists


class VLMError(ValueError):
    """The VLM back-end cannot run: bad checkpoint directory, device, or input images."""


def _check_images(images: Sequence[np.ndarray], what: str = "images") -> list[np.ndarray]:
    if isinstance(images, np.ndarray) or not isinstance(images, Sequence):
        raise VLMError(f"{what} must be a list of HxWx3 uint8 arrays, got {type(images).__name__}")
    if not images:
        raise VLMError(f"{what} is empty: give at least one frame")
    for i, im in enumerate(images):
        if not isinstance(im, np.ndarray) or im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
            desc = f"{im.dtype} {im.shape}" if isinstance(im, np.ndarray) else type(im).__name__
            raise VLMError(f"{what}[{i}] must be an HxWx3 uint8 RGB array, got {desc}")
    return list(images)


class VLMBackend:
    """A Qwen2-VL-family checkpoint answering about RGB frames; see the module docstring."""

    def __init__(self, path: str | Path, device: str = "cpu", max_new_tokens: int = 48):
        import torch  # noqa: PLC0415
        from transformers import AutoModelForImageTextToText  # noqa: PLC0415
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (  # noqa: PLC0415
            Qwen2VLImageProcessorPil,
        )

        path = Path(path)
        if not str(path) or not path.is_dir():
            raise VLMError(f"tools.vlm_model={str(path)!r} is not a directory (a local HF VLM checkpoint)")
        for f in ("config.json", "tokenizer.json", "preprocessor_config.json"):
            if not (path / f).is_file():
                raise VLMError(f"tools.vlm_model={str(path)!r} has no {f}; it is not a HF VLM checkpoint")
        try:
            self.device = torch.device(device)
        except RuntimeError as e:
            raise VLMError(f"tools.vlm_device={device!r} is not a torch device: {e}") from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise VLMError(f"tools.vlm_device={device!r} but CUDA is not available on this machine")
        self.max_new_tokens = max_new_tokens
        # bf16 halves memory on GPU; CPU bf16 matmuls are slow and inexact, so stay in fp32 there.
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        try:
            model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=dtype)
        except (ValueError, OSError, KeyError) as e:
            raise VLMError(f"cannot load a VLM from {str(path)!r}: {type(e).__name__}: {e}") from None
        cfg = model.config
        for attr in ("image_token_id", "vision_start_token_id", "vision_end_token_id"):
            if getattr(cfg, attr, None) is None:
                raise VLMError(f"{str(path)!r} ({cfg.model_type}) has no {attr}: not a Qwen2-VL-style model")
        self.model = model.to(self.device).eval()
        self.tokenizer = load_tokenizer(path)
        self.tokenizer.padding_side = "left"  # generation continues every row from its last real token
        self.image_processor = Qwen2VLImageProcessorPil.from_pretrained(str(path))
        tok = self.tokenizer
        self.image_pad = tok.convert_ids_to_tokens(cfg.image_token_id)
        self.vision_start = tok.convert_ids_to_tokens(cfg.vision_start_token_id)
        self.vision_end = tok.convert_ids_to_tokens(cfg.vision_end_token_id)
        for t in (IM_START, IM_END):
            if tok.convert_tokens_to_ids(t) in (None, tok.unk_token_id):
                raise VLMError(f"tokenizer of {str(path)!r} lacks the chat token {t}")
        self.eos_ids = {tok.convert_tokens_to_ids(IM_END), tok.eos_token_id} - {None}
        self.path = str(path)
        self._lock = threading.Lock()  # one generate at a time: tool threads share one model

    # ------------------------------------------------------------------ inputs
    def _prompt(self, n_image_tokens: Sequence[int], text: str) -> str:
        vision = "".join(f"{self.vision_start}{self.image_pad * n}{self.vision_end}" for n in n_image_tokens)
        return f"{IM_START}system\n{SYSTEM}{IM_END}\n{IM_START}user\n{vision}{text}{IM_END}\n{IM_START}assistant\n"

    def _inputs(self, groups: Sequence[Sequence[np.ndarray]], texts: Sequence[str]) -> dict[str, Any]:
        """Model inputs for a batch of prompts; prompt ``i`` shows the images of ``groups[i]``."""
        flat = [im for g in groups for im in g]
        px = self.image_processor(images=flat, return_tensors="pt")
        merge = self.image_processor.merge_size**2
        counts = [int(g.prod()) // merge for g in px["image_grid_thw"]]
        prompts, k = [], 0
        for g, text in zip(groups, texts, strict=True):
            prompts.append(self._prompt(counts[k : k + len(g)], text))
            k += len(g)
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        out = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
        out["pixel_values"] = px["pixel_values"].to(self.model.dtype)
        out["image_grid_thw"] = px["image_grid_thw"]
        return {k: v.to(self.device) for k, v in out.items()}

    def _generate(self, groups: Sequence[Sequence[np.ndarray]], texts: Sequence[str]) -> list[tuple[str, float]]:
        import torch  # noqa: PLC0415

        inputs = self._inputs(groups, texts)
        n_in = inputs["input_ids"].shape[1]
        with self._lock, torch.no_grad():
            out = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=sorted(self.eos_ids),
            )
        new = out.sequences[:, n_in:]
        # Raw logits, not processed scores: a checkpoint's repetition penalty must not move the confidence.
        logp = torch.stack(out.logits, dim=1).float().log_softmax(-1)  # [B, T, V]
        res = []
        for b in range(new.shape[0]):
            ids = new[b].tolist()
            n = next((i + 1 for i, t in enumerate(ids) if t in self.eos_ids), len(ids))
            lp = [logp[b, i, ids[i]].item() for i in range(min(n, logp.shape[1]))]
            text = self.tokenizer.decode(ids[:n], skip_special_tokens=True).strip()
            res.append((text, math.exp(sum(lp) / len(lp)) if lp else 0.0))
        return res

    def _choice_ids(self, choices: Sequence[str]) -> list[int]:
        ids = []
        for c in choices:
            enc = self.tokenizer(c, add_special_tokens=False)["input_ids"]
            if not enc:
                raise VLMError(f"choice {c!r} encodes to no token")
            ids.append(enc[0])
        if len(set(ids)) != len(ids):
            raise VLMError(f"choices {list(choices)} do not start with distinct tokens; cannot score them")
        return ids

    def _next_token_probs(self, groups: Sequence[Sequence[np.ndarray]], texts: Sequence[str], ids: list[int]):
        import torch  # noqa: PLC0415

        inputs = self._inputs(groups, texts)
        with self._lock, torch.no_grad():
            logits = self.model(**inputs).logits[:, -1, :].float()  # left padding: last column is real
        return logits[:, ids].softmax(-1).cpu()  # [B, len(ids)], renormalised over the choices

    # ------------------------------------------------------------------ public
    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        """One short description per RGB frame (same order), generated in batches."""
        images = _check_images(images)
        out: list[str] = []
        for i in range(0, len(images), CAPTION_BATCH):
            chunk = images[i : i + CAPTION_BATCH]
            out.extend(t for t, _ in self._generate([[im] for im in chunk], [CAPTION_PROMPT] * len(chunk)))
        return out

    def answer(self, images: Sequence[np.ndarray], question: str, options: Sequence[str] = ()) -> tuple[str, float]:
        """Answer ``question`` about ``images`` (one prompt showing them all).

        With ``options``: ``(letter, p)`` where ``p`` is the letter's next-token probability
        renormalised over the option letters. Without: ``(text, geometric-mean token probability)``.
        """
        images = _check_images(images)
        if not question.strip():
            raise VLMError("question is empty")
        if len(options) > len(LETTERS):
            raise VLMError(f"{len(options)} options; at most {len(LETTERS)} are supported")
        if not options:
            return self._generate([images], [question.strip()])[0]
        letters = LETTERS[: len(options)]
        lines = "\n".join(f"{a}. {o}" for a, o in zip(letters, options, strict=True))
        text = f"{question.strip()}\n{lines}\nAnswer with the option's letter from the given choices directly."
        probs = self._next_token_probs([images], [text], self._choice_ids(letters))[0]
        best = int(probs.argmax())
        return letters[best], float(probs[best])

    def choice_probs(
        self, images: Sequence[np.ndarray], question: str, choices: Sequence[str] = ("yes", "no")
    ) -> list[list[float]]:
        """Per image (each in its own prompt, batched), the probabilities of ``choices`` as the next token."""
        images = _check_images(images)
        ids = self._choice_ids(choices)
        text = f"{question.strip()}\nAnswer {' or '.join(choices)}."
        out: list[list[float]] = []
        for i in range(0, len(images), CAPTION_BATCH):
            chunk = images[i : i + CAPTION_BATCH]
            out.extend(self._next_token_probs([[im] for im in chunk], [text] * len(chunk), ids).tolist())
        return out


# ---------------------------------------------------------------------- over an endpoint
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
        self.cfg = cfg
        self.transport = ChatClient(cfg, client)

    @property
    def usage(self) -> dict:
        return self.transport.usage

    def _ask(self, parts: list[dict], text: str) -> str:
        try:
            return self.transport.chat([{"role": "user", "content": [*parts, {"type": "text", "text": text}]}])
        except EndpointError as e:
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


# ---------------------------------------------------------------------- one model per process
_BACKENDS: dict[tuple[str, str, int], VLMBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def get_backend(cfg: ToolsConfig) -> VLMBackend:
    """The process-wide :class:`VLMBackend` for ``cfg`` (loaded once per model, device, budget)."""
    if cfg.backend != "vlm":
        raise VLMError(f"tools.backend={cfg.backend!r}; the VLM back-end needs tools.backend='vlm'")
    if cfg.vlm_api is not None:
        api_key = ("api", cfg.vlm_api.model_dump_json(), 0)
        with _BACKENDS_LOCK:
            if api_key not in _BACKENDS:
                _BACKENDS[api_key] = OpenAIVLM(cfg.vlm_api)  # type: ignore[assignment]
            return _BACKENDS[api_key]
    if not cfg.vlm_model:
        raise VLMError("tools.backend='vlm' needs tools.vlm_model=<local HF VLM checkpoint directory> "
                       "or tools.vlm_api.base_url=<OpenAI-compatible endpoint>")
    key = (str(Path(cfg.vlm_model).resolve()), cfg.vlm_device, cfg.vlm_max_new_tokens)
    with _BACKENDS_LOCK:
        if key not in _BACKENDS:
            _BACKENDS[key] = VLMBackend(cfg.vlm_model, cfg.vlm_device, cfg.vlm_max_new_tokens)
        return _BACKENDS[key]


# ---------------------------------------------------------------------- tiny model for tests
_TINY_CORPUS = [
    "a red circle moves left across the frame",
    "a blue square stands still near the top",
    "a green triangle enters from the right",
    "the caption RAVEN is shown at the bottom",
    "how many objects appear in the video",
    "what is the person doing in this frame",
    "Answer with the option's letter from the given choices directly.",
    "Describe this frame in one short sentence.",
    "You are a helpful assistant. yes no A B C D E",
]


def build_tiny_vlm(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a randomly initialised tiny Qwen2.5-VL checkpoint (model, tokenizer, image processor).

    Sizes: vision depth 2 / hidden 32, text 2 layers / hidden 64, a ~300-token byte-level BPE
    with the Qwen-VL special tokens; images are resized to at most 16 merged patches (112×112
    pixels) so a CPU test runs in well under a second. Random weights: output text is noise.
    """
    import torch  # noqa: PLC0415
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration  # noqa: PLC0415
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (  # noqa: PLC0415
        Qwen2VLImageProcessorPil,
    )

    out = Path(out_dir)
    tok = train_tokenizer(_TINY_CORPUS * 4, vocab_size=320)
    special = [IM_START, IM_END, "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    tok.add_special_tokens({"additional_special_tokens": special})
    ids = dict(zip(special, tok.convert_tokens_to_ids(special), strict=True))
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tok),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            # mrope splits head_dim/2 = 8 rotary pairs over (time, height, width).
            rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
            bos_token_id=tok.eos_token_id,
            eos_token_id=ids[IM_END],
            pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            fullatt_block_indexes=[1],
            window_size=56,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2_5_VLForConditionalGeneration(config).float().eval()
    save_agent(model, tok, out)
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    image_processor.save_pretrained(str(out))
    return out
