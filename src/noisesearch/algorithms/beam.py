"""Beam search over the noise trajectory, and SVDD-PM.

Beam (Ramesh & Mardani 2025, Sec. 5 baselines): B beams; at every step each beam tries N
noises, every candidate is scored by r(x0_hat(x_{i+1}(z))), and the top B of the B x N
survive. The beams start from B initial noises (random search's candidates 0..B-1).
Defaults B = 2, N = 4: 8 NFEs per step, 144 on the paper's 18 steps (138 here: DDIM's last
step injects no noise, so each beam takes it once, without candidates).

SVDD-PM (Li et al. 2024, "Derivative-Free Guidance in Continuous and Discrete Diffusion
Models with Soft Value-Based Decoding", Algorithm 1 with the posterior-mean value
estimate r(x0_hat) and alpha = 0, i.e. greedy selection): M noises per step, keep the
best. It is beam search with B = 1, N = M; default M = 4 (the paper's experiments use
M = 20 on images; set ``m=20``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from ..lazy import torch
from .base import Plan, StepwiseSearch
from .trajectory import best_per_problem

if TYPE_CHECKING:
    from ..processes.base import DenoisingProcess
    from .context import SearchContext


def beam_search(ctx: SearchContext, name: str, beams: int, n: int) -> None:
    """Keep the top ``beams`` of ``beams * n`` one-step extensions at every step."""
    process, n_problems = ctx.process, ctx.n_problems
    x, x0, eps, problems = ctx.start(beams)
    x_T = x.clone()
    steps = torch.zeros((len(x), process.steps, *process.noise_shape), dtype=process.dtype)
    for i in range(process.steps):
        width = n if process.injects_noise(i) else 1
        z = ctx.noise.steps([(p, (name, i, b, j))
                             for p in range(n_problems) for b in range(beams) for j in range(width)])
        parents = torch.arange(len(x)).repeat_interleave(width)
        x_next, x0_next, eps_next, scores = ctx.try_noises(
            x[parents], x0[parents], eps[parents], i, z, problems[parents])
        keep = best_per_problem(scores, n_problems, beams * width, beams)
        history = steps[parents[keep]]
        history[:, i] = z[keep]
        x, x0, eps, steps, x_T = x_next[keep], x0_next[keep], eps_next[keep], history, x_T[parents[keep]]
    ctx.finish(x, x_T, steps, problems)


def beam_nfe(process: DenoisingProcess, beams: int, n: int) -> int:
    """NFEs per condition: each beam's first prediction, then n candidates per step that injects noise."""
    return beams * (1 + sum(n if process.injects_noise(i) else 1
                            for i in range(process.steps - 1))) * process.nfe_per_step


@dataclass
class BeamSearch(StepwiseSearch):
    """B beams x N noises per step, the top B by r(x0_hat) survive."""

    name = "beam"
    summary = "beam search over the step noises, B beams x N noises (Ramesh & Mardani 2025 baseline)"
    b: int = 2  # beams
    n: int = 4  # noises tried per beam and step
    scaled = ("b", 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.b < 1 or self.n < 1:
            raise InputError(f"b and n must be >= 1, got b={self.b}, n={self.n}")

    def plan(self, process, budget):
        return self.within(Plan(self.b, beam_nfe(process, self.b, self.n)), budget)

    def search(self, ctx, plan):
        beam_search(ctx, self.name, self.b, self.n)


@dataclass
class SVDD(StepwiseSearch):
    """SVDD-PM: M noises per step, the best by r(x0_hat) is taken."""

    name = "svdd"
    summary = "SVDD-PM: M noises per step, keep the best by r(x0_hat) (Li et al. 2024)"
    m: int = 4  # noises tried per step
    scaled = ("m", 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.m < 1:
            raise InputError(f"m must be >= 1, got {self.m}")

    def plan(self, process, budget):
        return self.within(Plan(self.m, beam_nfe(process, 1, self.m)), budget)

    def search(self, ctx, plan):
        beam_search(ctx, self.name, 1, self.m)
