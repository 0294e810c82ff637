"""Search over paths (Ma et al. 2025, Sec. 3.2 "Search over Paths", Paths-N).

1. Sample N initial noises and integrate them down to noise level sigma_start.
2. Give every path M copies, each forward-noised with fresh noise through the exact forward
   process from its level sigma up to sigma + delta_f.
3. Integrate each copy back down by delta_b, take one more denoising step and score the
   verifier on that step's clean prediction x0_hat; keep the best N (per condition).
4. Repeat 2-3 until the schedule ends; the last round integrates the copies to the clean
   sample and the best finished sample is the result.

Levels and their differences are in ``unit`` (``processes/levels.py``): by default ``flow``,
the time t of SiT's linear interpolant x_t = (1 - t) x_0 + t eps, in which the paper gives
its levels (its ImageNet setting is SiT-XL's); ``vp`` is the process's normalised level
(``noise_levels()``, sqrt(1 - alpha_bar)) and ``edm`` the EDM sigma. The process's levels
are expressed in that unit and rounds are planned on them, so delta_f and delta_b are
differences in t: with the defaults a round re-noises to t = 0.89 (a VP level of 0.992),
as in the paper. A target level is met by the nearest state at or past it on the process's
schedule; every round ends at least one step further down than it started, so the search
always finishes. Defaults are the paper's: sigma_start = 0.11, delta_f = 0.78,
delta_b = 0.81, N = 2, M = 4. With a budget and no ``n``, N is the largest that the budget
pays for. Survivors are the best N of each condition's N x M copies (ties keep the earlier
copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import InputError
from ..lazy import torch
from ..processes.levels import TOP, check_unit, from_vp, require_level
from .base import InitialNoiseSearch, Plan
from .trajectory import best_per_problem

if TYPE_CHECKING:
    from ..noise import Noises
    from ..processes.base import DenoisingProcess
    from .context import SearchContext

DEFAULT_N = 2


@dataclass(frozen=True)
class PathPlan:
    """State indices of a search over paths on one schedule."""

    start: int  # the N initial paths are integrated from state 0 to here
    rounds: tuple[tuple[int, int], ...]  # (re-noised to f, integrated back to b) before the scoring step
    steps: int

    def path(self) -> list[int]:
        """The state indices a surviving path visits, re-noisings included."""
        path = list(range(self.start + 1))
        for f, b in self.rounds:
            path += list(range(f, b + 2))
        return path

    def steps_per_path(self, m: int) -> int:
        """Denoising steps per initial path: its own, plus every round's M copies."""
        return self.start + m * sum(b + 1 - f for f, b in self.rounds)


def plan_paths(levels: torch.Tensor, sigma_start: float, delta_f: float, delta_b: float) -> PathPlan:
    """Where each round re-noises to and integrates back to, on a schedule with these noise levels
    (decreasing; in the unit of sigma_start, delta_f and delta_b)."""
    steps = len(levels) - 1
    levels = levels.tolist()

    def down_to(level: float) -> int:  # first state at or below ``level``
        return next((i for i, s in enumerate(levels) if s <= level + 1e-6), steps)

    def up_to(level: float, below: int) -> int:  # last state above ``below`` at or above ``level``
        return max([i for i in range(below) if levels[i] >= min(level, levels[0]) - 1e-6] or [0])

    start = min(max(down_to(sigma_start), 1), steps)
    rounds, current = [], start
    while current < steps:
        f = up_to(levels[current] + delta_f, current)
        b = max(down_to(levels[f] - delta_b), current)
        b = min(b, steps - 1)  # the last round's scoring step lands on the clean sample
        rounds.append((f, b))
        current = b + 1
    return PathPlan(start, tuple(rounds), steps)


