"""Benchmark suites: a model with its sampler settings, a list of conditions, default judges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Suite:
    """What a bench sweeps over besides the algorithms: the process and the conditions."""

    name: str
    model: str
    process: dict[str, Any]  # options for ``load_process``
    conditions: list[Any]
    verifier: str  # the default search verifier
    judges: list[str] = field(default_factory=list)  # the default held-out judges
    summary: str = ""
    group_of: Callable[[Any], str] | None = None  # a condition's category, for per-category tables
