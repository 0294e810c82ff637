"""noisesearch: inference-time scaling for diffusion models by searching over noise."""

from .algorithms import ALGORITHMS, Algorithm, ProblemResult, SearchResult, load_algorithm
from .catalogue import JUDGES, MODELS, SUITES, VERIFIERS, load_judge, load_process, load_suite, load_verifier
from .judges import Judge
from .ledger import Ledger
from .processes import DenoisingProcess
from .search import search
from .spec import BenchSpec, Run, RunSpec
from .verifiers import Verifier

__version__ = "0.2.0"

__all__ = [
    "ALGORITHMS", "JUDGES", "MODELS", "SUITES", "VERIFIERS", "Algorithm", "BenchSpec", "DenoisingProcess",
    "Judge", "Ledger", "ProblemResult", "Run", "RunSpec", "SearchResult", "Verifier", "load_algorithm",
    "load_judge", "load_process", "load_suite", "load_verifier", "search", "__version__",
]
