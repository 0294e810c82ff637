"""Gradient ascent on the initial noise (ReNO: Eyring et al. 2024, "ReNO: Enhancing One-step
Text-to-Image Models through Reward-based Noise Optimization", Eq. 4-6).

Maximise r(decode(sampler(x_T))) - reg_weight * NLL(||x_T||) over x_T by backpropagating
through a differentiable sampler (the process itself, or ``search_steps`` of it). The
regulariser keeps the noise in the Gaussian typical set: for x_T ~ N(0, I_d) the norm
r = ||x_T|| follows a chi distribution with d degrees of freedom, whose negative
log-likelihood is r^2 / 2 - (d - 1) log r + const (ReNO Eq. 5). Each iteration scores the
current noise, then takes one Adam step with the gradient of every condition's noise
clipped to norm ``grad_clip``; the last iteration only scores. The result is the best
iterate. Defaults are ReNO's (regularisation weight 0.01, gradient clipping 0.1, Adam
with eps 1e-2); ReNO's 50 iterations apply when neither budget nor iterations are given
through the API. ReNO's learning rate (5, for SGD with Nesterov momentum on latents) is
replaced by an Adam step of 0.3, the largest that kept the digits model's noise in the
typical set (norm within 2% of sqrt(d) after 8 steps). On a stochastic sampler the
per-step noises stay fixed (those of random search's first candidate) and only x_T
moves; the first iterate is that candidate. Deterministic samplers (``ode``) suit this
method: a DDPM-like sampler (eta = 1) forgets most of x_T, so its gradient is small.

Cost rule: a backward pass through a step costs 2 NFEs (the vector-Jacobian product of
the network costs about twice its forward pass), so an iteration with a gradient costs 3
generations' NFEs and the last one 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InputError
from ..ledger import Ledger
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier
from .initial_noise import InitialNoiseSearch, draw_trajectories, winner_payload
from .keeper import BestKeeper
from .result import SearchResult
from .trajectory import cat_pairs, follow_path, score, straight_path

BACKWARD_NFE = 2  # a backward pass through one step, in forward NFEs
DEFAULT_ITERATIONS = 50  # ReNO's


def chi_nll(x: torch.Tensor) -> torch.Tensor:
    """Per-row negative log-likelihood of ||x|| under the chi distribution with d = x[0].numel() dof."""
    d = x[0].numel()
    r = x.flatten(1).norm(dim=1)
    return 0.5 * r**2 - (d - 1) * r.log()


@dataclass
class NoiseGradient(InitialNoiseSearch):
    """ReNO-style gradient ascent on x_T with a chi-norm regulariser, Adam and clipping."""

    name = "noise-gradient"
    summary = "gradient ascent on the initial noise through the sampler (ReNO, Eyring et al. 2024)"
    iterations: int | None = None  # default: as many as the budget pays for
    lr: float = 0.3  # Adam step size
    reg_weight: float = 0.01  # weight of the chi-norm regulariser (ReNO)
    grad_clip: float = 0.1  # max gradient norm per condition's noise (ReNO)
    adam_eps: float = 1e-2  # Adam epsilon (ReNO)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.iterations is not None and self.iterations < 1:
            raise InputError(f"iterations must be >= 1, got {self.iterations}")
        if self.lr <= 0 or self.grad_clip <= 0 or self.reg_weight < 0:
            raise InputError("noise-gradient needs lr > 0, grad_clip > 0 and reg_weight >= 0")

    def needs_budget(self) -> bool:
        return self.iterations is None

    def differentiable(self, process: DenoisingProcess, verifier: Verifier) -> None:
        if not process.differentiable:
            raise InputError(f"noise-gradient needs a differentiable process; {process.name!r} is not")
        if not verifier.differentiable:
            from ..catalogue import VERIFIERS

            names = [n for n, e in VERIFIERS.items() if e.get("differentiable")]
            raise InputError(f"noise-gradient needs a differentiable verifier; {verifier.name!r} is not; "
                             f"valid: {', '.join(names)} or a callable marked differentiable")

    def count(self, process: DenoisingProcess, budget: int | None) -> int:
        """Iterations: given, or as many as the budget pays for (3 generations each, 1 for the last)."""
        cost = self.search_process(process).generation_nfe
        budget = self.search_budget(process, budget)
        if budget is None:
            return self.iterations if self.iterations is not None else DEFAULT_ITERATIONS
        if budget < cost:
            raise InputError(f"budget {budget} NFEs is less than one generation ({cost} NFEs); "
                             f"valid: a budget >= {cost}")
        affordable = (budget // cost + BACKWARD_NFE) // (1 + BACKWARD_NFE)
        if self.iterations is not None and self.iterations > affordable:
            raise InputError(f"iterations={self.iterations} need {(3 * self.iterations - 2) * cost} NFEs, "
                             f"more than the budget of {budget}; valid: iterations <= {affordable}")
        return self.iterations if self.iterations is not None else affordable

    def check(self, process, budget, verifier=None):
        if verifier is not None:
            self.differentiable(process, verifier)
        self.count(process, budget)

    def run(self, process: DenoisingProcess, verifier: Verifier, conditions: Sequence[Any],
            budget: int | None = None, seed: int = 0, problem_ids: Sequence[int] | None = None,
            progress: bool = False) -> SearchResult:
        self.differentiable(process, verifier)
        conditions = [process.parse_condition(c) for c in conditions]
        n_problems, iterations = len(conditions), self.count(process, budget)
        ids = list(problem_ids) if problem_ids is not None else list(range(n_problems))
        searched = self.search_process(process)
        cond = process.encode(conditions)
        problems = torch.arange(n_problems)
        ledger = Ledger(n_problems, budget, progress, description=f"{self.name} x{iterations}",
                        planned=(3 * iterations - 2) * searched.generation_nfe)
        keeper = BestKeeper(n_problems, self.top_k)
        start, _ = draw_trajectories(searched, seed, ids, 0)  # random search's first candidate
        x_T = start["x_T"].clone().requires_grad_(True)
        optimizer = torch.optim.Adam([x_T], lr=self.lr, eps=self.adam_eps)
        try:
            for iteration in range(iterations):
                last = iteration == iterations - 1
                optimizer.zero_grad()
                images, scores = self.ascend(searched, verifier, x_T, start.get("steps"), cond, conditions,
                                             problems, ledger, backward=not last)
                noises = {**start, "x_T": x_T.detach()}
                for p, row in keeper.offer(problems, scores, images, ledger.nfe).items():
                    keeper.attach(p, winner_payload(noises, row, iteration=iteration))
                if not last:
                    with torch.no_grad():  # clip each condition's gradient on its own
                        if x_T.grad is None:  # every candidate failed
                            x_T.grad = torch.zeros_like(x_T)
                        x_T.grad.nan_to_num_(0.0, 0.0, 0.0)  # a failed candidate is not moved
                        norms = x_T.grad.flatten(1).norm(dim=1).clamp_min(1e-12)
                        factor = (self.grad_clip / norms).clamp(max=1.0)
                        x_T.grad.mul_(factor.view(-1, *[1] * (x_T.ndim - 1)))
                    optimizer.step()
            return self.collect(process, searched, verifier, conditions, ids, seed, keeper, ledger)
        finally:
            ledger.close()

    def ascend(self, process: DenoisingProcess, verifier: Verifier, x_T: torch.Tensor,
               step_noises: torch.Tensor | None, cond: torch.Tensor, conditions: list,
               problems: torch.Tensor, ledger: Ledger, backward: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Score the noises; with ``backward``, accumulate the objective's gradient into ``x_T.grad``."""
        path = straight_path(process)

        def ascend(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with ledger.timed(rows), torch.set_grad_enabled(backward):
                x, _ = follow_path(process, x_T[part], cond[rows], path,
                                   None if step_noises is None else step_noises[part], None, ledger, rows)
                batch = process.decode(x)
                reward = score(verifier, batch, [conditions[p] for p in rows.tolist()], rows, ledger)
                if backward:  # failed candidates (reward -inf) get no gradient
                    ok = torch.isfinite(reward)
                    objective = reward[ok] - self.reg_weight * chi_nll(x_T[part][ok]).cpu()
                    if ok.any():
                        (-objective.sum()).backward()
                    ledger.charge_denoiser(rows, BACKWARD_NFE * process.generation_nfe)
            return batch.detach(), reward.detach()

        return cat_pairs(ledger.map_chunks(ascend, len(x_T), self.max_batch))
