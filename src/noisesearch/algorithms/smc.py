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

Funnel schedule and adaptive temperature (Su et al. 2025, "Navigating the
Exploration-Exploitation Tradeoff in Inference-Time Scaling of Diffusion Models", arXiv
2508.12361, Sec. "Funnel Schedule" and "Adaptive Temperature": many particles early, fewer
late, at the flat schedule's total NFEs; early, unreliable rewards count less). The paper's
equations and default values were not available to this implementation: the schedule,
the temperature and their defaults below are this module's own choices, made to fit that
description and to keep the weights exact.

- ``schedule="funnel"``: the particle count drops at the resampling steps, so that drops
  are decided by the rewards: the steps between two resampling steps (a segment) share one
  count, on a line decreasing over the segments from k_0 to k_end = ``funnel_end`` * k
  (rounded, at least 1), k_0 solved so that the NFEs spent (the particles at every
  predicted state: state 0 and the state after every step but the last) equal the flat
  schedule's k * steps * nfe_per_step; ``k`` stays the size a budget buys, so ``plan``,
  ``scaled`` and ``at_budget`` work as for the flat schedule. The counts are made whole
  (``funnel_counts``: within 2 of the line, the closest that spend exactly the flat NFEs,
  or the most below them); where no such counts exist, one more particle is kept on the
  steps after the first drops and dropped a few steps later, at a step that is not a
  resampling step: there the particles are resampled by their weights since the last
  resampling (no reward is scored, no potential applied), so the funnel never spends more
  than the flat schedule and, in every case but a single segment (then it is flat),
  exactly as much. At a drop every problem resamples (``adaptive`` or not): its k_i
  particles are resampled systematically to k_{i+1} < k_i offspring, positions (u + j) /
  k_{i+1}, and the weights become uniform. That is an unbiased resampling step like any
  other (a particle's expected number of offspring is k_{i+1} times its normalised
  weight), so the equally weighted smaller set targets the same FK interpolating
  distribution as the weighted larger one, and the final correction is unchanged: fewer
  particles cost variance, not bias. A linear decrease over segments (not over steps, not
  geometric) is this module's choice: a drop between resampling steps has no fresh
  rewards to go by, only the weights of the last scoring step.
- ``temperature="adaptive"``: the potentials at a scoring state s use lambda_s = lambda *
  (1 - sigma_s), sigma_s the state's normalised noise level (1 pure noise, 0 clean), in
  place of lambda: max exp(lambda_s max r), sum exp(lambda_s sum r), difference
  exp(lambda_s r_s - lambda_s' r_s'). The final correction still divides by the product
  of the potentials actually applied on the lineage and multiplies by exp(lambda r(x_0))
  (sigma = 0 at the clean state: lambda itself), so the final weighted set still targets
  p(x) exp(lambda r(x)) / Z. Tying lambda_s to the noise level (rather than to the step
  index) is this module's choice: x0_hat is as reliable as the noise left allows.

With either, ``extra`` also keeps the particles per step (``particles_per_step``), the
temperature of every scoring step (``temperatures``) and every final particle's rewards at
the scoring steps of its lineage (``rewards``), from which its potentials, and so its final
weight, can be recomputed.

Defaults when switched on: ``funnel_end`` = 0.25 (k_0 about 1.75 k on equal segments);
this module's choice, as said.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

from ..errors import InputError
from ..lazy import torch
from .base import Plan, StepwiseSearch

if TYPE_CHECKING:
    from .context import SearchContext

POTENTIALS = ("max", "sum", "difference")
WEIGHTS = ("importance", "potential")
SCHEDULES = ("flat", "funnel")
TEMPERATURES = ("fixed", "adaptive")
FAILED_REWARD = -1e30  # a failed particle's reward (NaN/Inf): its weight underflows to 0, never NaN


def effective_sample_size(log_weights: torch.Tensor) -> torch.Tensor:
    """ESS = 1 / sum(w^2) of normalised weights, per row of (P, k) log-weights."""
    w = torch.softmax(log_weights, dim=1)
    return 1.0 / (w**2).sum(1)


def systematic_resample(log_weights: torch.Tensor, u: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """Ancestor indices (P, n) of (P, k) log-weights: one uniform u (P,) per row, positions
    (u + j) / n, j < n (n = k unless fewer offspring are drawn)."""
    k = log_weights.shape[1]
    n = k if n is None else n
    cdf = torch.softmax(log_weights.double(), dim=1).cumsum(1)
    cdf[:, -1] = 1.0
    positions = (u.double()[:, None] + torch.arange(n, dtype=torch.float64)) / n
    return torch.searchsorted(cdf, positions, right=True).clamp(max=k - 1)  # first j with cdf_j > position


@lru_cache(maxsize=256)
def funnel_counts(costs: tuple[int, ...], k: int, k_end: int) -> tuple[int, ...]:
    """Whole, nonincreasing particle counts, one per segment, the last ``k_end``, close to the line
    from k_0 down to ``k_end`` whose total sum_j count_j * costs_j is k * sum(costs) (``costs``:
    the predictions each segment's count is charged for): each count within 2 of the line, the
    closest (least squared distance, weighted by cost) that spends exactly k * sum(costs),
    else the closest of those that spend the most below it."""
    m = len(costs) - 1
    total = k * sum(costs)
    if m == 0 or k_end >= k:
        return (k,) * (m + 1)
    head = sum((1 - j / m) * c for j, c in enumerate(costs))
    tail = sum(j / m * c for j, c in enumerate(costs))
    first = (total - k_end * tail) / head
    line = [first + (k_end - first) * j / m for j in range(m + 1)]
    slack, partial = 2 * max(costs), 0.0
    # segments from the last back: (spent on them, this count) -> distance, and the step back
    reach: dict[tuple[int, int], float] = {(0, k_end): 0.0}
    layers = []
    for j in reversed(range(m + 1)):
        partial += line[j] * costs[j]
        options = [k_end] if j == m else range(math.floor(line[j]) - 2, math.ceil(line[j]) + 3)
        after: dict[tuple[int, int], float] = {}
        back: dict[tuple[int, int], tuple[int, int]] = {}
        for (spent, below), distance in reach.items():
            for n in options:
                now, d = spent + n * costs[j], distance + (n - line[j]) ** 2 * costs[j]
                if n >= below and abs(now - partial) <= slack and d < after.get((now, n), math.inf):
                    after[now, n], back[now, n] = d, (spent, below)
        reach = after
        layers.append(back)
    within = [key for key in reach if key[0] <= total]
    if not within:
        return (k,) * (m + 1)
    key = min(within, key=lambda key: (total - key[0], reach[key]))
    counts = []
    for back in reversed(layers):
        counts.append(key[1])
        key = back[key]
    return tuple(counts)


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
    schedule: str = "flat"  # flat: k particles throughout | funnel: more early, fewer late, same NFEs
    funnel_end: float = 0.25  # funnel: the last count, a fraction of k (rounded, at least 1)
    temperature: str = "fixed"  # fixed: lambda | adaptive: lambda (1 - noise level) at each scoring state
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
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule {self.schedule!r} is unknown; valid: {', '.join(SCHEDULES)}")
        if self.temperature not in TEMPERATURES:
            raise InputError(f"temperature {self.temperature!r} is unknown; valid: {', '.join(TEMPERATURES)}")
        if not 0 < self.funnel_end <= 1:
            raise InputError(f"smc needs 0 < funnel_end <= 1, got {self.funnel_end}")
        if self.weights == "potential" and (self.schedule, self.temperature) != ("flat", "fixed"):
            raise InputError("weights 'potential' (0.1.0's) has no funnel or adaptive temperature; "
                             "valid: schedule=flat and temperature=fixed, or weights=importance")

    def plan(self, process, budget):
        counts = self.particles(process.steps)  # the state after the last step is clean: no prediction
        return self.within(Plan(self.k, (counts[0] + sum(counts[:-1])) * process.nfe_per_step), budget)

    def particles(self, steps: int) -> list[int]:
        """The particles that take each step (``schedule``): k throughout, or the funnel's counts
        (see the module's docstring), which spend exactly what k particles spend."""
        if self.schedule == "flat":
            return [self.k] * steps
        bounds = [0, *(i + 1 for i in range(steps) if self.resampling_step(i, steps)), steps]
        lengths = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
        costs = list(lengths)  # predictions charged: state 0, and the state after every step but the last
        costs[0], costs[-1] = costs[0] + 1, costs[-1] - 1
        k_end = max(1, math.floor(self.funnel_end * self.k + 0.5))
        counts = funnel_counts(tuple(costs), self.k, k_end)
        per_step = [n for n, length in zip(counts, lengths, strict=True) for _ in range(length)]
        # where no whole counts changing at resampling steps alone spend the flat NFEs exactly: one
        # more particle on the steps after the first drops, dropped (resampled) a few steps later
        short, grown = self.k * steps - (per_step[0] + sum(per_step[:-1])), True
        while short > 0 and grown:
            grown = False
            for i in range(1, steps - 1):  # each costs one prediction (the last step's state is clean)
                if short > 0 and per_step[i] < per_step[i - 1]:
                    per_step[i], short, grown = per_step[i] + 1, short - 1, True
        return per_step

    def lam_at(self, levels: torch.Tensor, state: int) -> float:
        """The temperature of the potentials scored at ``state`` (``temperature``), given the
        process's noise levels."""
        if self.temperature == "fixed":
            return self.lam
        return self.lam * (1.0 - float(levels[state]))

    def resampling_step(self, i: int, steps: int) -> bool:
        """Whether the particles may be resampled after step ``i`` (never after the last)."""
        every = self.every or max(1, round(0.2 * steps))
        return (i + 1) % every == 0 and self.start <= (i + 1) / steps <= self.end and i + 1 < steps

    def search(self, ctx: SearchContext, plan: Plan) -> dict[str, torch.Tensor]:
        if self.weights == "potential":
            return self.search_0_1_0(ctx)
        process, n_problems = ctx.process, ctx.n_problems
        counts, levels = self.particles(process.steps), process.noise_levels()
        k = counts[0]
        x, x0, eps, problems = ctx.start(k)
        x_T = x.clone()
        steps = torch.zeros((len(x), process.steps, *process.noise_shape), dtype=process.dtype)
        best = torch.full((len(x),), -float("inf"), dtype=torch.float64)  # max_s r_s on the lineage
        total = torch.zeros(len(x), dtype=torch.float64)  # sum_s r_s on the lineage
        previous = torch.zeros(len(x), dtype=torch.float64)  # r at the previous scoring step
        lam_before = self.lam  # lambda at the previous scoring step (whose r is 0 before the first)
        log_w = torch.zeros(len(x), dtype=torch.float64)  # log prod of G_s since the last resampling
        log_prod = torch.zeros(len(x), dtype=torch.float64)  # log prod of G_s on the lineage
        failed = torch.zeros(len(x), dtype=torch.bool)  # a reward on the lineage was NaN/Inf
        resamplings = torch.zeros(n_problems, dtype=torch.long)
        temperatures: list[float] = []
        rewards = torch.zeros((len(x), 0), dtype=torch.float64)  # r_s at the lineage's scoring steps
        for i in range(process.steps):
            z = ctx.noise.steps([(p, ("smc", i, j)) for p in range(n_problems) for j in range(k)])
            x = process.update(x, i, x0, eps, z)
            steps[:, i] = z
            x0, eps = ctx.predict(x, i + 1, problems)
            scoring = self.resampling_step(i, process.steps)
            if not scoring and (i + 1 == process.steps or counts[i + 1] == k):
                continue
            if scoring:
                _, r = ctx.score(x0, problems, lookahead=True)
                failed |= ~torch.isfinite(r)
                r = r.double().clamp(min=FAILED_REWARD)  # a failed particle gets no weight
                best, total = torch.maximum(best, r), total + r
                lam = self.lam_at(levels, i + 1)
                # difference: lambda_s r_s - lambda_s' r_s' (a fixed lambda: lambda (r_s - r_s'), as before)
                log_g = {"max": lam * best, "sum": lam * total,
                         "difference": lam * (r - previous) + (lam - lam_before) * previous}[self.potential]
                previous, lam_before = r, lam
                temperatures.append(lam)
                rewards = torch.cat([rewards, r[:, None]], 1)
                log_w, log_prod = log_w + log_g, log_prod + log_g
            # the funnel's drop between resampling steps: resampled by the weights since the last one
            rows, due = self.resample(ctx, log_w, i, counts[i + 1])
            k = counts[i + 1]
            x, x0, eps, x_T, steps = x[rows], x0[rows], eps[rows], x_T[rows], steps[rows]
            problems = problems[rows]
            best, total, previous, log_prod, failed = best[rows], total[rows], previous[rows], \
                log_prod[rows], failed[rows]
            rewards = rewards[rows]
            log_w = torch.where(due.repeat_interleave(k), 0.0, log_w[rows])  # uniform after resampling
            resamplings += due.long()
        images, r = ctx.score(x, problems)  # the final step: x is the clean sample
        ctx.finish(x, x_T, steps, problems, scored=(images, r))
        failed |= ~torch.isfinite(r)
        # the final correction: exp(lambda r(x_0)) / prod_t G_t over the lineage, times the weights
        log_final = log_w + self.lam * r.double() - log_prod
        log_final = log_final.masked_fill(failed, FAILED_REWARD).reshape(n_problems, k)
        extra = {"particles": x.reshape(n_problems, k, *x.shape[1:]),
                 "log_weights": torch.log_softmax(log_final, dim=1), "resamplings": resamplings}
        if (self.schedule, self.temperature) != ("flat", "fixed"):  # (FK's runs keep what they kept)
            extra["particles_per_step"] = torch.tensor(counts).repeat(n_problems, 1)
            extra["temperatures"] = torch.tensor(temperatures, dtype=torch.float64).repeat(n_problems, 1)
            extra["rewards"] = rewards.reshape(n_problems, k, -1)
        return extra

    def resample(self, ctx: SearchContext, log_w: torch.Tensor, i: int,
                 n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Systematic resampling of each problem's k particles by ``log_w`` (P * k,) at step ``i``
        to ``n`` offspring each (k unless fewer): with ``adaptive`` and n = k, only the problems
        whose ESS is below k / 2; every problem when n < k. The offspring's rows in the current
        set, and which problems resampled."""
        n_problems = ctx.n_problems
        k = len(log_w) // n_problems
        n = k if n is None else n
        grouped = log_w.reshape(n_problems, k)
        due = torch.ones(n_problems, dtype=torch.bool)
        if self.adaptive and n == k:
            due = effective_sample_size(grouped) < k / 2
        u = ctx.noise.uniform([(p, ("smc-resample", i)) for p in range(n_problems)])
        ancestors = systematic_resample(grouped, u, n)
        if n == k:  # a problem not due keeps its particles
            ancestors = torch.where(due[:, None], ancestors, torch.arange(k))
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
