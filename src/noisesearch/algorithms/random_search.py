"""Random search (best-of-N) over whole trajectories.

Ma et al. 2025, "Inference-Time Scaling for Diffusion Models beyond Scaling Denoising
Steps", Sec. 3.2 "Random Search": draw N initial noises, run the sampler from each, keep
the sample the verifier scores highest. On a stochastic sampler each candidate also draws
its own per-step noises, so the search is over whole trajectories (Ramesh & Mardani 2025
call this best-of-N). All problems move in lockstep: rows are candidate-major, so every
condition has spent the same NFEs at the end of each chunk. With adaptive compute
(``stop_at``, ``patience``, ``allocate``: ``allocation.py``) the search goes in rounds of one
candidate per condition, and a condition's candidates continue its own numbering: a
condition that gets more candidates draws exactly the noises best-of-N would have drawn.
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
    rounds = True
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

    def round_nfe(self, process):
        return self.search_process(process).generation_nfe

    def search(self, ctx: SearchContext, plan: Plan) -> None:
        cost = ctx.process.generation_nfe
        drawn = [0] * ctx.n_problems  # candidates each condition has had
        # one round of all N candidates; with adaptive compute, rounds of one candidate each
        while counts := ctx.affordable(cost, limit=1 if self.adapts_compute else None):
            trajectories = [(p, drawn[p] + j) for j in range(max(counts.values()))  # candidate-major rows
                            for p, units in counts.items() if j < units]
            for part in chunks(len(trajectories), self.max_batch):
                rows = trajectories[part]
                problems = torch.tensor([p for p, _ in rows])
                noises, keys = ctx.noise.trajectories([(p, (c,)) for p, c in rows])
                images, scores = ctx.generate(noises, problems)
                ctx.offer(problems, scores, images, noises,
                          [{"candidate": c, "keys": k} for (_, c), k in zip(rows, keys, strict=True)])
            for p, units in counts.items():
                drawn[p] += units
