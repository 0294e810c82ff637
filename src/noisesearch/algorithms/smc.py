"""Particle resampling: Feynman-Kac steering (Singhal et al. 2025, "A General Framework for
Inference-time Scaling and Steering of Diffusion Models", Algorithm 1).

k particles follow the sampler; after each step every particle's clean prediction x0_hat
is scored, r_i = r(x0_hat(x_i)), and turned into a potential G_i:

    max:        G_i = exp(lambda * max_{s <= i} r_s)
    sum:        G_i = exp(lambda * sum_{s <= i} r_s)
    difference: G_i = exp(lambda * (r_i - r_{i'})), i' the particle's last resampling step

At resampling steps (every ``every`` steps with (i + 1) / steps in [start, end]; with
``adaptive``, only when the effective sample size of the weights falls below k / 2) the
particles are resampled systematically with weights proportional to G_i. The difference
potentials telescope, so the final particles weighted by their last potential target the
tilted distribution p(x) exp(lambda r(x)) / Z exactly as k grows. The result is the best
final particle by the verifier; the whole final set and its log-weights are kept in
``extra``. Defaults are FK steering's for text-to-image: k = 4, lambda = 10, potential
max, adaptive resampling every 20 of 100 steps between steps 20 and 80 (here: every 20%
of the steps, between 20% and 80%).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from .base import Plan, StepwiseSearch
from .context import SearchContext

POTENTIALS = ("max", "sum", "difference")
FAILED_REWARD = -1e30  # a failed particle's reward (NaN/Inf): its weight underflows to 0, never NaN


def effective_sample_size(log_weights: torch.Tensor) -> torch.Tensor:
    """ESS = 1 / sum(w^2) of normalised weights, per row of (P, k) log-weights."""
    w = torch.softmax(log_weights, dim=1)
    return 1.0 / (w**2).sum(1)


def systematic_resample(log_weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Ancestor indices (P, k): one uniform u (P,) per row, positions (u + j) / k."""
    k = log_weights.shape[1]
    cdf = torch.softmax(log_weights.double(), dim=1).cumsum(1)
    cdf[:, -1] = 1.0
    positions = (u.double()[:, None] + torch.arange(k, dtype=torch.float64)) / k
    return torch.searchsorted(cdf, positions, right=True).clamp(max=k - 1)  # first j with cdf_j > position


@dataclass
class SMC(StepwiseSearch):
    """FK steering: k particles, potentials from r(x0_hat), systematic resampling."""

    name = "smc"
    summary = "Feynman-Kac steering: k particles resampled by reward potentials (Singhal et al. 2025)"
    k: int = 4  # particles per condition
    lam: float = 10.0  # potential temperature lambda
    potential: str = "max"  # max | sum | difference
    every: int = 0  # resample every this many steps; 0: 20% of the steps
    start: float = 0.2  # resample only while (i + 1) / steps is in [start, end]
    end: float = 0.8
    adaptive: bool = True  # at a resampling step, resample only if ESS < k / 2
    scaled = ("k", 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1 or self.every < 0:
            raise InputError(f"smc needs k >= 1 and every >= 0, got k={self.k}, every={self.every}")
        if self.potential not in POTENTIALS:
            raise InputError(f"potential {self.potential!r} is unknown; valid: {', '.join(POTENTIALS)}")
        if not 0 <= self.start <= self.end <= 1:
            raise InputError(f"smc needs 0 <= start <= end <= 1, got [{self.start}, {self.end}]")

    def plan(self, process, budget):
        return self.within(Plan(self.k, self.k * process.steps * process.nfe_per_step), budget)

    def resampling_step(self, i: int, steps: int) -> bool:
        every = self.every or max(1, round(0.2 * steps))
        return (i + 1) % every == 0 and self.start <= (i + 1) / steps <= self.end and i + 1 < steps

    def search(self, ctx: SearchContext, plan: Plan) -> dict[str, torch.Tensor]:
        process, n_problems, k = ctx.process, ctx.n_problems, self.k
        x, x0, eps, problems = ctx.start(k)
        x_T = x.clone()
        steps = torch.zeros((len(x), process.steps, *process.noise_shape), dtype=process.dtype)
        best = torch.full((len(x),), -float("inf"), dtype=torch.float64)  # max_s r_s
        total = torch.zeros(len(x), dtype=torch.float64)  # sum_s r_s
        base = torch.zeros(len(x), dtype=torch.float64)  # r at the last resampling
        resamplings = torch.zeros(n_problems, dtype=torch.long)
        for i in range(process.steps):
            z = ctx.noise.steps([(p, ("smc", i, j)) for p in range(n_problems) for j in range(k)])
            x = process.update(x, i, x0, eps, z)
            steps[:, i] = z
            x0, eps = ctx.predict(x, i + 1, problems)
            _, r = ctx.score(x0, problems)
            r = r.double().clamp(min=FAILED_REWARD)  # a failed particle gets no weight
            best, total = torch.maximum(best, r), total + r
            log_g = self.lam * {"max": best, "sum": total, "difference": r - base}[self.potential]
            if self.resampling_step(i, process.steps):
                grouped = log_g.reshape(n_problems, k)
                due = torch.ones(n_problems, dtype=torch.bool)
                if self.adaptive:
                    due = effective_sample_size(grouped) < k / 2
                u = ctx.noise.uniform([(p, ("smc-resample", i)) for p in range(n_problems)])
                ancestors = systematic_resample(grouped, u)
                ancestors = torch.where(due[:, None], ancestors, torch.arange(k))
                rows = (ancestors + torch.arange(n_problems)[:, None] * k).flatten()
                x, x0, eps, x_T, steps = x[rows], x0[rows], eps[rows], x_T[rows], steps[rows]
                best, total, r = best[rows], total[rows], r[rows]
                base = torch.where(due.repeat_interleave(k), r, base[rows])
                resamplings += due.long()
        ctx.finish(x, x_T, steps, problems)
        return {"particles": x.reshape(n_problems, k, *x.shape[1:]),
                "log_weights": log_g.reshape(n_problems, k), "resamplings": resamplings}
