"""Image–text similarity with a local CLIP or SigLIP checkpoint (``tools.clip_model``).

When ``tools.clip_model`` names a checkpoint directory (``config.json`` with ``model_type`` ``clip``
or ``siglip``, the weights, a tokenizer and ``preprocessor_config.json``), ``video_retrieval`` and
``image_retrieval`` score every candidate frame by the cosine similarity of its image embedding
with the query's text embedding, and combine that with the MiniLM score of the providers' notes
(:func:`combine`). The model is loaded once per process per directory (like the VLM back-end);
frame embeddings are computed once per frame per :class:`~m1.tools.context.VideoStore`, batched.
Images go through the PIL image processors (no torchvision needed). No checkpoint ships with the
project; :func:`build_tiny_clip` writes a randomly initialised one for tests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

KEY = "tools.clip_model"
BATCH = 16
_KINDS = ("clip", "siglip")


class ClipError(ValueError):
    """``tools.clip_model`` cannot be used: missing directory, not a CLIP/SigLIP checkpoint, bad input."""


class ClipModel:
    """A CLIP/SigLIP checkpoint on the CPU: unit-norm text and image embeddings."""

    def __init__(self, path: str | Path):
        import torch  # noqa: PLC0415
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415

        p = Path(path)
        if not p.is_dir():
            raise ClipError(f"{KEY}={str(path)!r} is not a directory")
        try:
            kind = json.loads((p / "config.json").read_text())["model_type"]
        except (OSError, ValueError, KeyError) as e:
            raise ClipError(f"{KEY}={str(path)!r} has no readable config.json with a model_type: {e}") from e
        if kind not in _KINDS:
            raise ClipError(f"{KEY}={str(path)!r} is a {kind!r} checkpoint, not one of {', '.join(_KINDS)}")
        if kind == "clip":
            from transformers import CLIPImageProcessorPil as Proc  # noqa: PLC0415
        else:
            from transformers import SiglipImageProcessorPil as Proc  # noqa: PLC0415
        try:
            self.model = AutoModel.from_pretrained(str(p)).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(str(p))
            self.processor = Proc.from_pretrained(str(p))
        except (OSError, ValueError) as e:
            raise ClipError(f"{KEY}={str(path)!r} could not be loaded as a {kind} checkpoint: {e}") from e
        self.kind = kind
        self.path = str(p)
        self._torch = torch
        # SigLIP pools the last position and was trained on max-length padding; CLIP pools the EOS token.
        self._max_len = int(self.model.config.text_config.max_position_embeddings)
        self._lock = threading.Lock()

    @staticmethod
    def _features(out):  # noqa: ANN001, ANN205 - tensor, or a ModelOutput in transformers 5
        return getattr(out, "pooler_output", out)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), d) float32, unit-norm rows."""
        if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
            raise ClipError("embed_text needs a non-empty list of strings")
        torch = self._torch
        pad = "max_length" if self.kind == "siglip" else True
        with self._lock, torch.inference_mode():
            batch = self.tokenizer(
                list(texts), padding=pad, truncation=True, max_length=self._max_len, return_tensors="pt"
            )
            batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            if self.kind == "siglip":
                batch.pop("attention_mask", None)  # SigLIP is trained without one
            vec = self._features(self.model.get_text_features(**batch))
            vec = torch.nn.functional.normalize(vec.float(), dim=-1)
        return vec.numpy().astype(np.float32)

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(len(images), d) float32 unit-norm rows for HxWx3 uint8 RGB arrays, in batches of ``BATCH``."""
        if isinstance(images, np.ndarray) or not images:
            raise ClipError("embed_images needs a non-empty list of HxWx3 uint8 arrays")
        for i, im in enumerate(images):
            if not isinstance(im, np.ndarray) or im.ndim != 3 or im.shape[2] != 3 or im.dtype != np.uint8:
                raise ClipError(f"images[{i}] must be an HxWx3 uint8 RGB array")
        torch = self._torch
        out = []
        with self._lock, torch.inference_mode():
            for s in range(0, len(images), BATCH):
                px = self.processor(images=list(images[s : s + BATCH]), return_tensors="pt")["pixel_values"]
                vec = self._features(self.model.get_image_features(pixel_values=px))
                out.append(torch.nn.functional.normalize(vec.float(), dim=-1))
        return torch.cat(out).numpy().astype(np.float32)


_MODELS: dict[str, ClipModel] = {}
_MODELS_LOCK = threading.Lock()


def get_model(path: str) -> ClipModel:
    """The process-wide :class:`ClipModel` of ``path`` (loaded on first use; raises :class:`ClipError`)."""
    key = str(Path(path).resolve())
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = ClipModel(path)
        return _MODELS[key]


def _znorm(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-8 else np.zeros_like(x)


def combine(text: np.ndarray, image: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * z(text) + weight * z(image)``: each score list z-scored over the candidates
    (so MiniLM cosines and CLIP cosines, on different scales, count by how they stand out; a list
    with no spread contributes 0). Only the order and gaps of the result mean anything."""
    text, image = np.asarray(text, np.float64), np.asarray(image, np.float64)
    return (1.0 - weight) * _znorm(text) + weight * _znorm(image)


_TINY_CORPUS = [
    "a red square moves left", "a blue circle stops near the top", "two people walk in a street",
    "a dog runs on grass", "text on a sign", "a car drives past a building", "the sky is blue",
    "someone speaks about the weather", "a green triangle appears", "frames of a video",
]  # fmt: skip


def build_tiny_clip(out_dir: str | Path, kind: str = "clip", seed: int = 0) -> Path:
    """Write a randomly initialised tiny CLIP (or SigLIP with ``kind='siglip'``) checkpoint: model,
    a ~300-token byte-level BPE (EOS appended to every text) and a hand-written PIL image processor
    config (32×32 input, patch 8). Random weights: the similarities are noise, the plumbing is real."""
    import torch  # noqa: PLC0415
    from tokenizers import processors  # noqa: PLC0415

    from m1.checkpoint import train_tokenizer  # noqa: PLC0415

    if kind not in _KINDS:
        raise ClipError(f"kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    out = Path(out_dir)
    tok = train_tokenizer(_TINY_CORPUS * 4, vocab_size=300)
    eos = tok.eos_token
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", special_tokens=[(eos, tok.eos_token_id)]
    )
    text = dict(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=32, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )  # fmt: skip
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
    )
    torch.manual_seed(seed)
    if kind == "clip":
        from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel  # noqa: PLC0415

        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
        proc = CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True,
            image_mean=[0.481, 0.458, 0.408], image_std=[0.269, 0.261, 0.276],
        )  # fmt: skip
    else:
        from transformers import SiglipConfig, SiglipImageProcessorPil, SiglipModel  # noqa: PLC0415

        text["projection_size"] = 32
        model = SiglipModel(SiglipConfig(text_config=text, vision_config=vision))
        proc = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    model.save_pretrained(out)
    tok.model_max_length = 32
    tok.save_pretrained(out)
    proc.save_pretrained(out)
    return out
