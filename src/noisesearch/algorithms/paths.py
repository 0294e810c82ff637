"""Search over paths (Ma et al. 2025, Sec. 3.2 "Search over Paths", Paths-N).

1. Sample N initial noises and integrate them down to noise level sigma_start.
2. Give every path M copies, each forward-noised with fresh noise through the exact forward
   process from its level sigma up to sigma + delta_f.
3. Integrate each copy back down by delta_b, take one more denoising step and score the
   verifier on that step's clean prediction x0_hat; keep the best N (per condition).
4. Repeat 2-3 until the schedule ends; the last round integrates the copies to the clean
   sample and the best finished sample is the result.

Noise levels are the process's normalised ones (``noise_levels()``: 1 is pure noise, 0
clean; sqrt(1 - alpha_bar) for variance-preserving processes). A target level is met by
the nearest state at or past it on the process's schedule; every round ends at least one
step further down than it started, so the search always finishes. Defaults are the
paper's ImageNet (SiT-XL) setting: sigma_start = 0.11, delta_f = 0.78, delta_b = 0.81,
N = 2, M = 4. With a budget and no ``n``, N is the largest that the budget pays for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InputError
from ..ledger import Ledger
from ..noise import keyed_normal
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier
from .initial_noise import InitialNoiseSearch, winner_payload
from .keeper import BestKeeper
from .result import SearchResult
from .trajectory import Noises, cat_pairs, decode_and_score, follow_path

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
    """Where each round re-noises to and integrates back to, on a schedule with these noise levels."""
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
    sigma_start: float = 0.11  # noise level the initial paths are integrated down to
    delta_f: float = 0.78  # forward re-noising, in normalised noise level
    delta_b: float = 0.81  # backward integration, in normalised noise level

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n is not None and self.n < 1:
            raise InputError(f"n must be >= 1, got {self.n}")
        if self.m < 1:
            raise InputError(f"m must be >= 1, got {self.m}")
        for name in ("sigma_start", "delta_f", "delta_b"):
            if not 0 < getattr(self, name) <= 1:
                raise InputError(f"{name} must be in (0, 1], got {getattr(self, name)}")

    def needs_budget(self) -> bool:
        return False

    def plan(self, process: DenoisingProcess) -> PathPlan:
        return plan_paths(process.noise_levels(), self.sigma_start, self.delta_f, self.delta_b)

    def winner_path(self, searched: DenoisingProcess) -> list[int]:
        return self.plan(searched).path()

    def paths(self, process: DenoisingProcess, budget: int | None) -> int:
        """N: given, or the largest the budget pays for, or the paper's 2."""
        searched = self.search_process(process)
        budget = self.search_budget(process, budget)
        cost = self.plan(searched).steps_per_path(self.m) * searched.nfe_per_step
        if budget is not None and budget < cost * (self.n or 1):
            raise InputError(f"budget {budget} NFEs is less than paths with n={self.n or 1}, m={self.m} "
                             f"cost ({cost * (self.n or 1)} NFEs); valid: a budget >= {cost * (self.n or 1)}")
        if self.n is not None:
            return self.n
        return DEFAULT_N if budget is None else budget // cost

    def check(self, process, budget, verifier=None):
        self.paths(process, budget)

    def run(self, process: DenoisingProcess, verifier: Verifier, conditions: Sequence[Any],
            budget: int | None = None, seed: int = 0, problem_ids: Sequence[int] | None = None,
            progress: bool = False) -> SearchResult:
        conditions = [process.parse_condition(c) for c in conditions]
        n_problems, n = len(conditions), self.paths(process, budget)
        ids = list(problem_ids) if problem_ids is not None else list(range(n_problems))
        searched = self.search_process(process)
        plan = self.plan(searched)
        cond = process.encode(conditions)
        ledger = Ledger(n_problems, budget, progress, description=f"{self.name} N={n} M={self.m}",
                        planned=n * plan.steps_per_path(self.m) * searched.nfe_per_step)
        keeper = BestKeeper(n_problems, self.top_k)

        def offer_finished(x: torch.Tensor, rows: torch.Tensor, record: Noises) -> None:
            images, scores = self.score_rows(searched, verifier, x, cond, conditions, rows, ledger)
            for p, row in keeper.offer(rows, scores, images, ledger.nfe).items():
                keeper.attach(p, {**winner_payload(record, row, path=plan.path()), "path": plan.path()})

        try:
            # rows are problem-major: row = p * K + k, K = N paths (or N * M copies)
            problems = torch.arange(n_problems).repeat_interleave(n)
            x_T = searched.prior([(seed, ids[p], "x_T", "paths", k)
                                  for p in range(n_problems) for k in range(n)])
            record: Noises = {"x_T": x_T}
            x, _ = self.advance(searched, x_T, cond, problems, list(range(plan.start + 1)), record,
                                seed, ids, ("init",), ledger)
            if not plan.rounds:  # no state is as low as sigma_start but the clean one: best-of-N
                offer_finished(x, problems, record)
            for r, (f, b) in enumerate(plan.rounds):
                copies = problems.repeat_interleave(self.m)
                record = {k: v.repeat_interleave(self.m, dim=0) for k, v in record.items()}
                renoise = self.keyed(searched, seed, ids, copies, ("renoise", r), (), searched.sample_shape)
                x = searched.renoise(x.repeat_interleave(self.m, dim=0), current_state(plan, r), f, renoise)
                record["renoise"] = (torch.cat([record["renoise"], renoise[:, None]], 1)
                                     if "renoise" in record else renoise[:, None])
                x, x0 = self.advance(searched, x, cond, copies, list(range(f, b + 2)), record, seed, ids,
                                     ("round", r), ledger)
                if r == len(plan.rounds) - 1:  # the last round ends on the clean sample
                    offer_finished(x, copies, record)
                    break
                # earlier rounds are scored on x0_hat
                _, scores = self.score_rows(searched, verifier, x0, cond, conditions, copies, ledger)
                keep = survivors(scores, n_problems, n, self.m)
                x, problems = x[keep], copies[keep]
                record = {k: v[keep] for k, v in record.items()}
            return self.collect(process, searched, verifier, conditions, ids, seed, keeper, ledger)
        finally:
            ledger.close()

    def advance(self, process: DenoisingProcess, x: torch.Tensor, cond: torch.Tensor,
                problems: torch.Tensor, path: list[int], record: Noises, seed: int, ids: list[int],
                tag: tuple, ledger: Ledger) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Integrate rows along ``path`` in chunks of max_batch; their step noises go into ``record``.

        Returns the states and the last step's clean predictions."""
        n_steps = len(path) - 1
        noises = None
        if process.stochastic and n_steps > 0:
            noises = self.keyed(process, seed, ids, problems, ("step", *tag), range(n_steps),
                                process.noise_shape)
            record["steps"] = torch.cat([record["steps"], noises], 1) if "steps" in record else noises
        if n_steps == 0:
            return x, None
        def advance(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with ledger.timed(rows), torch.no_grad():
                return follow_path(process, x[part], cond[rows], path,
                                   None if noises is None else noises[part], None, ledger, rows)

        return cat_pairs(ledger.map_chunks(advance, len(x), self.max_batch))

    def score_rows(self, process: DenoisingProcess, verifier: Verifier, x: torch.Tensor, cond: torch.Tensor,
                   conditions: list, problems: torch.Tensor,
                   ledger: Ledger) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, scores) of decoded states ``x``, in chunks of max_batch."""
        return decode_and_score(process, verifier, x, conditions, problems, ledger, self.max_batch)

    def keyed(self, process: DenoisingProcess, seed: int, ids: list[int], problems: torch.Tensor,
              tag: tuple, steps: Sequence[int] | tuple, shape: tuple[int, ...]) -> torch.Tensor:
        """Fresh noise per row (B, [len(steps),] *shape), keyed by problem, row slot, tag and step."""
        per_problem: dict[int, int] = {}
        rows = []
        for p in problems.tolist():
            slot = per_problem.get(p, 0)
            per_problem[p] = slot + 1
            if steps == ():
                rows.append(keyed_normal([(seed, ids[p], "paths", *tag, slot)], shape, process.device,
                                         process.dtype)[0])
            else:
                rows.append(keyed_normal([(seed, ids[p], "paths", *tag, slot, i) for i in steps], shape,
                                         process.device, process.dtype))
        return torch.stack(rows)


def current_state(plan: PathPlan, r: int) -> int:
    """The state index the paths are at when round ``r`` begins."""
    return plan.start if r == 0 else plan.rounds[r - 1][1] + 1


def survivors(scores: torch.Tensor, n_problems: int, n: int, m: int) -> torch.Tensor:
    """Row indices of the best N of each problem's N * M copies (ties keep the earlier copy)."""
    per_problem = scores.reshape(n_problems, n * m)
    order = torch.sort(-per_problem, dim=1, stable=True).indices[:, :n]
    return (order + torch.arange(n_problems)[:, None] * (n * m)).flatten()
