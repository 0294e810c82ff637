"""What noise-trajectory searches share: scoring a step's noise by the clean prediction it leads to.

Ramesh & Mardani 2025, Sec. 4: a candidate noise z for step i is scored by
r(x0_hat(x_{i+1}(z))), the verifier on the model's clean prediction at the state the step
leads to. The model is called once per state: x_{i+1}(z) = update(x_i, x0_hat(x_i),
eps(x_i), z) needs no call, and the prediction at x_{i+1} that scores the candidate is
the one the next step uses, so a searched step costs one NFE per candidate (18 steps x
20 iterations x 4 candidates = 1440 NFEs in the paper's ImageNet-64 table). Deviation: a
step that injects no noise (DDIM's last, which lands on x0_hat) is taken without search,
as there is nothing to choose; on 18 DDIM steps eps-greedy therefore spends 1361 NFEs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..errors import InputError
from ..ledger import Ledger
from ..noise import keyed_normal
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier
from .base import Algorithm
from .keeper import BestKeeper
from .result import ProblemResult, SearchResult
from .trajectory import cat_pairs, decode_and_score


@dataclass
class Lookahead:
    """A process, a verifier and a ledger, with the calls every trajectory search makes."""

    process: DenoisingProcess
    verifier: Verifier
    cond: torch.Tensor  # one row per problem
    conditions: list
    ledger: Ledger
    max_batch: int

    def predict(self, x: torch.Tensor, i: int, problems: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps) at state ``i`` for rows of ``problems``; charged unless ``i`` is the clean end."""
        def predict(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with self.ledger.timed(rows), torch.no_grad():
                x0, eps = self.process.predict(x[part], i, self.cond[rows])
            if i < self.process.steps:
                self.ledger.charge_denoiser(rows, self.process.nfe_per_step)
            return x0, eps

        return cat_pairs(self.ledger.map_chunks(predict, len(x), self.max_batch))

    def score(self, x0: torch.Tensor, problems: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, verifier scores) of clean predictions or samples ``x0``."""
        return decode_and_score(self.process, self.verifier, x0, self.conditions, problems, self.ledger,
                                self.max_batch)

    def try_noises(self, x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, i: int, z: torch.Tensor,
                   problems: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Step rows from state ``i`` with candidate noises ``z``; (x_{i+1}, x0_hat, eps, score)."""
        x_next = self.process.update(x, i, x0, eps, z)
        x0_next, eps_next = self.predict(x_next, i + 1, problems)
        _, scores = self.score(x0_next, problems)
        return x_next, x0_next, eps_next, scores


@dataclass
class StepwiseSearch(Algorithm):
    """Base of the noise-trajectory searches: a stochastic sampler, a budget-free step loop."""

    def needs_budget(self) -> bool:
        return False

    def check(self, process, budget, verifier=None):
        if not process.stochastic:
            raise InputError(f"{self.name} searches the noise injected at every step, and the "
                             f"{getattr(process, 'sampler', 'chosen')} sampler injects none; "
                             "valid: --sampler sde")
        planned = self.planned_nfe(process)
        if budget is not None and planned > budget:
            raise InputError(f"{self.name} with these options spends {planned} NFEs per condition, more "
                             f"than the budget of {budget}; valid: a budget >= {planned} or smaller options")

    def planned_nfe(self, process: DenoisingProcess) -> int:
        """NFEs per condition that the options imply."""
        raise NotImplementedError

    scaled: ClassVar[tuple[str, int]] = ("n", 1)  # the option that sizes the search, and its least value

    def at_budget(self, process: DenoisingProcess, budget: int) -> StepwiseSearch:
        """A copy with the ``scaled`` option at the largest value whose planned NFEs fit ``budget``."""
        option, value = self.scaled
        sized = dataclasses.replace(self, **{option: value})
        if sized.planned_nfe(process) > budget:
            raise InputError(f"{self.name} spends {sized.planned_nfe(process)} NFEs per condition at "
                             f"{option}={value}, more than the budget of {budget}; "
                             f"valid: a budget >= {sized.planned_nfe(process)}")
        while True:
            bigger = dataclasses.replace(sized, **{option: getattr(sized, option) + 1})
            if bigger.planned_nfe(process) > budget:
                return sized
            sized = bigger

    def run(self, process: DenoisingProcess, verifier: Verifier, conditions: Sequence[Any],
            budget: int | None = None, seed: int = 0, problem_ids: Sequence[int] | None = None,
            progress: bool = False) -> SearchResult:
        self.check(process, budget)
        conditions = [process.parse_condition(c) for c in conditions]
        ids = list(problem_ids) if problem_ids is not None else list(range(len(conditions)))
        ledger = Ledger(len(conditions), budget, progress, planned=self.planned_nfe(process),
                        description=self.name)
        look = Lookahead(process, verifier, process.encode(conditions), conditions, ledger, self.max_batch)
        try:
            x, x_T, steps, problems, extra = self.trajectories(look, seed, ids)
            return self.finish(look, x, x_T, steps, problems, seed, ids, extra)
        finally:
            ledger.close()

    def trajectories(self, look: Lookahead, seed: int,
                     ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """The search itself: the finished clean states, their x_T and committed step noises,
        each row's problem, and per-problem extras (e.g. smc's particles)."""
        raise NotImplementedError

    @staticmethod
    def initial(look: Lookahead, seed: int, ids: list[int], per_problem: int) -> tuple[torch.Tensor, ...]:
        """x_T of ``per_problem`` trajectories per problem (problem-major rows; random search's
        candidates 0..n-1) and their predictions: (x_T, x0_hat, eps, problems)."""
        process = look.process
        problems = torch.arange(len(ids)).repeat_interleave(per_problem)
        x = process.prior([(seed, ids[p], "x_T", j) for p in range(len(ids)) for j in range(per_problem)])
        x0, eps = look.predict(x, 0, problems)
        return x, x0, eps, problems

    def finish(self, look: Lookahead, x: torch.Tensor, x_T: torch.Tensor, steps: torch.Tensor,
               problems: torch.Tensor, seed: int, ids: list[int], extra: dict) -> SearchResult:
        """Score the finished trajectories (clean states ``x``) and assemble the result."""
        keeper = BestKeeper(len(look.conditions), self.top_k)
        images, scores = look.score(x, problems)
        for p, row in keeper.offer(problems, scores, images, look.ledger.nfe).items():
            noises = {"x_T": x_T[row:row + 1].clone(), "steps": steps[row:row + 1].clone()}
            keeper.attach(p, {"noises": noises, "recipe": {"row": row - int((problems < p).sum())}})
        ledger = look.ledger
        results = []
        for p, condition in enumerate(look.conditions):
            best = keeper.winner(p, condition)
            results.append(ProblemResult(
                condition=condition, problem=ids[p], best_score=keeper.best_score[p],
                best_image=best["image"], noises=best["noises"], recipe={"seed": seed, **best["recipe"]},
                history=keeper.history[p], top=[(s, img) for s, _, img in keeper.top[p]],
                nfe=int(ledger.nfe[p]), verifier_calls=int(ledger.verifier_calls[p]),
                wall_s=float(ledger.wall_s[p]), failed=int(ledger.failed[p]),
                extra={k: v[p] for k, v in extra.items()},
            ))
        return SearchResult(results, self.name, self.options(), ledger.totals())


def keyed_rows(process: DenoisingProcess, keys: list[tuple]) -> torch.Tensor:
    """One standard normal noise of the process's step-noise shape per key."""
    return keyed_normal(keys, process.noise_shape, process.device, process.dtype)


def best_per_problem(scores: torch.Tensor, n_problems: int, per_problem: int, keep: int = 1) -> torch.Tensor:
    """Row indices of the ``keep`` best of each problem's ``per_problem`` consecutive rows (ties: first)."""
    grouped = scores.reshape(n_problems, per_problem)
    order = torch.sort(-grouped, dim=1, stable=True).indices[:, :keep]
    return (order + torch.arange(n_problems)[:, None] * per_problem).flatten()
