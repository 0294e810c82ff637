"""Fidelity and diversity of a set of samples: the Frechet distance to held-out real digits.

FD = ||mu_g - mu_r||^2 + Tr(C_g + C_r - 2 (C_r^1/2 C_g C_r^1/2)^1/2) (Heusel et al. 2017, the
FID formula) between Gaussian fits of the judge CNN's 128-d penultimate features of the
generated set and of the real digits the judge was not trained on (the ``verifier`` half).
A search that finds the right class but collapses onto a few prototypes has a small
covariance and a larger distance, so it shows here even when accuracy is perfect.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..digits_data import load_digits_16
from ..digits_nets import load_net


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussian fits of feature sets ``a`` (N, d) and ``b`` (M, d)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_b)
    root_b = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = torch.linalg.eigvalsh(root_b @ cov_a @ root_b).clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * middle)


class SetJudge:
    """A judge of a whole set of samples: ``evaluate_set(images, conditions) -> {metric: float}``."""

    name: str = "set-judge"

    def evaluate_set(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        raise NotImplementedError


class DigitsFrechet(SetJudge):
    """Frechet distance in the digits judge's feature space to the real digits it never saw."""

    name = "digits-fd"

    def __init__(self, micro_batch: int = 64) -> None:
        net = load_net("digits_judge")
        self.micro_batch = micro_batch
        self.features = torch.nn.Sequential(net.features, *list(net.head)[:4]).eval()  # up to the 128-d ReLU
        real, _ = load_digits_16("verifier")
        self.real = self.embed(real)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return fixed_shape_map(lambda x: self.features(x - 0.5), images.float().cpu(), size=self.micro_batch)

    def evaluate_set(self, images, conditions):
        if len(images) < 2:
            return {"fd": float("nan")}
        return {"fd": frechet_distance(self.embed(images), self.real)}
