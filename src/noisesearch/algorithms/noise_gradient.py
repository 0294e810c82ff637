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
with eps 1e-2); without ``iterations`` the budget decides how many (ReNO runs 50). ReNO's
learning rate (5, for SGD with Nesterov momentum on latents) is
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

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from ..lazy import torch
from .base import DEFAULT_GENERATIONS, InitialNoiseSearch, Plan
from .trajectory import follow_path, score, straight_path

if TYPE_CHECKING:
    from .context import SearchContext

BACKWARD_NFE = 2  # a backward pass through one step, in forward NFEs


def chi_nll(x: torch.Tensor) -> torch.Tensor:
    """Per-row negative log-likelihood of ||x|| under the chi distribution with d = x[0].numel() dof."""
    d = x.shape[1:].numel()  # also for no rows (every candidate of a chunk failed)
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
    needs_gradients = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.iterations is not None and self.iterations < 1:
            raise InputError(f"iterations must be >= 1, got {self.iterations}")
        if self.lr <= 0 or self.grad_clip <= 0 or self.reg_weight < 0:
            raise InputError("noise-gradient needs lr > 0, grad_clip > 0 and reg_weight >= 0")

    def plan(self, process, budget):
        """Iterations: given, or as many as the budget pays for (3 generations each, 1 for the last)."""
        cost = self.search_process(process).generation_nfe
        budget = self.search_budget(process, budget, cost)
        if budget is None and self.iterations is None:
            raise InputError(f"noise-gradient needs a budget or iterations; e.g. "
                             f"`budget={DEFAULT_GENERATIONS * cost}` or `iterations=6`")
        iterations = self.iterations
        if budget is not None:
            affordable = (budget // cost + BACKWARD_NFE) // (1 + BACKWARD_NFE)
            if iterations is not None and iterations > affordable:
                raise InputError(f"iterations={iterations} need {(3 * iterations - 2) * cost} NFEs, more "
                                 f"than the `budget` of {budget}; valid: iterations <= {affordable}")
            iterations = affordable if iterations is None else iterations
        return Plan(iterations, (3 * iterations - 2) * cost)

    def search(self, ctx: SearchContext, plan: Plan) -> None:
        problems = torch.arange(ctx.n_problems)
        start, _ = ctx.noise.trajectories([(p, (0,)) for p in range(ctx.n_problems)])  # random's first
        x_T = start["x_T"].clone().requires_grad_(True)
        optimizer = torch.optim.Adam([x_T], lr=self.lr, eps=self.adam_eps)
        for iteration in range(plan.size):
            last = iteration == plan.size - 1
            optimizer.zero_grad()
            images, scores = self.ascend(ctx, x_T, start.get("steps"), problems, backward=not last)
            noises = {**start, "x_T": x_T.detach()}
            ctx.offer(problems, scores, images, noises, [{"iteration": iteration}] * ctx.n_problems)
            if not last:
                with torch.no_grad():  # clip each condition's gradient on its own
                    if x_T.grad is None:  # every candidate failed
                        x_T.grad = torch.zeros_like(x_T)
                    x_T.grad.nan_to_num_(0.0, 0.0, 0.0)  # a failed candidate is not moved
                    norms = x_T.grad.flatten(1).norm(dim=1).clamp_min(1e-12)
                    factor = (self.grad_clip / norms).clamp(max=1.0)
                    x_T.grad.mul_(factor.view(-1, *[1] * (x_T.ndim - 1)))
                optimizer.step()

    def ascend(self, ctx: SearchContext, x_T: torch.Tensor, step_noises: torch.Tensor | None,
               problems: torch.Tensor, backward: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Score the noises; with ``backward``, accumulate the objective's gradient into ``x_T.grad``."""
        process, ledger = ctx.process, ctx.ledger
        path = straight_path(process)

        def ascend(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with ledger.timed(rows), torch.set_grad_enabled(backward):
                x, _ = follow_path(process, x_T[part], ctx.cond[rows], path,
                                   None if step_noises is None else step_noises[part], None, ledger, rows)
                batch = process.decode(x)
                reward = score(ctx.verifier, batch, ctx.conditions_of(rows), rows, ledger)
                if backward:  # failed candidates (reward -inf) get no gradient
                    ok = torch.isfinite(reward)
                    objective = reward[ok] - self.reg_weight * chi_nll(x_T[part][ok]).cpu()
                    if ok.any():
                        (-objective.sum()).backward()
                    ledger.charge_denoiser(rows, BACKWARD_NFE * process.generation_nfe)
            return batch.detach(), reward.detach()

        return ctx.chunked(ascend, len(x_T))
