"""Zero-order search over the initial noise (Ma et al. 2025, Sec. 3.2 "Zero-Order Search").

1. Start with a pivot noise n ~ N(0, I) and score it.
2. Draw N neighbours of the pivot: y = ||n|| (tau n_hat + sqrt(1 - tau^2) w_hat), w_hat the
   normalised part of a fresh Gaussian draw orthogonal to n, so every neighbour keeps the
   pivot's norm and lies at cosine tau to it (option ``neighbourhood=ball``: uniform in a
   ball of radius ``radius * sqrt(d)`` instead).
3. Generate and score them; move the pivot to the best neighbour if it beats the pivot.
4. If none does: ``on_stall=restart`` draws a fresh pivot (scored with its first neighbours),
   ``stay`` keeps the pivot and draws new neighbours. Repeat from 2.

The result is the best candidate seen over all iterations. On a stochastic sampler the
searched noise is the whole trajectory's (x_T and every step's noise); each block is
perturbed by the same rule, so the concatenation too keeps its norm and cosine tau. The
first pivot is random search's first candidate, so at one generation's budget both agree.
When the budget (or, with ``iterations``, their cost 1 + iterations x N generations) cannot
pay for N more neighbours, the last iteration scores as many as it can: a restarted pivot
takes one neighbour's place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import InputError
from ..lazy import torch
from ..noise import Noises, ball_neighbours, sphere_neighbours
from .base import InitialNoiseSearch, Plan
from .trajectory import concat_noises, select_rows

if TYPE_CHECKING:
    from .context import SearchContext

NEIGHBOURHOODS = ("sphere", "ball")
ON_STALL = ("restart", "stay")


def neighbours(pivot: Noises, fresh: Noises, neighbourhood: str, tau: float, radius: float,
               uniform: torch.Tensor) -> Noises:
    """Neighbours of pivot rows, one per row of ``fresh``, block by block (x_T, each step's noise)."""
    out = {}
    for name, x in pivot.items():
        w = fresh[name]
        # a trajectory's step noises are perturbed one step at a time: (B, T, ...) -> (B*T, ...)
        flat_x = x.reshape(-1, *x.shape[2:]) if name == "steps" else x
        flat_w = w.reshape(-1, *w.shape[2:]) if name == "steps" else w
        if neighbourhood == "sphere":
            y = sphere_neighbours(flat_x, flat_w, tau)
        else:
            u = uniform.repeat_interleave(len(flat_x) // len(x))
            y = ball_neighbours(flat_x, flat_w, u, radius)
        out[name] = y.reshape(x.shape)
    return out


@dataclass
class ZeroOrderSearch(InitialNoiseSearch):
    """ZO-N: hill climbing on the initial noise with N neighbours per iteration."""

    name = "zero-order"
    summary = "zero-order search: N neighbours at cosine tau around a pivot (Ma et al. 2025, ZO-N)"
    rounds = True
    n: int = 4  # neighbours per iteration
    iterations: int | None = None  # default: as many as the budget pays for
    tau: float = 0.95  # cosine between a neighbour and the pivot (sphere neighbourhood)
    neighbourhood: str = "sphere"  # sphere | ball
    radius: float = 0.3  # ball radius, relative to sqrt(d) (ball neighbourhood)
    on_stall: str = "restart"  # restart | stay, when no neighbour beats the pivot

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n < 1:
            raise InputError(f"n must be >= 1, got {self.n}")
        if self.iterations is not None and self.iterations < 1:
            raise InputError(f"iterations must be >= 1, got {self.iterations}")
        if not 0 < self.tau < 1:
            raise InputError(f"tau must be in (0, 1), got {self.tau}")
        if self.radius <= 0:
            raise InputError(f"radius must be > 0, got {self.radius}")
        if self.neighbourhood not in NEIGHBOURHOODS:
            raise InputError(f"neighbourhood {self.neighbourhood!r} is unknown; "
                             f"valid: {', '.join(NEIGHBOURHOODS)}")
        if self.on_stall not in ON_STALL:
            raise InputError(f"on_stall {self.on_stall!r} is unknown; valid: {', '.join(ON_STALL)}")

    def plan(self, process, budget):  # the pivot, then N neighbours per iteration
        return self.iterations_plan(process, budget, self.iterations and 1 + self.iterations * self.n)

    def round_nfe(self, process):
        return self.n * self.search_process(process).generation_nfe

    def search(self, ctx: SearchContext, plan: Plan) -> None:
        cost = ctx.process.generation_nfe  # plan.nfe: the budget's share for the search, or its cost
        pivot, _ = ctx.noise.trajectories([(p, (0,)) for p in range(ctx.n_problems)])  # random search's first
        pivot_score = torch.full((ctx.n_problems,), float("nan"), dtype=torch.float64)  # nan: not yet scored
        restarts = [0] * ctx.n_problems
        iteration = 0
        while self.iterations is None or iteration < self.iterations:
            # per problem: its pivot if unscored (role -1), then as many neighbours j as it can pay for
            rows: list[tuple[int, int]] = []
            for p, affordable in ctx.affordable(cost).items():
                if pivot_score[p].isnan():
                    rows.append((p, -1))
                    affordable -= 1
                rows += [(p, j) for j in range(min(self.n, affordable))]
            if not rows:
                break
            noises = self.candidates(ctx, pivot, rows, iteration)
            problems = torch.tensor([p for p, _ in rows])
            images, scores = ctx.generate(noises, problems)
            ctx.offer(problems, scores, images, noises,
                      [{"iteration": iteration, "neighbour": j, "restarts": restarts[p]} for p, j in rows])
            self.move_pivots(ctx, pivot, pivot_score, restarts, noises, scores, rows)
            iteration += 1

    def candidates(self, ctx: SearchContext, pivot: Noises, rows: list[tuple[int, int]],
                   iteration: int) -> Noises:
        """Noises of this iteration's rows: a pivot's own (role -1) or its neighbour j."""
        parts = []
        for p, j in rows:
            own = select_rows(pivot, [p])
            if j < 0:
                parts.append(own)
                continue
            fresh, _ = ctx.noise.trajectories([(p, ("zo-neighbour", iteration, j))])
            u = ctx.noise.uniform([(p, ("zo-radius", iteration, j))])
            parts.append(neighbours(own, fresh, self.neighbourhood, self.tau, self.radius, u))
        return concat_noises(parts)

    def move_pivots(self, ctx: SearchContext, pivot: Noises, pivot_score: torch.Tensor, restarts: list[int],
                    noises: Noises, scores: torch.Tensor, rows: list[tuple[int, int]]) -> None:
        """Pivot <- best neighbour if it beats the pivot; otherwise restart or stay."""
        best: dict[int, int] = {}
        for row, (p, j) in enumerate(rows):
            if j < 0:
                pivot_score[p] = float(scores[row])
            elif p not in best or scores[row] > scores[best[p]]:
                best[p] = row
        for p, row in best.items():
            if float(scores[row]) > float(pivot_score[p]):
                for name in pivot:
                    pivot[name][p] = noises[name][row]
                pivot_score[p] = float(scores[row])
            elif self.on_stall == "restart":
                restarts[p] += 1
                fresh, _ = ctx.noise.trajectories([(p, ("zo-restart", restarts[p]))])
                for name in pivot:
                    pivot[name][p] = fresh[name][0]
                pivot_score[p] = float("nan")
