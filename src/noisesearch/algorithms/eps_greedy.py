"""Epsilon-greedy search over each step's noise (Ramesh & Mardani 2025, Sec. 4.2, Algorithm 1).

Denoising is relaxed into a sequence of contextual bandits, one per step. At step i:

    pivot ~ N(0, I)
    repeat K_i times:
        draw N candidates: with probability epsilon_i a fresh z ~ N(0, I) (explore), otherwise
        z = pivot + U(0, 1) * lambda * sqrt(d) * u / ||u||, u ~ N(0, I) (exploit, d = noise size)
        score each by r(x0_hat(x_{i+1}(z)))
        pivot <- the iteration's best candidate (``keep_best``: the best seen at this step)
    x_{i+1} <- the step taken with the pivot

The schedule (``schedule``) follows the paper: the search "globally explores at extreme
timesteps and locally exploits during the intermediate steps where de-mixing occurs", and
searches only 0.01 <= sigma <= 1 (EDM sigma) to halve the NFEs. A step whose level lies in
[``window_lo``, ``window_hi``] (given in ``unit``: ``edm`` sigma by default, ``vp`` or
``flow``; see ``processes/levels.py``) gets K_i = K iterations at epsilon_i = epsilon; a step
outside it gets one iteration of N candidates, all fresh draws (epsilon_i = 1: best-of-N,
global exploration; ``explore_outside=false`` keeps epsilon there); a step that injects no
noise (DDIM's last) is taken without search. On 18 steps of ``digits`` this spends 677 NFEs
against 1361 for K iterations at every step.

Defaults are the paper's and its code's (github rvignav/diffusion-tts, ``edm/main.py``,
``SamplingParams`` and the ``ZERO_ORDER``/``EPS_GREEDY`` branch of ``generate_image_grid``):
N = 4, K = 20, lambda = 0.15, epsilon = 0.4; ``zero-order-steps`` is the same with epsilon = 0
(its ``ZERO_ORDER`` baseline). Deviations from that code, kept on purpose: (1) it runs K
iterations with the same epsilon at every step (``K = (n, m)`` gives the first and last n
steps m iterations, a rebuttal ablation, ``ACK2_1.py``), and its EDM sampler injects noise
only where S_min = 0.05 <= sigma <= S_max = 50 (``S_churn``), so its search acts on those
steps only; here the window decides, as the paper describes. Set ``window_lo=0``,
``window_hi=inf`` (``unit=edm``) to search every step. (2) The code replaces the pivot with
each iteration's best even when it is worse than the previous pivot; that is the default
here, ``keep_best=true`` keeps the best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import InputError
from ..lazy import torch
from ..processes.levels import check_unit, from_vp, require_level
from .base import Plan, StepwiseSearch
from .trajectory import best_per_problem

if TYPE_CHECKING:
    from ..processes.base import DenoisingProcess
    from .context import SearchContext


@dataclass
class EpsGreedy(StepwiseSearch):
    """Per-step bandit search: N candidates x K iterations around a moving pivot."""

    name = "eps-greedy"
    summary = "epsilon-greedy search over each step's noise in an EDM-sigma window (Ramesh & Mardani 2025)"
    n: int = 4  # candidates per iteration
    k: int = 20  # iterations per searched step
    lam: float = 0.15  # exploitation radius, relative to sqrt(d)
    epsilon: float = 0.4  # probability that a candidate is a fresh draw
    keep_best: bool = False  # pivot <- best seen at this step, not the iteration's best
    unit: str = "edm"  # unit of window_lo and window_hi: edm (sigma), vp or flow
    window_lo: float = 0.01  # K iterations only where the noise level is in [lo, hi] (paper: 0.01..1)
    window_hi: float = 1.0
    explore_outside: bool = True  # outside the window: N fresh draws (epsilon = 1), not epsilon
    scaled = ("k", 1)
    legacy: ClassVar[dict] = {"unit": "vp", "explore_outside": False}  # what version 0.1.0 did

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1 or self.k < 1:
            raise InputError(f"n and k must be >= 1, got n={self.n}, k={self.k}")
        if not 0 <= self.epsilon <= 1 or self.lam < 0:
            raise InputError(f"epsilon must be in [0, 1] and lam >= 0, got {self.epsilon}, {self.lam}")
        check_unit(self.unit)
        require_level("window_lo", self.window_lo, self.unit)
        require_level("window_hi", self.window_hi, self.unit)
        if self.window_lo > self.window_hi:
            raise InputError(f"the window needs window_lo <= window_hi, "
                             f"got [{self.window_lo}, {self.window_hi}]")

    def schedule(self, process: DenoisingProcess) -> list[tuple[int, float]]:
        """(iterations, epsilon) of every step: (K, epsilon) inside the noise-level window, one
        iteration outside it (all fresh draws unless ``explore_outside=false``), (0, epsilon) on a
        step that injects no noise."""
        levels = from_vp(process.noise_levels(), self.unit).tolist()
        lo, hi = self.window_lo * (1 - 1e-9), self.window_hi * (1 + 1e-9)  # a level on an edge is inside
        outside = 1.0 if self.explore_outside else self.epsilon
        return [(0, self.epsilon) if not process.injects_noise(i)
                else (self.k, self.epsilon) if lo <= levels[i] <= hi else (1, outside)
                for i in range(process.steps)]

    def plan(self, process, budget):
        schedule = self.schedule(process)
        searched = sum(iterations * self.n for iterations, _ in schedule)
        plain = sum(1 for iterations, _ in schedule[:-1] if iterations == 0)
        return self.within(Plan(self.k, (1 + searched + plain) * process.nfe_per_step), budget)

    def search(self, ctx: SearchContext, plan: Plan) -> None:
        process, n_problems, n = ctx.process, ctx.n_problems, self.n
        d = torch.Size(process.noise_shape).numel()
        per_row = (-1, *[1] * len(process.noise_shape))  # broadcast a (B,) tensor over a row's noise
        x, x0, eps, problems = ctx.start(1)
        x_T = x.clone()
        steps = torch.zeros((n_problems, process.steps, *process.noise_shape), dtype=process.dtype)
        rows = problems.repeat_interleave(n)  # N candidate rows per problem
        for i, (iterations, epsilon) in enumerate(self.schedule(process)):
            pivot = ctx.noise.steps([(p, ("eg-pivot", i)) for p in range(n_problems)])
            if iterations == 0:  # the step injects no noise: nothing to search
                x = process.update(x, i, x0, eps, pivot)
                x0, eps = ctx.predict(x, i + 1, problems)
                steps[:, i] = pivot
                continue
            best_score = torch.full((n_problems,), -float("inf"), dtype=torch.float64)
            chosen = None
            for it in range(iterations):
                draws = [(p, ("eg", i, it, j)) for p in range(n_problems) for j in range(n)]
                fresh = ctx.noise.steps([(p, (*k, "fresh")) for p, k in draws])
                direction = ctx.noise.steps([(p, (*k, "direction")) for p, k in draws])
                radius = ctx.noise.uniform([(p, (*k, "radius")) for p, k in draws]).to(process.dtype)
                explore = ctx.noise.uniform([(p, (*k, "explore")) for p, k in draws]) < epsilon
                unit = direction / direction.flatten(1).norm(dim=1).view(per_row)
                local = pivot.repeat_interleave(n, 0) + (radius * self.lam * d**0.5).view(per_row) * unit
                z = torch.where(explore.view(per_row), fresh, local)
                x_next, x0_next, eps_next, scores = ctx.try_noises(
                    x.repeat_interleave(n, 0), x0.repeat_interleave(n, 0), eps.repeat_interleave(n, 0),
                    i, z, rows)
                winners = best_per_problem(scores, n_problems, n)
                better = scores[winners].double() > best_score
                take = better if self.keep_best else torch.ones_like(better)
                if chosen is None:
                    chosen = [z[winners], x_next[winners], x0_next[winners], eps_next[winners]]
                else:
                    for slot, value in enumerate((z, x_next, x0_next, eps_next)):
                        chosen[slot][take] = value[winners][take]
                best_score = torch.where(better, scores[winners].double(), best_score)
                pivot = chosen[0]
            z, x, x0, eps = chosen
            steps[:, i] = z
        ctx.finish(x, x_T, steps, problems)


@dataclass
class ZeroOrderSteps(EpsGreedy):
    """Epsilon-greedy with epsilon = 0: local search around each step's pivot only, at every step
    (outside the window too: one iteration of N neighbours of a fresh pivot)."""

    name = "zero-order-steps"
    summary = "zero-order search over each step's noise: eps-greedy with epsilon = 0 (Ramesh & Mardani 2025)"
    epsilon: float = 0.0
    explore_outside: bool = False
