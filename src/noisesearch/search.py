"""The Python entry point: ``search(process, verifier, conditions, algorithm=..., budget=..., seed=...)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .algorithms import Algorithm, ProblemResult, SearchResult, load_algorithm
from .catalogue import DEFAULT_JUDGES, bind, load_judge, load_process, load_verifier
from .judges import Judge, SetJudge
from .processes import DenoisingProcess
from .verifiers import Verifier


def search(process: str | DenoisingProcess, verifier: str | Callable | Verifier,
           conditions: Sequence[Any], algorithm: str | Algorithm = "random",
           budget: int | None = None, seed: int = 0,
           judges: Sequence[str | Judge | SetJudge] | None = None, problem_ids: Sequence[int] | None = None,
           progress: bool = False, **options: Any) -> SearchResult:
    """Search for the best noise for every condition and judge the winners.

    ``budget`` is in NFEs per condition. ``options`` are the algorithm's (e.g. ``n=16``).
    ``judges`` defaults to the process's held-out judges; pass ``[]`` for none.
    """
    process = load_process(process) if isinstance(process, str) else process
    verifier = bind(load_verifier(verifier), process)
    algorithm = load_algorithm(algorithm, **options)
    judges = [load_judge(j) if isinstance(j, str) else j
              for j in (DEFAULT_JUDGES.get(process.name, []) if judges is None else judges)]
    result = algorithm.run(process, verifier, conditions, budget=budget, seed=seed,
                           problem_ids=problem_ids, progress=progress)
    judge_winners(result, judges)
    return result


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
