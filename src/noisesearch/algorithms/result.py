"""What a search returns: per condition, the winner, its noises and the whole record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ProblemResult:
    """The outcome of the search for one condition."""

    condition: Any
    problem: int  # the problem's index in the run: part of every noise key
    best_score: float
    best_image: torch.Tensor  # decoded output of the winner
    noises: dict[str, torch.Tensor]  # the winner's noises: "x_T" and, on stochastic samplers, "steps"
    recipe: dict[str, Any]  # how the winner's noises were keyed
    history: list[tuple[int, float]]  # (problem's NFEs spent when scored, score) for every candidate
    top: list[tuple[float, torch.Tensor]]  # the best candidates, (score, image), best first
    nfe: int = 0
    verifier_calls: int = 0
    wall_s: float = 0.0
    failed: int = 0  # candidates lost to NaN or Inf from the model or the verifier
    judges: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. smc's final particles and their weights

    def best_so_far(self) -> list[tuple[int, float]]:
        """The anytime curve: (NFEs, best score so far) after every candidate."""
        curve, best = [], -float("inf")
        for nfe, score in self.history:
            best = max(best, score)
            if best > -float("inf"):  # nothing before the first candidate that did not fail
                curve.append((nfe, best))
        return curve


@dataclass
class SearchResult:
    """Per-condition results plus the run's ledger totals."""

    problems: list[ProblemResult]
    algorithm: str
    options: dict[str, Any]
    totals: dict[str, float]
    set_judges: dict[str, dict[str, float]] = field(default_factory=dict)  # judges of the set of winners

    def __getitem__(self, index: int) -> ProblemResult:
        return self.problems[index]

    def __len__(self) -> int:
        return len(self.problems)
