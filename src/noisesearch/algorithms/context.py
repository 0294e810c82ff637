"""The search context: what every algorithm receives, so that its file holds the search alone.

It holds the process, the verifier, the parsed and encoded conditions, the problems' ids,
the seed, the ledger, the keeper of the best candidates and the keyed-noise source, and
makes the calls every search makes: generate and score whole trajectories, advance states
along a path, predict x0_hat, score clean states, try a step's candidate noises. Every call
runs in chunks of ``max_batch`` rows and is charged to the ledger as it happens. ``result``
builds the ``SearchResult``; winners found with cheap search steps are regenerated there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..ledger import Ledger
from ..noise import NOISE_SCHEME, Noises, NoiseSource
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier
from .allocation import Allocator, StopRule
from .result import BestKeeper, ProblemResult, SearchResult
from .trajectory import concat_noises, follow_path, map_path, sample, score, steps_taken, straight_path

if TYPE_CHECKING:
    from .base import Algorithm, Plan


def cat_pairs(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunks' (a, b) outputs joined into (cat of a, cat of b)."""
    return torch.cat([a for a, _ in pairs]), torch.cat([b for _, b in pairs])


@dataclass
class SearchContext:
    algorithm: Algorithm
    process: DenoisingProcess  # candidates are generated with it (fewer steps with search_steps)
    final: DenoisingProcess  # the process winners are returned at
    verifier: Verifier
    conditions: list  # parsed, one per problem
    cond: torch.Tensor  # encoded, one row per problem
    ids: list[int]  # each problem's id in the run: part of every noise key
    seed: int
    budget: int | None  # NFEs per problem
    ledger: Ledger
    keeper: BestKeeper
    noise: NoiseSource
    allowance: list[int]  # each problem's NFEs it may spend (grown by the allocator)
    stop: StopRule | None = None  # ``stop_at`` and ``patience``, if any
    allocator: Allocator | None = None  # the run-wide budget's allocator, with ``allocate=halving``

    @classmethod
    def open(cls, algorithm: Algorithm, process: DenoisingProcess, verifier: Verifier,
             conditions: Sequence[Any], budget: int | None, seed: int, problem_ids: Sequence[int] | None,
             plan: Plan, progress: bool, noise: int = NOISE_SCHEME) -> SearchContext:
        """The context of one search; ``noise`` is its keyed-noise scheme (``noise.py``)."""
        conditions = [process.parse_condition(c) for c in conditions]
        ids = list(problem_ids) if problem_ids is not None else list(range(len(conditions)))
        searched = algorithm.search_process(process)
        ledger = Ledger(len(conditions), progress, planned=plan.nfe, description=algorithm.name)
        stop, allocator, allowance = None, None, [plan.nfe] * len(conditions)
        if algorithm.stop_at is not None or algorithm.patience is not None:
            stop = StopRule(algorithm.stop_at, algorithm.patience, plan.nfe)
        if algorithm.allocate == "halving":
            allocator = Allocator.halving(len(conditions), plan.nfe, algorithm.round_nfe(searched))
            allowance = allocator.allowance
        return cls(algorithm, searched, process, verifier, conditions, process.encode(conditions), ids, seed,
                   budget, ledger, BestKeeper(len(conditions), algorithm.top_k),
                   NoiseSource(searched, seed, ids, noise), allowance, stop, allocator)

    def __enter__(self) -> SearchContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ledger.close()

    @property
    def n_problems(self) -> int:
        return len(self.conditions)

    @property
    def max_batch(self) -> int:
        return self.algorithm.max_batch

    def chunked(self, fn: Callable[[slice], tuple[torch.Tensor, torch.Tensor]],
                n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``fn`` over chunks of ``range(n)`` of at most ``max_batch`` rows, outputs joined."""
        return cat_pairs(self.ledger.map_chunks(fn, n, self.max_batch))

    def conditions_of(self, rows: torch.Tensor) -> list:
        return [self.conditions[p] for p in rows.tolist()]

    # adaptive compute (allocation.py)

    def affordable(self, cost: int, limit: int | None = None) -> dict[int, int]:
        """{problem: how many units of ``cost`` NFEs it may spend in its next round (at most
        ``limit``)} for the problems that go on: budget left and not stopped by ``stop_at`` or
        ``patience``. When none can, the allocator (if any) grants more first."""
        while True:
            stopped = self.stopped()
            counts = {}
            for p in range(self.n_problems):
                units = (self.allowance[p] - int(self.ledger.nfe[p])) // cost
                units = units if limit is None else min(units, limit)
                if units > 0 and not stopped[p]:
                    counts[p] = units
            if counts or self.allocator is None:
                return counts
            if not self.allocator.grant(self.keeper.best_score, stopped, self.ledger.nfe.tolist(), cost):
                return counts

    def stopped(self) -> list[bool]:
        """Which problems ``stop_at`` or ``patience`` has stopped."""
        if self.stop is None:
            return [False] * self.n_problems
        keeper, spent = self.keeper, self.ledger.nfe.tolist()
        return [self.stop.stopped(keeper.best_score[p], spent[p], keeper.improved_at[p])
                for p in range(self.n_problems)]

    # the calls a search makes

    def generate(self, noises: Noises, problems: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate whole trajectories from their noises and score them; (images, scores).
        ``problems`` (B,) gives each row's problem."""
        def generate_and_score(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with self.ledger.timed(rows):
                batch = sample(self.process, {k: v[part] for k, v in noises.items()}, self.cond[rows], None,
                               self.ledger, rows)
                return batch, score(self.verifier, batch, self.conditions_of(rows), rows, self.ledger)

        return self.chunked(generate_and_score, len(problems))

    def advance(self, x: torch.Tensor, problems: torch.Tensor, path: Sequence[int],
                step_noises: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """States ``x`` moved along ``path``; (states, the last step's x0_hat; None for no step)."""
        if len(path) < 2:
            return x, None

        def advance(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with self.ledger.timed(rows), torch.no_grad():
                return follow_path(self.process, x[part], self.cond[rows], path,
                                   None if step_noises is None else step_noises[part], None,
                                   self.ledger, rows)

        return self.chunked(advance, len(x))

    def predict(self, x: torch.Tensor, i: int, problems: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps) at state ``i``; charged unless ``i`` is the clean end."""
        def predict(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with self.ledger.timed(rows), torch.no_grad():
                x0, eps = self.process.predict(x[part], i, self.cond[rows])
            if i < self.process.steps:
                self.ledger.charge_denoiser(rows, self.process.nfe_per_step)
            return x0, eps

        return self.chunked(predict, len(x))

    def score(self, x: torch.Tensor, problems: torch.Tensor,
              lookahead: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, verifier scores) of clean states or predictions ``x``; ``lookahead``: ``x`` are
        estimates of unfinished states (x0_hat, rollouts), recorded for the anytime curve."""
        def decode_and_score(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            rows = problems[part]
            with self.ledger.timed(rows), torch.no_grad():
                batch = self.process.decode(x[part])
                return batch, score(self.verifier, batch, self.conditions_of(rows), rows, self.ledger)

        images, scores = self.chunked(decode_and_score, len(x))
        if lookahead:
            self.keeper.look_ahead(problems, scores, self.ledger.nfe)
        return images, scores

    def try_noises(self, x: torch.Tensor, x0: torch.Tensor, eps: torch.Tensor, i: int, z: torch.Tensor,
                   problems: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Step rows from state ``i`` with candidate noises ``z`` and score each by the verifier on
        the clean prediction at the state it leads to (Ramesh & Mardani 2025, Sec. 4); returns
        (x_{i+1}, x0_hat, eps, score). The prediction is the one the next step uses, so a
        candidate costs one step's NFEs."""
        x_next = self.process.update(x, i, x0, eps, z)
        x0_next, eps_next = self.predict(x_next, i + 1, problems)
        _, scores = self.score(x0_next, problems, lookahead=True)
        return x_next, x0_next, eps_next, scores

    def start(self, per_problem: int) -> tuple[torch.Tensor, ...]:
        """``per_problem`` initial states per problem (problem-major rows; random search's
        candidates 0..n-1) and their predictions: (x_T, x0_hat, eps, problems)."""
        problems = torch.arange(self.n_problems).repeat_interleave(per_problem)
        x = self.noise.initial([(p, (j,)) for p in range(self.n_problems) for j in range(per_problem)])
        x0, eps = self.predict(x, 0, problems)
        return x, x0, eps, problems

    # keeping the best

    def offer(self, problems: torch.Tensor, scores: torch.Tensor, images: torch.Tensor, noises: Noises,
              recipes: Sequence[dict[str, Any]], path: list[int] | None = None) -> None:
        """Record scored candidates, one per row; a row that becomes its problem's best is kept
        with what regenerates it: its noises, its recipe (how they were keyed) and, off the
        straight path, its path."""
        for p, row in self.keeper.offer(problems, scores, images, self.ledger.nfe).items():
            winner = {"noises": {k: v[row:row + 1].clone() for k, v in noises.items()},
                      "recipe": recipes[row]}
            self.keeper.attach(p, winner if path is None else {**winner, "path": path})

    def finish(self, x: torch.Tensor, x_T: torch.Tensor, steps: torch.Tensor, problems: torch.Tensor,
               scored: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        """Score the finished states ``x`` of noise-trajectory searches (their x_T and committed step
        noises) and offer them; the recipe names each winner's row within its problem.
        ``scored``: their (images, scores) when the search has scored them already."""
        images, scores = self.score(x, problems) if scored is None else scored
        first = {p: int((problems < p).sum()) for p in set(problems.tolist())}
        recipes = [{"row": row - first[p]} for row, p in enumerate(problems.tolist())]
        self.offer(problems, scores, images, {"x_T": x_T, "steps": steps}, recipes)

    # the result

    def result(self, extra: dict[str, Any] | None = None) -> SearchResult:
        """Every problem's winner, its noises, recipe and record; ``extra`` holds per-problem
        tensors an algorithm keeps besides (indexed by problem on dim 0)."""
        winners = [self.keeper.winner(p, c) for p, c in enumerate(self.conditions)]
        images, scores = [w["image"] for w in winners], list(self.keeper.best_score)
        regenerated = self.process is not self.final
        if regenerated:
            images, scores = self.regenerate(winners)
        problems = []
        for p, condition in enumerate(self.conditions):
            best = winners[p]
            recipe = {"seed": self.seed, **best["recipe"]}
            if regenerated:
                recipe["search_steps"] = self.process.steps
                recipe["search_score"] = self.keeper.best_score[p]
            problems.append(ProblemResult(
                condition=condition, problem=self.ids[p], best_score=scores[p], best_image=images[p],
                noises=best["noises"], recipe=recipe, history=self.keeper.history[p],
                lookahead=self.keeper.lookahead[p],
                top=[(s, img) for s, _, img in self.keeper.top[p]],
                nfe=int(self.ledger.nfe[p]), verifier_calls=int(self.ledger.verifier_calls[p]),
                wall_s=float(self.ledger.wall_s[p]), failed=int(self.ledger.failed[p]),
                verifier_usage=self.ledger.problem_usage(p),
                extra={k: v[p] for k, v in (extra or {}).items()},
            ))
        return SearchResult(problems, self.algorithm.name, self.algorithm.options(), self.ledger.totals())

    def regenerate(self, winners: list[dict]) -> tuple[list[torch.Tensor], list[float]]:
        """Winners found with cheap search steps, at full steps: the same initial (and re-noising)
        noises, the path mapped by noise level (Ma et al. 2025, Sec. 4: cheap search
        candidates, full-step final samples); both costs are charged. On a stochastic sampler
        the full-step noises are fresh draws from the winner's keys. Winners that share a path
        are regenerated together."""
        searched, final = self.process, self.final
        paths = [map_path(w.get("path") or straight_path(searched), searched.noise_levels(),
                          final.noise_levels()) for w in winners]
        for p, (winner, path) in enumerate(zip(winners, paths, strict=True)):
            noises = {k: v for k, v in winner["noises"].items() if k != "steps"}
            if final.stochastic:
                fresh = [(p, ("regenerate-step", v)) for v in range(steps_taken(path))]
                noises["steps"] = self.noise.steps(fresh, final)[None]
            winner["noises"], winner["path"] = noises, path
            if path != straight_path(final):
                winner["recipe"] = {**winner["recipe"], "path": path}
        self.ledger.plan_more(sum(final.nfe_per_step * steps_taken(q) for q in paths))
        images: list[torch.Tensor] = [torch.empty(0)] * len(winners)
        scores = [0.0] * len(winners)
        for path in {tuple(q) for q in paths}:
            members = [p for p, q in enumerate(paths) if tuple(q) == path]

            def regenerate(part: slice, members: list[int] = members, path: tuple = path) -> None:
                rows = torch.tensor(members[part])
                noises = concat_noises([winners[p]["noises"] for p in members[part]])
                part_conditions = [self.conditions[p] for p in members[part]]
                with self.ledger.timed(rows):
                    cond = final.encode(part_conditions)
                    batch = sample(final, noises, cond, list(path), self.ledger, rows)
                    batch_scores = score(self.verifier, batch, part_conditions, rows, self.ledger)
                for j, p in enumerate(members[part]):
                    images[p], scores[p] = batch[j].detach().cpu(), float(batch_scores[j])

            self.ledger.map_chunks(regenerate, len(members), self.max_batch)
        return images, scores

