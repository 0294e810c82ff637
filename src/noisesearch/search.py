"""The Python entry point: ``search(process, verifier, conditions, algorithm=..., budget=..., seed=...)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .algorithms import Algorithm, SearchResult
    from .judges import Judge, SetJudge
    from .processes import DenoisingProcess
    from .verifiers import Verifier


def search(process: str | DenoisingProcess, verifier: str | Callable | Verifier,
           conditions: Sequence[Any], algorithm: str | Algorithm = "random",
           budget: int | None = None, seed: int = 0,
           judges: Sequence[str | Judge | SetJudge] | None = None, problem_ids: Sequence[int] | None = None,
           progress: bool = False, **options: Any) -> SearchResult:
    """Search for the best noise for every condition and judge the winners.

    ``budget`` is in NFEs per condition; without one, an algorithm whose options do not fix
    its work gets 16 generations' worth, as on the command line (``RunSpec.resolve``).
    ``options`` are the algorithm's (e.g. ``n=16``). ``judges`` defaults to the process's
    held-out judges; pass ``[]`` for none.
    """
    from .catalogue import load_judge, load_verifier
    from .spec import RunSpec

    spec = RunSpec(model=process if isinstance(process, str) else process.name,
                   verifier=verifier if isinstance(verifier, str) else None,
                   algorithm=algorithm if isinstance(algorithm, str) else algorithm.name, options=options,
                   budget=budget, seed=seed, conditions=list(conditions))
    loaded = None if judges is None else [load_judge(j) if isinstance(j, str) else j for j in judges]
    run = spec.resolve(process=None if isinstance(process, str) else process,
                       verifier=None if isinstance(verifier, str) else load_verifier(verifier),
                       algorithm=None if isinstance(algorithm, str) else algorithm, judges=loaded)
    return run.search(problem_ids=problem_ids, progress=progress)
