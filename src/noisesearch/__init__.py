"""noisesearch: inference-time scaling for diffusion models by searching over noise.

The names below are imported on first use (``lazy.py``), so that ``import noisesearch`` and the
command line start without loading torch, diffusers or transformers.
"""

from typing import TYPE_CHECKING

from .lazy import lazy_exports
from .search import search  # eager: ``noisesearch.search`` is the function, not its module

__version__ = "0.2.0"

__all__ = [
    "ALGORITHMS", "JUDGES", "MODELS", "SUITES", "VERIFIERS", "Algorithm", "BenchSpec", "DenoisingProcess",
    "Judge", "Ledger", "ProblemResult", "Run", "RunSpec", "SearchResult", "Verifier", "load_algorithm",
    "load_judge", "load_process", "load_suite", "load_verifier", "search", "__version__",
]

_EXPORTS = {
    ".algorithms": ["ALGORITHMS", "Algorithm", "ProblemResult", "SearchResult", "load_algorithm"],
    ".catalogue": ["JUDGES", "MODELS", "SUITES", "VERIFIERS", "load_judge", "load_process", "load_suite",
                   "load_verifier"],
    ".judges": ["Judge"], ".ledger": ["Ledger"], ".processes": ["DenoisingProcess"],
    ".spec": ["BenchSpec", "Run", "RunSpec"], ".verifiers": ["Verifier"],
}

__getattr__ = lazy_exports(__name__, {name: module for module, names in _EXPORTS.items() for name in names})

if TYPE_CHECKING:
    from .algorithms import ALGORITHMS, Algorithm, ProblemResult, SearchResult, load_algorithm
    from .catalogue import (
        JUDGES,
        MODELS,
        SUITES,
        VERIFIERS,
        load_judge,
        load_process,
        load_suite,
        load_verifier,
    )
    from .judges import Judge
    from .ledger import Ledger
    from .processes import DenoisingProcess
    from .spec import BenchSpec, Run, RunSpec
    from .verifiers import Verifier
