"""Search algorithms by name."""

from __future__ import annotations

from typing import Any

from ..errors import unknown
from .base import Algorithm, Plan, parse_options
from .beam import SVDD, BeamSearch
from .eps_greedy import EpsGreedy, ZeroOrderSteps
from .mcts import MCTS
from .noise_gradient import NoiseGradient
from .paths import PathsSearch
from .random_search import RandomSearch
from .result import ProblemResult, SearchResult
from .ses import SES
from .smc import SMC
from .zero_order import ZeroOrderSearch

ALGORITHMS: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (RandomSearch, ZeroOrderSearch, SES, PathsSearch, NoiseGradient,
                              EpsGreedy, ZeroOrderSteps, BeamSearch, SVDD, MCTS, SMC)
}


def load_algorithm(name: str | Algorithm, **options: Any) -> Algorithm:
    """An algorithm by name with its options, or an Algorithm instance unchanged."""
    if isinstance(name, Algorithm):
        return name
    if name not in ALGORITHMS:
        raise unknown("algorithm", name, ALGORITHMS)
    return ALGORITHMS[name](**options)


__all__ = ["ALGORITHMS", "Algorithm", "Plan", "ProblemResult", "SearchResult", "load_algorithm",
           "parse_options"]
