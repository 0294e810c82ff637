"""Algorithm: the search logic, with its options as dataclass fields."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import InputError
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier
from .result import SearchResult


@dataclass
class Algorithm:
    """Base class. ``run(process, verifier, conditions, budget, seed) -> SearchResult``."""

    name: ClassVar[str] = "algorithm"
    summary: ClassVar[str] = ""
    max_batch: int = 256  # rows handed to the process per call (memory); results do not depend on it
    top_k: int = 8  # how many of the best candidates to keep per condition

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise InputError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.top_k < 1:
            raise InputError(f"top_k must be >= 1, got {self.top_k}")

    def options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def needs_budget(self) -> bool:
        """Whether the options alone do not fix how much to compute (then a budget is required)."""
        return True

    def check(self, process: DenoisingProcess, budget: int | None, verifier: Verifier | None = None) -> None:
        """Raise ``InputError`` if the run cannot be done; called before anything is written."""

    def at_budget(self, process: DenoisingProcess, budget: int) -> Algorithm:
        """This algorithm set up to spend at most ``budget`` NFEs per condition (for sweeps at
        matched compute). Algorithms whose size follows the budget return themselves."""
        return self

    def run(self, process: DenoisingProcess, verifier: Verifier, conditions: Sequence[Any],
            budget: int | None = None, seed: int = 0, problem_ids: Sequence[int] | None = None,
            progress: bool = False) -> SearchResult:
        raise NotImplementedError

    # -- the run spec's interface: the sampler and budget a run gets when none is given --
    @property
    def sampler(self) -> str | None:
        """The sampler this algorithm needs when none is asked for."""
        from .stepwise import StepwiseSearch

        return "sde" if isinstance(self, StepwiseSearch) else None  # the noise a stochastic sampler injects

    def default_budget(self, process: DenoisingProcess) -> int | None:
        """NFEs per condition when none is given: None when the options fix the work, else 16 generations."""
        return 16 * process.generation_nfe if self.needs_budget() else None


def option_fields(cls: type[Algorithm]) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def parse_options(cls: type[Algorithm], pairs: Sequence[str]) -> dict[str, Any]:
    """``["n=16", "top_k=4"]`` to typed keyword arguments of ``cls``; ``InputError`` on unknown keys."""
    fields = {f.name: f for f in option_fields(cls)}
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise InputError(f"--set takes KEY=VALUE, got {pair!r}; "
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
