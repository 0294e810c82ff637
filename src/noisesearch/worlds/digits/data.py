"""scikit-learn's bundled 8x8 handwritten digits, upsampled to 16x16 (offline, no download)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IMAGE_SIZE = 16
NUM_CLASSES = 10
SPLITS = ("all", "verifier", "judge")


def load_digits_16(split: str = "all") -> tuple[torch.Tensor, torch.Tensor]:
    """Images in [0, 1] of shape (N, 1, 16, 16) and integer labels (N,).

    ``verifier`` and ``judge`` are disjoint halves (even and odd indices of the data set),
    used to train the search verifier and the held-out judge on different data.
    """
    from sklearn.datasets import load_digits

    if split not in SPLITS:
        raise ValueError(f"unknown digits split {split!r}; valid: {', '.join(SPLITS)}")
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(data.target, dtype=torch.long)
    images = F.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    images = images.clamp(0.0, 1.0)
    if split == "verifier":
        images, labels = images[0::2], labels[0::2]
    elif split == "judge":
        images, labels = images[1::2], labels[1::2]
    return images, labels
