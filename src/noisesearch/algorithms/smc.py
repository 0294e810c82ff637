"""Particle resampling: Feynman-Kac steering (Singhal et al. 2025, "A General Framework for
Inference-time Scaling and Steering of Diffusion Models", Algorithm 1 and Sec. 3).

k particles follow the sampler. At the scoring steps, FK steering's resampling steps and
the final step, every particle's clean prediction x0_hat is scored, r_t = r(x0_hat(x_t)),
and turned into a potential G_t (over the scoring steps s <= t of the particle's
ancestral path; r before the first scoring step is 0):

    max:        G_t = exp(lambda * max_{s <= t} r_s)
    sum:        G_t = exp(lambda * sum_{s <= t} r_s)
    difference: G_t = exp(lambda * (r_t - r_{t'})), t' the previous scoring step

Each particle's weight is the product of its potentials since the last resampling (the
incremental importance weights of the FK interpolating targets p(x_{0:t}) prod_{s<=t} G_s,
Eq. 5). At a resampling step (every ``every`` steps with (i + 1) / steps in [start, end];
with ``adaptive``, only for the problems whose weights' effective sample size is below
k / 2) the particles are resampled systematically by their weights, which then become
uniform; a problem that does not resample keeps accumulating. At the final step the
weights are corrected by exp(lambda r(x_0)) / prod_t G_t over the particle's ancestral
path (FK's code, ``fkd_class.py``: the corrected potential of the last step), so that for
every potential the final weighted set targets p(x) exp(lambda r(x)) / Z: the final
weight is exp(lambda r(x_0)) / prod of the lineage's potentials up to its last
resampling. The result is the best final particle by the verifier (FK's code reports the
best of its final set by the guiding reward); the whole final set, its normalised
log-weights and each problem's number of resamplings are kept in ``extra``.

Deviations from FK's code, kept on purpose:

- FK's code resamples at the final step too (always, or by ESS with ``adaptive``); here the
  final set is kept weighted: resampling it by its weights gives FK's final set, with the
  added variance of resampling, and its best particle is never better.
- With ``adaptive``, FK's code drops the weights of a resampling step that does not
  resample (the next step's weights are its potentials alone); here they accumulate, as in
  adaptive SMC (Del Moral et al. 2012), so that the weighted sets stay exact.
- FK's code scores x0_hat(x_t) and resamples x_{t-1} drawn from x_t; here the state after
  the step is scored with the prediction its next step uses anyway (no extra NFE): the
  same potentials, one step later. At the last step that state is the clean sample,
  which is FK's last x0_hat where the sampler's last step injects no noise (DDIM).
- ``max`` starts from the first scored reward, not from FK's ``reward_min_value`` 0.

``weights="potential"`` is 0.1.0's scheme (rewards scored at every step, each step's
potential the weight of that step's resampling, no final correction): its final weights
are not importance weights of the tilted target except with ``difference``; it is kept
to reproduce runs written by 0.1.0 (``legacy``). Defaults are FK steering's for
text-to-image: k = 4, lambda = 10, potential max, adaptive resampling every 20 of 100
steps between steps 20 and 80 (here: every 20% of the steps, between 20% and 80%).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import InputError
from ..lazy import torch
from .base import Plan, StepwiseSearch

if TYPE_CHECKING:
    from .context import SearchContext

POTENTIALS = ("max", "sum", "difference")
WEIGHTS = ("importance", "potential")
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
    """FK steering: k particles, potentials from r(x0_hat), systematic resampling, and a final
    weighted set that targets p(x) exp(lambda r(x)) / Z."""

    name = "smc"
    summary = "Feynman-Kac steering: k particles resampled by reward potentials (Singhal et al. 2025)"
    legacy: ClassVar[dict] = {"weights": "potential"}  # 0.1.0 scored every step, weights = last potential
    k: int = 4  # particles per condition
    lam: float = 10.0  # potential temperature lambda
    potential: str = "max"  # max | sum | difference
    every: int = 0  # resample every this many steps; 0: 20% of the steps
    start: float = 0.2  # resample only while (i + 1) / steps is in [start, end]
    end: float = 0.8
    adaptive: bool = True  # at a resampling step, resample only if ESS < k / 2
    weights: str = "importance"  # importance (FK) | potential (0.1.0's, see the module's docstring)
    scaled = ("k", 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1 or self.every < 0:
            raise InputError(f"smc needs k >= 1 and every >= 0, got k={self.k}, every={self.every}")
        if self.potential not in POTENTIALS:
            raise InputError(f"potential {self.potential!r} is unknown; valid: {', '.join(POTENTIALS)}")
        if self.weights not in WEIGHTS:
            raise InputError(f"weights {self.weights!r} is unknown; valid: {', '.join(WEIGHTS)}")
        if not 0 <= self.start <= self.end <= 1:
            raise InputError(f"smc needs 0 <= start <= end <= 1, got [{self.start}, {self.end}]")

    def plan(self, process, budget):
        return self.within(Plan(self.k, self.k * process.steps * process.nfe_per_step), budget)

    def resampling_step(self, i: int, steps: int) -> bool:
        """Whether the particles may be resampled after step ``i`` (never after the last)."""
        every = self.every or max(1, round(0.2 * steps))
        return (i + 1) % every == 0 and self.start <= (i + 1) / steps <= self.end and i + 1 < steps

    def search(self, ctx: SearchContext, plan: Plan) -> dict[str, torch.Tensor]:
        if self.weights == "potential":
            return self.search_0_1_0(ctx)
        process, n_problems, k = ctx.process, ctx.n_problems, self.k
        x, x0, eps, problems = ctx.start(k)
        x_T = x.clone()
        steps = torch.zeros((len(x), process.steps, *process.noise_shape), dtype=process.dtype)
        best = torch.full((len(x),), -float("inf"), dtype=torch.float64)  # max_s r_s on the lineage
        total = torch.zeros(len(x), dtype=torch.float64)  # sum_s r_s on the lineage
        previous = torch.zeros(len(x), dtype=torch.float64)  # r at the previous scoring step
        log_w = torch.zeros(len(x), dtype=torch.float64)  # log prod of G_s since the last resampling
        log_prod = torch.zeros(len(x), dtype=torch.float64)  # log prod of G_s on the lineage
        failed = torch.zeros(len(x), dtype=torch.bool)  # a reward on the lineage was NaN/Inf
        resamplings = torch.zeros(n_problems, dtype=torch.long)
        for i in range(process.steps):
            z = ctx.noise.steps([(p, ("smc", i, j)) for p in range(n_problems) for j in range(k)])
            x = process.update(x, i, x0, eps, z)
            steps[:, i] = z
            x0, eps = ctx.predict(x, i + 1, problems)
            if not self.resampling_step(i, process.steps):
                continue
            _, r = ctx.score(x0, problems, lookahead=True)
            failed |= ~torch.isfinite(r)
            r = r.double().clamp(min=FAILED_REWARD)  # a failed particle gets no weight
            best, total = torch.maximum(best, r), total + r
            log_g = self.lam * {"max": best, "sum": total, "difference": r - previous}[self.potential]
            previous = r
            log_w, log_prod = log_w + log_g, log_prod + log_g
            rows, due = self.resample(ctx, log_w, i)
            x, x0, eps, x_T, steps = x[rows], x0[rows], eps[rows], x_T[rows], steps[rows]
            best, total, previous, log_prod, failed = best[rows], total[rows], previous[rows], \
                log_prod[rows], failed[rows]
            log_w = torch.where(due.repeat_interleave(k), 0.0, log_w[rows])  # uniform after resampling
            resamplings += due.long()
        images, r = ctx.score(x, problems)  # the final step: x is the clean sample
        ctx.finish(x, x_T, steps, problems, scored=(images, r))
        failed |= ~torch.isfinite(r)
        # the final correction: exp(lambda r(x_0)) / prod_t G_t over the lineage, times the weights
        log_final = log_w + self.lam * r.double() - log_prod
        log_final = log_final.masked_fill(failed, FAILED_REWARD).reshape(n_problems, k)
        return {"particles": x.reshape(n_problems, k, *x.shape[1:]),
                "log_weights": torch.log_softmax(log_final, dim=1), "resamplings": resamplings}

    def resample(self, ctx: SearchContext, log_w: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Systematic resampling of each problem's k particles by ``log_w`` (P * k,) at step ``i``
        (with ``adaptive``, only the problems whose ESS is below k / 2): the particles' new rows
        and which problems resampled."""
        n_problems, k = ctx.n_problems, self.k
        grouped = log_w.reshape(n_problems, k)
        due = torch.ones(n_problems, dtype=torch.bool)
        if self.adaptive:
            due = effective_sample_size(grouped) < k / 2
        u = ctx.noise.uniform([(p, ("smc-resample", i)) for p in range(n_problems)])
        ancestors = torch.where(due[:, None], systematic_resample(grouped, u), torch.arange(k))
        return (ancestors + torch.arange(n_problems)[:, None] * k).flatten(), due

    def search_0_1_0(self, ctx: SearchContext) -> dict[str, torch.Tensor]:
        """0.1.0's search (``weights="potential"``): rewards scored after every step, each step's
        potential the weights of its resampling, the last potential the final (unnormalised)
        log-weights."""
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
            _, r = ctx.score(x0, problems, lookahead=True)
            r = r.double().clamp(min=FAILED_REWARD)
            best, total = torch.maximum(best, r), total + r
            log_g = self.lam * {"max": best, "sum": total, "difference": r - base}[self.potential]
            if self.resampling_step(i, process.steps):
                rows, due = self.resample(ctx, log_g, i)
                x, x0, eps, x_T, steps = x[rows], x0[rows], eps[rows], x_T[rows], steps[rows]
                best, total, r = best[rows], total[rows], r[rows]
                base = torch.where(due.repeat_interleave(k), r, base[rows])
                resamplings += due.long()
        ctx.finish(x, x_T, steps, problems)
        return {"particles": x.reshape(n_problems, k, *x.shape[1:]),
                "log_weights": log_g.reshape(n_problems, k), "resamplings": resamplings}