@dataclass
class PathsSearch(InitialNoiseSearch):
    """Paths-N: N paths, each round M forward-noised copies of each, the best N survive."""

    name = "paths"
    summary = "search over paths: re-noise, denoise, keep the best N (Ma et al. 2025, Paths-N)"
    n: int | None = None  # paths kept; default 2, or as many as the budget pays for
    m: int = 4  # forward-noised copies of each path per round
    unit: str = "flow"  # unit of sigma_start, delta_f, delta_b: flow (interpolant time t), vp or edm
    sigma_start: float = 0.11  # noise level the initial paths are integrated down to
    delta_f: float = 0.78  # forward re-noising, a difference of levels in ``unit``
    delta_b: float = 0.81  # backward integration, a difference of levels in ``unit``
    legacy: ClassVar[dict] = {"unit": "vp"}  # what version 0.1.0 did

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n is not None and self.n < 1:
            raise InputError(f"n must be >= 1, got {self.n}")
        if self.m < 1:
            raise InputError(f"m must be >= 1, got {self.m}")
        check_unit(self.unit)
        require_level("sigma_start", self.sigma_start, self.unit, zero=False)
        for name in ("delta_f", "delta_b"):
            if not 0 < getattr(self, name) <= TOP[self.unit]:
                raise InputError(f"`{name}` in unit {self.unit} must be in (0, {TOP[self.unit]:g}], "
                                 f"got {getattr(self, name)}")

    def path_plan(self, process: DenoisingProcess) -> PathPlan:
        """The rounds, planned on the process's noise levels expressed in ``unit``."""
        levels = from_vp(process.noise_levels(), self.unit)
        return plan_paths(levels, self.sigma_start, self.delta_f, self.delta_b)

    def winner_path(self, searched: DenoisingProcess) -> list[int]:
        return self.path_plan(searched).path()

    def plan(self, process, budget):
        """N: given, or the largest the budget pays for, or the paper's 2."""
        searched = self.search_process(process)
        cost = self.path_plan(searched).steps_per_path(self.m) * searched.nfe_per_step
        budget = self.search_budget(process, budget, cost * (self.n or 1))
        n = self.n if self.n is not None else DEFAULT_N if budget is None else budget // cost
        return Plan(n, n * cost)

    def search(self, ctx: SearchContext, plan: Plan) -> None:
        n, n_problems, process = plan.size, ctx.n_problems, ctx.process
        paths = self.path_plan(process)
        # rows are problem-major: row = p * K + k, K = N paths (or N * M copies)
        problems = torch.arange(n_problems).repeat_interleave(n)
        record: Noises = {"x_T": ctx.noise.initial([(p, ("paths", k)) for p in range(n_problems)
                                                    for k in range(n)])}
        x, _ = self.advance(ctx, record["x_T"], problems, list(range(paths.start + 1)), record, ("init",))
        copies = problems  # no round when no state but the clean one is as low as sigma_start: best-of-N
        for r, (f, b) in enumerate(paths.rounds):
            copies = problems.repeat_interleave(self.m)
            record = {k: v.repeat_interleave(self.m, dim=0) for k, v in record.items()}
            renoise = ctx.noise.states(slotted(copies, ("paths", "renoise", r)))
            x = process.renoise(x.repeat_interleave(self.m, dim=0), current_state(paths, r), f, renoise)
            record["renoise"] = (torch.cat([record["renoise"], renoise[:, None]], 1)
                                 if "renoise" in record else renoise[:, None])
            x, x0 = self.advance(ctx, x, copies, list(range(f, b + 2)), record, ("round", r))
            if r == len(paths.rounds) - 1:  # the last round ends on the clean sample
                break
            _, scores = ctx.score(x0, copies, lookahead=True)  # earlier rounds are scored on x0_hat
            keep = best_per_problem(scores, n_problems, n * self.m, n)
            x, problems = x[keep], copies[keep]
            record = {k: v[keep] for k, v in record.items()}
        images, scores = ctx.score(x, copies)
        ctx.offer(copies, scores, images, record, [{"path": paths.path()}] * len(copies), path=paths.path())

    def advance(self, ctx: SearchContext, x: torch.Tensor, problems: torch.Tensor, path: list[int],
                record: Noises, tag: tuple) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Integrate rows along ``path``; their step noises go into ``record``."""
        steps = len(path) - 1
        noises = None
        if ctx.process.stochastic and steps > 0:
            rows = [(p, (*parts, i)) for p, parts in slotted(problems, ("paths", "step", *tag))
                    for i in range(steps)]
            noises = ctx.noise.steps(rows).reshape(len(problems), steps, *ctx.process.noise_shape)
            record["steps"] = torch.cat([record["steps"], noises], 1) if "steps" in record else noises
        return ctx.advance(x, problems, path, noises)


def slotted(problems: torch.Tensor, parts: tuple) -> list[tuple[int, tuple]]:
    """Noise rows ``(problem, (*parts, slot))``, the slot counting each problem's rows in order."""
    seen: dict[int, int] = {}
    rows = []
    for p in problems.tolist():
        rows.append((p, (*parts, seen.get(p, 0))))
        seen[p] = seen.get(p, 0) + 1
    return rows


def current_state(plan: PathPlan, r: int) -> int:
    """The state index the paths are at when round ``r`` begins."""
    return plan.start if r == 0 else plan.rounds[r - 1][1] + 1
