"""The ledger: every denoiser and verifier call is charged, per problem, as it happens.

Costs are in NFEs: one denoiser evaluation of one sample (a guided step costs 2; a
backward pass through a step costs twice its forward pass). Wall time of each timed block
is split among the rows it computed, so per-problem times add up to the time spent.
Reported figures are these counts, never a formula.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm


class Ledger:
    """Per-problem counters of NFEs, verifier calls and wall time, with an optional progress bar."""

    def __init__(self, n_problems: int, budget: int | None = None, progress: bool = False,
                 planned: int | None = None, description: str = "search") -> None:
        """``planned``: the NFEs per problem the algorithm means to spend (the bar's total)."""
        self.n_problems = n_problems
        self.budget = budget
        self.nfe = torch.zeros(n_problems, dtype=torch.long)
        self.verifier_calls = torch.zeros(n_problems, dtype=torch.long)
        self.wall_s = torch.zeros(n_problems, dtype=torch.float64)
        per_problem = planned if planned is not None else budget
        total = per_problem * n_problems if per_problem is not None else None
        self._bar = tqdm(total=total, desc=description, unit="nfe", disable=not progress,
                         dynamic_ncols=True)

    def charge_denoiser(self, problems: torch.Tensor, nfe_per_row: int) -> None:
        """Charge ``nfe_per_row`` NFEs to the problem of every row (``problems[b]``)."""
        self.nfe.index_add_(0, problems, torch.full_like(problems, nfe_per_row))
        self._bar.update(nfe_per_row * len(problems))

    def plan_more(self, nfe: int) -> None:
        """Add ``nfe`` (over all problems) to the progress bar's total."""
        if self._bar.total is not None:
            self._bar.total += nfe
            self._bar.refresh()

    def charge_verifier(self, problems: torch.Tensor) -> None:
        """Charge one verifier call to the problem of every scored row."""
        self.verifier_calls.index_add_(0, problems, torch.ones_like(problems))

    @contextmanager
    def timed(self, problems: torch.Tensor) -> Iterator[None]:
        """Charge the block's wall time to the rows' problems, split evenly per row."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            share = torch.full((len(problems),), elapsed / max(1, len(problems)), dtype=torch.float64)
            self.wall_s.index_add_(0, problems, share)

    def remaining(self) -> torch.Tensor:
        """NFEs left per problem (a large number when there is no budget)."""
        if self.budget is None:
            return torch.full((self.n_problems,), torch.iinfo(torch.long).max, dtype=torch.long)
        return self.budget - self.nfe

    def close(self) -> None:
        self._bar.close()

    def totals(self) -> dict[str, float]:
        return {
            "nfe": int(self.nfe.sum()),
            "verifier_calls": int(self.verifier_calls.sum()),
            "wall_s": float(self.wall_s.sum()),
        }
