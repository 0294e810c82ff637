"""The ``classifier`` verifier: log p(target class | image) from any transformers image classifier.

    classifier(image, c) = log softmax(f(T(image)))[c]

the class-conditional reward (as for ImageNet with DiT in Ma et al. 2025) for any
``AutoModelForImageClassification`` checkpoint (safetensors only) with its
``AutoImageProcessor`` config; ``T`` is the processor's resize / centre-crop / normalise in
torch (``preprocess.ImageTransform``), so the score is differentiable in the image. A
condition is a class index (an int or a digit string) or a label of ``config.id2label``
(case-insensitive; a label's comma-separated synonyms, as ImageNet's "tench, Tinca tinca",
each name it when unambiguous).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from ..hf import quiet
from .base import Verifier
from .clip import LOAD_ERRORS
from .preprocess import ImageTransform


def load_classifier(checkpoint: str | Path):
    """(model, image processor) from a hub id or folder; ``InputError`` when not available offline."""
    quiet()
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    try:
        model = AutoModelForImageClassification.from_pretrained(str(checkpoint), use_safetensors=True)
        processor = AutoImageProcessor.from_pretrained(str(checkpoint))
    except LOAD_ERRORS as exc:
        raise InputError(
            f"image classifier {str(checkpoint)!r} is not available ({type(exc).__name__}); give a local "
            "folder with config.json, model.safetensors and preprocessor_config.json "
            "(e.g. `huggingface-cli download <id> --local-dir DIR` where a network is available), "
            "then use classifier:DIR"
        ) from None
    return model.eval().requires_grad_(False), processor


class ImageClassifier(Verifier):
    """The log-probability the classifier gives each image's target class."""

    name = "classifier"
    differentiable = True
    scale = "log p(target class), <= 0"

    def __init__(self, checkpoint: str | Path, micro_batch: int = 64, device: str = "cpu") -> None:
        self.checkpoint = str(checkpoint)
        self.model, processor = load_classifier(checkpoint)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.micro_batch = micro_batch
        self.transform = ImageTransform.from_processor(processor, name="classifier")
        self.labels = {int(i): str(label) for i, label in self.model.config.id2label.items()}
        self.num_classes = self.model.config.num_labels
        self.by_label: dict[str, set[int]] = {}  # full labels, then their comma-separated synonyms
        self.by_name: dict[str, set[int]] = {}
        for i, label in self.labels.items():
            self.by_label.setdefault(label.strip().lower(), set()).add(i)
            for name in label.split(","):
                if name.strip():
                    self.by_name.setdefault(name.strip().lower(), set()).add(i)

    def target(self, condition: Any) -> int:
        """The class index a condition names; ``InputError`` naming valid labels when none."""
        if isinstance(condition, torch.Tensor) and condition.numel() == 1:
            condition = condition.item()
        if isinstance(condition, numbers.Integral) and not isinstance(condition, bool):
            index = int(condition)
        elif isinstance(condition, str) and condition.strip().isdigit():
            index = int(condition.strip())
        elif isinstance(condition, str):
            key = condition.strip().lower()
            ids = self.by_label.get(key) or self.by_name.get(key, set())
            if len(ids) == 1:
                return next(iter(ids))
            if len(ids) > 1:
                raise InputError(f"classifier: {condition!r} names several classes: "
                                 f"{', '.join(f'{i} {self.labels[i]!r}' for i in sorted(ids))}; "
                                 "give the index")
            index = -1
        else:
            index = -1
        if 0 <= index < self.num_classes:
            return index
        some = ", ".join(repr(self.labels[i]) for i in sorted(self.labels)[:5])
        raise InputError(f"classifier {self.checkpoint!r} has no class {condition!r}; give an index "
                         f"0..{self.num_classes - 1} or a label, e.g. {some}")

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (B, 1 or 3, H, W) to the model's normalised input."""
        return self.transform(images)

    def log_probs(self, images: torch.Tensor) -> torch.Tensor:
        """(B, classes) log-probabilities, in fixed-shape micro-batches."""
        def forward(x):
            logits = self.model(pixel_values=self.preprocess(x).to(self.device)).logits
            return torch.log_softmax(logits.float(), dim=-1)

        return fixed_shape_map(forward, images, size=self.micro_batch)

    def score(self, images: torch.Tensor, conditions: Sequence[Any], finite: bool = True) -> torch.Tensor:
        """As ``Verifier.score``; an unknown class is an ``InputError``, raised before any work."""
        for condition in conditions:
            self.target(condition)
        return super().score(images, conditions, finite)

    def _score(self, images, conditions):
        targets = torch.tensor([self.target(c) for c in conditions], dtype=torch.long)
        return self.log_probs(images).cpu().gather(1, targets[:, None])[:, 0]
