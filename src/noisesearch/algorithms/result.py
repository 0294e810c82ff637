"""What a search returns (per condition: the winner, its noises and the whole record), and the
keeper that collects it while the search runs."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import RunError

if TYPE_CHECKING:
    import torch


@dataclass
class ProblemResult:
    """The outcome of the search for one condition."""

    condition: Any
    problem: int  # the problem's index in the run: part of every noise key
    best_score: float
    best_image: torch.Tensor  # decoded output of the winner
    noises: dict[str, torch.Tensor]  # the winner's noises: "x_T" and, on stochastic samplers, "steps"
    recipe: dict[str, Any]  # how the winner's noises were keyed
    history: list[tuple[int, float]]  # (problem's NFEs spent when scored, score) for every finished candidate
    top: list[tuple[float, torch.Tensor]]  # the best candidates, (score, image), best first
    nfe: int = 0
    verifier_calls: int = 0
    wall_s: float = 0.0
    failed: int = 0  # candidates lost to NaN or Inf from the model or the verifier
    verifier_usage: dict[str, float] = field(default_factory=dict)  # the verifier's counters (cache hits)
    judges: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. smc's final particles and their weights
    # (NFEs, score) of look-aheads: unfinished states scored on x0_hat or a rollout (trajectory searches)
    lookahead: list[tuple[int, float]] = field(default_factory=list)

    def best_so_far(self) -> list[tuple[int, float]]:
        """The anytime curve: (NFEs spent, best score the verifier has given so far) after every
        scored candidate, finished or look-ahead, in the order of NFEs spent."""
        return best_so_far(sorted(self.lookahead + self.history, key=lambda point: point[0]))


def best_so_far(scored: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """(NFEs, running maximum of the scores), from the first finite score on."""
    curve, best = [], -float("inf")
    for nfe, score in scored:
        best = max(best, score)
        if best > -float("inf"):  # nothing before the first candidate that did not fail
            curve.append((nfe, best))
    return curve


@dataclass
class SearchResult:
    """Per-condition results plus the run's ledger totals."""

    problems: list[ProblemResult]
    algorithm: str
    options: dict[str, Any]
    totals: dict[str, float]
    set_judges: dict[str, dict[str, float]] = field(default_factory=dict)  # judges of the set of winners

    def __getitem__(self, index: int) -> ProblemResult:
        return self.problems[index]

    def __len__(self) -> int:
        return len(self.problems)


class BestKeeper:
    """Tracks, for P problems, every scored candidate and the best one.

    A candidate replaces the best only with a strictly higher score, so ties keep the
    earlier candidate and the outcome does not depend on chunking.
    """

    def __init__(self, n_problems: int, top_k: int = 8) -> None:
        self.top_k = top_k
        self.best_score = [-float("inf")] * n_problems
        self.best: list[dict[str, Any] | None] = [None] * n_problems
        self.history: list[list[tuple[int, float]]] = [[] for _ in range(n_problems)]
        self.lookahead: list[list[tuple[int, float]]] = [[] for _ in range(n_problems)]
        self.scored_at = [0] * n_problems  # each problem's NFEs when its last candidates were scored
        self.improved_at = [0] * n_problems  # each problem's NFEs when its best score last rose
        self.top: list[list[tuple[float, int, torch.Tensor]]] = [[] for _ in range(n_problems)]
        self._order = 0

    def offer(self, problems: torch.Tensor, scores: torch.Tensor, images: torch.Tensor,
              nfe: torch.Tensor) -> dict[int, int]:
        """Record a scored batch; returns {problem: row} for every problem whose best is now a row.

        The caller then adds what regenerates that row (noises, recipe) with ``attach``.
        """
        new_best: dict[int, int] = {}
        spent = self.spent(problems, nfe)
        for row, (p, s) in enumerate(zip(problems.tolist(), scores.tolist(), strict=True)):
            self.history[p].append((spent[row], s))
            if s > self.best_score[p]:
                self.best_score[p] = s
                self.improved_at[p] = spent[row]
                self.best[p] = {"image": images[row].detach().cpu().clone()}
                new_best[p] = row
            self._order += 1
            top = self.top[p]
            if len(top) < self.top_k or s > top[-1][0]:
                top.append((s, self._order, images[row].detach().cpu().clone()))
                top.sort(key=lambda item: (-item[0], item[1]))
                del top[self.top_k:]
        return new_best

    def spent(self, problems: torch.Tensor, nfe: torch.Tensor) -> list[int]:
        """Each row's NFEs "when it was scored": the work since its problem's last scoring, split
        evenly among the problem's rows in this batch in order, as if they had been computed one
        after another; the last row of a problem is at ``nfe[p]``. So the anytime curve does not
        depend on how candidates were batched."""
        rows = problems.tolist()
        count, seen = Counter(rows), Counter()
        out = []
        for p in rows:
            seen[p] += 1
            start = self.scored_at[p]
            out.append(start + (int(nfe[p]) - start) * seen[p] // count[p])
        for p in count:
            self.scored_at[p] = int(nfe[p])
        return out

    def look_ahead(self, problems: torch.Tensor, scores: torch.Tensor, nfe: torch.Tensor) -> None:
        """Record scores of unfinished states (x0_hat of a step's candidates, rollouts): they enter
        the anytime curve, never the winners."""
        spent = self.spent(problems, nfe)
        for row, (p, s) in enumerate(zip(problems.tolist(), scores.tolist(), strict=True)):
            if math.isfinite(s):
                self.lookahead[p].append((spent[row], s))

    def winner(self, problem: int, condition: Any) -> dict[str, Any]:
        """The best candidate of ``problem``; ``RunError`` when every candidate failed."""
        if self.best[problem] is None:
            raise RunError(f"every candidate for condition {condition!r} failed "
                           "(NaN or Inf from the model or the verifier)")
        return self.best[problem]

    def attach(self, problem: int, payload: dict[str, Any]) -> None:
        """Store how the current best of ``problem`` is regenerated (its noises, recipe, path)."""
        self.best[problem].update(payload)
