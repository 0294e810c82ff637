"""The Frechet distance between two sets of features (Heusel et al. 2017, the FID formula):
FD = ||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_b^1/2 C_a C_b^1/2)^1/2) between their Gaussian fits.
A set judge measures fidelity and diversity with it: a set that collapses onto a few
prototypes has a small covariance and a larger distance to real data."""

from __future__ import annotations

import torch


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussian fits of feature sets ``a`` (N, d) and ``b`` (M, d)."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    values, vectors = torch.linalg.eigh(cov_b)
    root_b = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = torch.linalg.eigvalsh(root_b @ cov_a @ root_b).clamp(min=0).sqrt().sum()
    return float(((mu_a - mu_b) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * middle)
