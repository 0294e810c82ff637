"""Random search (best-of-N) over whole trajectories.

Ma et al. 2025, "Inference-Time Scaling for Diffusion Models beyond Scaling Denoising
Steps", Sec. 3.2 "Random Search": draw N initial noises, run the sampler from each, keep
the sample the verifier scores highest. On a stochastic sampler each candidate also draws
its own per-step noises, so the search is over whole trajectories (Ramesh & Mardani 2025
call this best-of-N). All problems move in lockstep: rows are candidate-major, so every
condition has spent the same NFEs at the end of each chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..batching import chunks
from ..errors import InputError
from ..lazy import torch
from .base import DEFAULT_GENERATIONS, InitialNoiseSearch, Plan

if TYPE_CHECKING:
    from .context import SearchContext


@dataclass
class RandomSearch(InitialNoiseSearch):
    """Best-of-N: N full generations per condition, the verifier's best is kept."""

    name = "random"
    summary = "best-of-N over whole trajectories (Ma et al. 2025, Random Search)"
    n: int | None = None  # candidates per condition; default: as many as the budget pays for

    def plan(self, process, budget):
        if self.n is not None and self.n < 1:
            raise InputError(f"n must be >= 1, got {self.n}")
        cost = self.search_process(process).generation_nfe
        budget = self.search_budget(process, budget, cost)
        if self.n is None and budget is None:
            raise InputError(f"random search needs a budget or n; e.g. `budget={DEFAULT_GENERATIONS * cost}` "
                             f"or `n={DEFAULT_GENERATIONS}`")
        n = self.n if self.n is not None else budget // cost
        return self.within(Plan(n, n * cost), budget)

    def search(self, ctx: SearchContext, plan: Plan) -> None:
        n, n_problems = plan.size, ctx.n_problems
        for part in chunks(n * n_problems, self.max_batch):  # candidate-major rows
            rows = torch.arange(part.start, part.stop)
            problems, candidates = rows % n_problems, rows // n_problems
            trajectories = list(zip(problems.tolist(), candidates.tolist(), strict=True))
            noises, keys = ctx.noise.trajectories([(p, (c,)) for p, c in trajectories])
            images, scores = ctx.generate(noises, problems)
            ctx.offer(problems, scores, images, noises,
                      [{"candidate": c, "keys": k} for (_, c), k in zip(trajectories, keys, strict=True)])
