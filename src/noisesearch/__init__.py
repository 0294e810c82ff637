"""noisesearch: inference-time scaling for diffusion models by searching over noise."""

from .algorithms import ALGORITHMS, Algorithm, ProblemResult, SearchResult, load_algorithm
from .judges import JUDGES, Judge, load_judge
from .ledger import Ledger
from .processes import PROCESSES, DenoisingProcess, load_process
from .search import search
from .spec import BenchSpec, Run, RunSpec
from .verifiers import VERIFIERS, Verifier, load_verifier

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS", "JUDGES", "PROCESSES", "VERIFIERS", "Algorithm", "BenchSpec", "DenoisingProcess", "Judge",
    "Ledger", "ProblemResult", "Run", "RunSpec", "SearchResult", "Verifier", "load_algorithm", "load_judge",
    "load_process", "load_verifier", "search", "__version__",
]
