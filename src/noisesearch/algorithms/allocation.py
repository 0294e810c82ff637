"""Adaptive compute: when a condition's search stops, and how a run-wide budget is spread.

Most conditions are easy and a few are hard, so a uniform budget per condition spends most
of its compute where the verifier is already satisfied. Algorithms that search in rounds
(``Algorithm.round_nfe``: random search, zero-order search, spectral evolution search) ask
the context before every round which conditions may go on (``SearchContext.affordable``);
the answer comes from two rules and one allocator, all decided between rounds from the
verifier's scores alone, so that the same seed and budget give the same allocation and the
same winners for any batch size and executor.

Per condition, in the spirit of the adaptive termination of ABCD (Lee et al. 2025, "Adaptive
Inference-Time Scaling via Cyclic Diffusion Search", arXiv 2505.14036: a search ends when
its instance needs no more compute); the two rules are this module's own:

- ``stop_at``: a condition stops once its best verifier score is >= ``stop_at``;
- ``patience``: a condition stops once its best score has not improved over the last
  ``patience`` x ``budget`` NFEs it spent (``budget``: the per-condition budget, or the
  run-wide budget's average share).

Across conditions (``allocate="halving"``): the run's budget is ``budget`` x P NFEs for P
conditions, spent in grants. Every condition first gets a quarter of the uniform share (at
least one round). Then, whenever no condition can afford another round, one more grant of
that size goes to each condition in the lower half, by best verifier score, of those still
in need: not stopped and improved by their last grant (a stalled condition gives way to
one still improving; when none improves, the lower half of all conditions not stopped).
The rule borrows from sequential halving (Karnin, Koren & Somekh 2013, "Almost Optimal
Exploration in Multi-Armed Bandits", Algorithm 1) its rounds of equal grants to a half of
the arms ranked by their scores, turned around for this goal: the half kept is the one
that needs compute (low score), not the best, and the arms are ranked again every round
instead of eliminated; only the stop rules take an arm out for good, and a stalled arm
waits until no arm improves. Ties are broken by the condition's index. The NFEs
that satisfied conditions leave unspent go to the others; when every condition has
stopped, the rest of the budget is not spent, and the ledger shows what was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

ALLOCATIONS = ("uniform", "halving")
FIRST_SHARE = 0.25  # the share of the uniform budget every condition starts with under halving


@dataclass
class StopRule:
    """``stop_at`` and ``patience`` (a share of ``budget``) for P conditions."""

    stop_at: float | None
    patience: float | None
    budget: int

    def stopped(self, best: float, spent: int, improved_at: int) -> bool:
        """Whether a condition whose best score is ``best`` (last improved when it had spent
        ``improved_at`` NFEs, now ``spent``) stops."""
        if self.stop_at is not None and best >= self.stop_at:
            return True
        return self.patience is not None and spent - improved_at >= self.patience * self.budget


@dataclass
class Allocator:
    """A run-wide budget spread in grants by halving (the module's docstring)."""

    n_problems: int
    total: int  # NFEs for the whole run
    unit: int  # NFEs of one grant: a multiple of the algorithm's round
    allowance: list[int] = field(init=False)  # each condition's NFEs granted so far
    pool: int = field(init=False)  # NFEs not yet granted
    at_grant: list[float] = field(init=False)  # each condition's best score when it got its last grant

    def __post_init__(self) -> None:
        first = min(self.unit, self.total // self.n_problems)
        self.allowance = [first] * self.n_problems
        self.pool = self.total - first * self.n_problems
        self.at_grant = [-math.inf] * self.n_problems

    @classmethod
    def halving(cls, n_problems: int, budget: int, round_nfe: int) -> Allocator:
        """The allocator of ``budget`` NFEs per condition on average, granted in units of a quarter
        of that (at least one round of ``round_nfe``), rounded down to whole rounds."""
        unit = max(round_nfe, int(FIRST_SHARE * budget) // round_nfe * round_nfe)
        return cls(n_problems, budget * n_problems, unit)

    def grant(self, best: list[float], stopped: list[bool], spent: list[int], round_nfe: int) -> bool:
        """One more grant each to the lower half of the conditions still in need, after taking
        back what stopped conditions left unspent; False when there is nothing left to give or
        nobody to give it to."""
        for p in range(self.n_problems):
            if stopped[p] and self.allowance[p] > spent[p]:
                self.pool += self.allowance[p] - spent[p]
                self.allowance[p] = spent[p]
        open_ = [p for p in range(self.n_problems) if not stopped[p]]
        improving = [p for p in open_ if best[p] > self.at_grant[p]]
        candidates = sorted(improving or open_, key=lambda p: (best[p], p))
        chosen = candidates[:math.ceil(len(candidates) / 2)]
        given = False
        for p in chosen:
            amount = min(self.unit, self.pool // round_nfe * round_nfe)
            if amount <= 0:
                break
            self.allowance[p] += amount
            self.pool -= amount
            self.at_grant[p] = best[p]
            given = True
        return given
