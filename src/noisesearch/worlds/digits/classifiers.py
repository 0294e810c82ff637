"""The two digit classifiers: the verifier's CNN and the held-out judge's CNN.

They differ in architecture (strided convolutions with global pooling, against
max-pooled convolutions with a dense head) and are trained on disjoint halves of the
digits data, so that the judge is an independent opinion of what search optimises.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import load_trained


class VerifierNet(nn.Module):
    """Strided CNN with global average pooling; trained on the ``verifier`` split."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.SiLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.SiLU(),
        )
        self.head = nn.Linear(64, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images * 2 - 1).mean(dim=(2, 3)))


class JudgeNet(nn.Module):
    """Max-pooled CNN with a dense head and dropout; trained on the ``judge`` split."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 4 * 4, 128), nn.ReLU(),
            nn.Dropout(0.3), nn.Linear(128, 10),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images - 0.5))


NETS = {"digits_verifier": VerifierNet, "digits_judge": JudgeNet}


def load_net(name: str) -> nn.Module:
    """A trained classifier from ``weights/<name>.safetensors``."""
    return load_trained(NETS[name](), name, "training/train_digits_classifiers.py")
