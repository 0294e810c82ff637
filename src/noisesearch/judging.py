"""Judging winners: held-out judges applied after the search, never during it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .judges import Judge, SetJudge
from .lazy import torch

if TYPE_CHECKING:
    from .algorithms import ProblemResult, SearchResult


def judge_winners(result: SearchResult, judges: Sequence[Judge | SetJudge]) -> None:
    """Fill every problem's ``judges`` with each judge's metrics on its winner, and the result's
    ``set_judges`` with the metrics of judges of the whole set."""
    if not judges or not result.problems:
        return
    result.set_judges.update(judge_set(result.problems, [j for j in judges if isinstance(j, SetJudge)]))
    images = torch.stack([p.best_image for p in result.problems])
    conditions = [p.condition for p in result.problems]
    for judge in judges:
        if isinstance(judge, SetJudge):
            continue
        metrics = judge.evaluate(images, conditions)
        for i, problem in enumerate(result.problems):
            problem.judges[judge.name] = {k: float(v[i]) for k, v in metrics.items()}


def judge_set(problems: Sequence[ProblemResult], judges: Sequence[SetJudge]) -> dict[str, dict[str, float]]:
    """Each set judge's metrics on the winners of ``problems`` together."""
    if not judges or not problems:
        return {}
    return set_metrics(torch.stack([p.best_image for p in problems]), [p.condition for p in problems], judges)


def set_metrics(images: torch.Tensor, conditions: Sequence[Any],
                judges: Sequence[SetJudge]) -> dict[str, dict[str, float]]:
    """Each set judge's metrics on a set of winners."""
    return {judge.name: judge.evaluate_set(images, conditions) for judge in judges}
