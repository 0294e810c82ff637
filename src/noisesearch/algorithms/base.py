"""Algorithm: the search logic, with its options as dataclass fields.

``Algorithm.run`` is the only ``run``: it checks the options against the process, verifier
and budget (``check`` -> ``Plan``), opens a ``SearchContext`` and calls the algorithm's own
``search(ctx, plan)``, which reads like its paper's pseudo-code; the context builds the
result. Error messages name options in backticks (`` `budget` ``, `` `n=16` ``), never
command-line flags; the command line shows its flags instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InputError
from ..noise import NOISE_SCHEME
from .allocation import ALLOCATIONS
from .trajectory import map_path, steps_taken, straight_path

if TYPE_CHECKING:
    from ..processes.base import DenoisingProcess
    from ..verifiers.base import Verifier
    from .context import SearchContext
    from .result import SearchResult

DEFAULT_GENERATIONS = 16  # a run's budget, in generations, when the options do not fix the work
ADAPTIVE_DEFAULTS = {"stop_at": None, "patience": None, "allocate": "uniform"}


@dataclass(frozen=True)
class Plan:
    """How much an algorithm will compute per condition: its size (N candidates, iterations,
    paths, particles ...: the algorithm's own measure) and the NFEs it means to spend."""

    size: int
    nfe: int


@dataclass
class Algorithm:
    """Base class: options as fields; subclasses implement ``plan`` and ``search``."""

    name: ClassVar[str] = "algorithm"
    summary: ClassVar[str] = ""
    sampler: ClassVar[str | None] = None  # the sampler it needs when none is asked for
    scaled: ClassVar[tuple[str, int] | None] = None  # the option at_budget sizes, and its least value
    needs_gradients: ClassVar[bool] = False  # whether it backpropagates through process and verifier
    rounds: ClassVar[bool] = False  # whether it can stop a condition between rounds (adaptive compute)
    # option values that reproduce a run written by 0.1.0, for options added since (a config.json
    # written before 0.2.0 lacks them: ``RunSpec.from_json`` fills them in from here)
    legacy: ClassVar[dict[str, Any]] = {}
    max_batch: int = 256  # rows handed to the process per call (memory); results do not depend on it
    top_k: int = 8  # how many of the best candidates to keep per condition
    # adaptive compute (``allocation.py``), for algorithms that search in rounds (``round_nfe``)
    stop_at: float | None = None  # a condition stops once its best verifier score reaches this
    patience: float | None = None  # ... or once it has not improved over this share of the budget
    allocate: str = "uniform"  # uniform: ``budget`` per condition | halving: ``budget`` x P for the run

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise InputError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.top_k < 1:
            raise InputError(f"top_k must be >= 1, got {self.top_k}")
        if self.allocate not in ALLOCATIONS:
            raise InputError(f"allocate {self.allocate!r} is unknown; valid: {', '.join(ALLOCATIONS)}")
        if self.patience is not None and not self.patience > 0:
            raise InputError(f"patience is a share of the budget > 0, got {self.patience}")
        if self.adapts_compute and not self.rounds:
            from . import ALGORITHMS

            names = [name for name, cls in ALGORITHMS.items() if cls.rounds]
            raise InputError(f"{self.name} cannot stop between rounds, so `stop_at`, `patience` and "
                             f"`allocate=halving` do not apply; valid: {', '.join(names)}")

    @property
    def adapts_compute(self) -> bool:
        """Whether conditions may stop early or share a run-wide budget."""
        return self.stop_at is not None or self.patience is not None or self.allocate != "uniform"

    def options(self) -> dict[str, Any]:
        """The options, without the adaptive-compute ones left at their defaults (so that the
        config.json of a run that does not use them reads as before they existed)."""
        options = dataclasses.asdict(self)
        for name, default in ADAPTIVE_DEFAULTS.items():
            if options[name] == default:
                del options[name]
        return options

    def round_nfe(self, process: DenoisingProcess) -> int:
        """The NFEs of one round per condition, for algorithms that search in rounds (``rounds``):
        the unit in which a run-wide budget is granted."""
        raise NotImplementedError

    # sizing

    def plan(self, process: DenoisingProcess, budget: int | None) -> Plan:
        """The work the options and ``budget`` (NFEs per condition) imply; ``InputError`` if they
        cannot be met."""
        raise NotImplementedError

    def within(self, plan: Plan, budget: int | None) -> Plan:
        """``plan``, or ``InputError`` if it spends more than ``budget``."""
        if budget is not None and plan.nfe > budget:
            raise InputError(f"{self.name} with these options spends {plan.nfe} NFEs per condition, more "
                             f"than the budget of {budget}; valid: a budget >= {plan.nfe} or smaller options")
        return plan

    def default_budget(self, process: DenoisingProcess) -> int | None:
        """The budget of a run that names none: None when the options fix the work (``plan``
        succeeds without a budget), otherwise ``DEFAULT_GENERATIONS`` generations."""
        try:
            self.plan(process, None)
        except InputError:
            return DEFAULT_GENERATIONS * process.generation_nfe
        return None

    def check(self, process: DenoisingProcess, verifier: Verifier | None = None,
              budget: int | None = None) -> Plan:
        """``plan`` after checking that the process (and verifier, if given) suit the algorithm;
        called before anything is written."""
        self.require(process, verifier)
        return self.plan(process, budget)

    def require(self, process: DenoisingProcess, verifier: Verifier | None) -> None:
        """Raise ``InputError`` if the process or verifier cannot be searched this way."""
        if not self.needs_gradients:
            return
        if not process.differentiable:
            raise InputError(f"{self.name} needs a differentiable process; {process.name!r} is not")
        if verifier is not None and not verifier.differentiable:
            raise InputError(f"{self.name} needs a differentiable verifier; {verifier.name!r} is not; "
                             "valid: a verifier marked differentiable, or a callable marked differentiable")

    def at_budget(self, process: DenoisingProcess, budget: int) -> Algorithm:
        """This algorithm set up to spend at most ``budget`` NFEs per condition (for sweeps at
        matched compute): a copy with the ``scaled`` option at the largest value that fits, or
        itself when its size follows the budget."""
        if self.scaled is None:
            return self
        option, value = self.scaled
        sized = dataclasses.replace(self, **{option: value})
        least = sized.plan(process, None).nfe
        if least > budget:
            raise InputError(f"{self.name} spends {least} NFEs per condition at {option}={value}, more "
                             f"than the budget of {budget}; valid: a budget >= {least}")
        while True:
            bigger = dataclasses.replace(sized, **{option: getattr(sized, option) + 1})
            if bigger.plan(process, None).nfe > budget:
                return sized
            sized = bigger

    # searching

    def search_process(self, process: DenoisingProcess) -> DenoisingProcess:
        """The process candidates are generated with (the run's own, unless cheap search steps)."""
        return process

    def run(self, process: DenoisingProcess, verifier: Verifier, conditions: Sequence[Any],
            budget: int | None = None, seed: int = 0, problem_ids: Sequence[int] | None = None,
            progress: bool = False, noise: int = NOISE_SCHEME) -> SearchResult:
        """Search every condition (``budget`` in NFEs per condition) and return the winners;
        ``noise`` is the keyed-noise scheme (``noise.py``; 1 re-runs a search of 0.1.0)."""
        from .context import SearchContext

        plan = self.check(process, verifier, budget)
        with SearchContext.open(self, process, verifier, conditions, budget, seed, problem_ids,
                                plan, progress, noise) as ctx:
            extra = self.search(ctx, plan)
            return ctx.result(extra)

    def search(self, ctx: SearchContext, plan: Plan) -> dict[str, Any] | None:
        """The search proper: offers candidates to ``ctx``; returns per-problem extras, if any."""
        raise NotImplementedError


@dataclass
class InitialNoiseSearch(Algorithm):
    """Base of the searches over the initial noise: cheap search steps.

    Ma et al. 2025, Sec. 4 (50 NFEs per SiT-XL search candidate, 250 for the final sample):
    with ``search_steps = K`` candidates are generated by the same model and sampler with K
    steps, and the winner is regenerated at the process's full steps from its initial noise
    (and, for search over paths, its re-noising noises at the same noise levels), then
    scored again (``SearchContext.regenerate``); both costs are charged. On a stochastic
    sampler the regenerated trajectory's step noises are drawn fresh, so cheap search steps
    fit the ``ode`` sampler best, where the initial noise alone fixes the sample.
    """

    search_steps: int | None = None  # steps of the search candidates; None: the process's own

    def search_process(self, process: DenoisingProcess) -> DenoisingProcess:
        if self.search_steps is None or self.search_steps == process.steps:
            return process
        if not 1 <= self.search_steps < process.steps:
            raise InputError(f"search_steps must be in 1..{process.steps - 1} (the final sample has "
                             f"{process.steps} steps), got {self.search_steps}")
        return process.with_steps(self.search_steps)

    def iterations_plan(self, process: DenoisingProcess, budget: int | None, candidates: int | None) -> Plan:
        """The plan of a search in iterations (zero-order, ses): ``candidates`` generations when
        its ``iterations`` fix them, else as many as the budget pays for (size: generations)."""
        cost = self.search_process(process).generation_nfe
        budget = self.search_budget(process, budget, cost)
        if candidates is not None:
            return self.within(Plan(candidates, candidates * cost), budget)
        if budget is None:
            raise InputError(f"{self.name} needs a budget or iterations; e.g. "
                             f"`budget={DEFAULT_GENERATIONS * cost}` or `iterations=4`")
        return Plan(budget // cost, budget // cost * cost)

    def winner_path(self, searched: DenoisingProcess) -> list[int]:
        """The state indices a winner visits on the search schedule (straight for most algorithms)."""
        return straight_path(searched)

    def search_budget(self, process: DenoisingProcess, budget: int | None, least: int) -> int | None:
        """The NFEs left for the search once the full-step regeneration of the winner is paid;
        ``InputError`` if that is less than ``least``, the search's smallest spend."""
        searched = self.search_process(process)
        regeneration = 0
        if searched is not process:
            path = map_path(self.winner_path(searched), searched.noise_levels(), process.noise_levels())
            regeneration = steps_taken(path) * process.nfe_per_step
        if budget is None:
            return None
        if budget - regeneration < least:
            plus = f" plus {regeneration} to regenerate the winner at full steps" if regeneration else ""
            raise InputError(f"budget {budget} NFEs is too small: {self.name} needs at least {least} NFEs"
                             f"{plus}; valid: a budget >= {least + regeneration}")
        return budget - regeneration


@dataclass
class StepwiseSearch(Algorithm):
    """Base of the noise-trajectory searches (Ramesh & Mardani 2025): the noise a stochastic
    sampler injects at every step is searched, so the sampler must inject some."""

    sampler = "sde"

    def require(self, process: DenoisingProcess, verifier: Verifier | None) -> None:
        if not process.stochastic:
            raise InputError(f"{self.name} searches the noise injected at every step, and the "
                             f"{getattr(process, 'sampler', 'chosen')} sampler injects none; "
                             "valid: `sampler=sde`")


def option_fields(cls: type[Algorithm]) -> list[dataclasses.Field]:
    """The options of ``cls`` a user can set: the adaptive-compute ones only where they apply."""
    return [f for f in dataclasses.fields(cls) if cls.rounds or f.name not in ADAPTIVE_DEFAULTS]


def parse_options(cls: type[Algorithm], pairs: Sequence[str]) -> dict[str, Any]:
    """``["n=16", "top_k=4"]`` to typed keyword arguments of ``cls``; ``InputError`` on unknown keys."""
    fields = {f.name: f for f in option_fields(cls)}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise InputError(f"an algorithm option is KEY=VALUE, got {pair!r}; "
                             f"options of {cls.name}: {', '.join(fields)}")
        if key not in fields:
            raise InputError(f"algorithm {cls.name!r} has no option {key!r}; valid: {', '.join(fields)}")
        options[key] = convert(raw.strip(), fields[key], cls.name)
    return options


def convert(raw: str, field: dataclasses.Field, algorithm: str) -> Any:
    kind = str(field.type)
    try:
        if raw.lower() == "none" and "None" in kind:
            return None
        if "bool" in kind:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes")
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
    except ValueError:
        raise InputError(f"option {field.name} of {algorithm} takes {kind}, got {raw!r}") from None
    return raw
