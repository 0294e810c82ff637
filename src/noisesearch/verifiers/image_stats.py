"""Verifiers computed from the pixels alone: brightness and JPEG compressibility."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from .base import Verifier


def to_pil(image: torch.Tensor) -> Image.Image:
    """A (C, H, W) tensor in [0, 1] as an 8-bit PIL image."""
    array = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    array = np.transpose(array, (1, 2, 0))
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


class Brightness(Verifier):
    """Mean pixel value in [0, 1]."""

    name = "brightness"
    differentiable = True
    scale = "mean pixel value, 0 to 1 (of a raw sample: its mean coordinate)"

    def _score(self, images, conditions):
        return images.flatten(1).mean(1)


class Compressibility(Verifier):
    """Negative JPEG size in kB at the given quality (Ramesh & Mardani 2025; DDPO's reward)."""

    name = "compressibility"

    def __init__(self, quality: int = 95) -> None:
        self.quality = quality
        self.scale = f"negative JPEG size in kB at quality {quality}, <= 0"

    def _score(self, images, conditions):
        sizes = []
        for image in images:
            buffer = io.BytesIO()
            to_pil(image).save(buffer, format="JPEG", quality=self.quality)
            sizes.append(-buffer.tell() / 1000.0)
        return torch.tensor(sizes)
