"""Random search (best-of-N) over whole trajectories.

Ma et al. 2025, "Inference-Time Scaling for Diffusion Models beyond Scaling Denoising
Steps", Sec. 3.2 "Random Search": draw N initial noises, run the sampler from each, keep
the sample the verifier scores highest. On a stochastic sampler each candidate also draws
its own per-step noises, so the search is over whole trajectories (Ramesh & Mardani 2025
call this best-of-N). All problems move in lockstep: rows are candidate-major, so every
condition has spent the same NFEs at the end of each chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..batching import chunks
from ..errors import InputError
from ..ledger import Ledger
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier
from .initial_noise import InitialNoiseSearch, winner_payload
from .keeper import BestKeeper
from .result import SearchResult
from .trajectory import draw_noises, evaluate, trajectory_keys


@dataclass
class RandomSearch(InitialNoiseSearch):
    """Best-of-N: N full generations per condition, the verifier's best is kept."""

    name = "random"
    summary = "best-of-N over whole trajectories (Ma et al. 2025, Random Search)"
    n: int | None = None  # candidates per condition; default: as many as the budget pays for

    def needs_budget(self) -> bool:
        return self.n is None

    def candidates(self, process: DenoisingProcess, budget: int | None) -> int:
        searched = self.search_process(process)
        budget, cost = self.search_budget(process, budget), searched.generation_nfe
        if self.n is not None and self.n < 1:
            raise InputError(f"n must be >= 1, got {self.n}")
        if budget is not None and budget < cost:
            raise InputError(f"budget {budget} NFEs is less than one generation "
                             f"({cost} NFEs = {searched.steps} steps x {searched.nfe_per_step}); "
                             f"valid: a budget >= {cost}")
        if self.n is None:
            if budget is None:
                raise InputError("random search needs a budget or n; e.g. --budget "
                                 f"{16 * cost} or --set n=16")
            return budget // cost
        if budget is not None and self.n * cost > budget:
            raise InputError(f"n={self.n} needs {self.n * cost} NFEs, more than the budget of "
                             f"{budget}; valid: n <= {budget // cost}")
        return self.n

    def check(self, process, budget, verifier=None):
        self.candidates(process, budget)

    def run(self, process: DenoisingProcess, verifier: Verifier, conditions: Sequence[Any],
            budget: int | None = None, seed: int = 0, problem_ids: Sequence[int] | None = None,
            progress: bool = False) -> SearchResult:
        conditions = [process.parse_condition(c) for c in conditions]
        n_problems, n = len(conditions), self.candidates(process, budget)
        ids = list(problem_ids) if problem_ids is not None else list(range(n_problems))
        searched = self.search_process(process)
        cond = process.encode(conditions)
        ledger = Ledger(n_problems, budget, progress, planned=n * searched.generation_nfe,
                        description=f"{self.name} N={n}")
        keeper = BestKeeper(n_problems, self.top_k)
        try:
            # candidate-major rows, handed over in groups of max_batch
            for part in chunks(n * n_problems, self.max_batch):
                rows = torch.arange(part.start, part.stop)
                problems, candidates = rows % n_problems, rows // n_problems
                keys = [trajectory_keys(searched, seed, ids[p], c)
                        for p, c in zip(problems.tolist(), candidates.tolist(), strict=True)]
                noises = draw_noises(searched, keys)
                images, scores = evaluate(searched, verifier, noises, cond, conditions, problems,
                                          ledger, self.max_batch)
                for p, row in keeper.offer(problems, scores, images, ledger.nfe).items():
                    keeper.attach(p, winner_payload(noises, row, candidate=int(candidates[row]),
                                                    keys=keys[row]))
            return self.collect(process, searched, verifier, conditions, ids, seed, keeper, ledger)
        finally:
            ledger.close()
