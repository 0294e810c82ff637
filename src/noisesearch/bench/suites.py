"""Benchmark suites: a model with its sampler settings, a list of conditions, default judges."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import unknown
from ..shapes_data import CATEGORIES, benchmark_prompts, prompt_category


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


def shapes_suite(split: str) -> Suite:
    """The shapes benchmark on one split of its fixed prompts, reported per category."""
    prompts = benchmark_prompts(split)
    return Suite(
        name="shapes" if split == "test" else f"shapes-{split}", model="shapes",
        process={"steps": 25, "sampler": "sde"},
        conditions=prompts,
        verifier="shapes-clip",
        judges=["shapes-oracle"],
        summary=f"the {len(prompts)} {split} prompts of shapes, {len(prompts) // len(CATEGORIES)} per "
                "GenEval category (single object, two objects, counting, colours, position, "
                "colour attribution), sde sampler, 25 steps",
        group_of=prompt_category,
    )


SUITES: dict[str, Suite] = {
    "digits": Suite(
        name="digits", model="digits",
        # guidance 0 (the unconditional model): the search alone has to find the requested digit;
        # the sde sampler so that noise-trajectory searches can run beside initial-noise ones
        process={"steps": 25, "sampler": "sde", "guidance": 0.0},
        conditions=[i % 10 for i in range(100)],
        verifier="digits-classifier",
        judges=["digits-evaluator", "digits-fd"],
        summary="100 conditions (digits 0-9, ten times each), sde sampler, 25 steps, guidance 0",
    ),
    "shapes": shapes_suite("test"),
    "shapes-dev": shapes_suite("dev"),
    "gmm": Suite(
        name="gmm", model="gmm",
        process={"dim": 2, "components": 3, "steps": 25, "sampler": "sde"},
        conditions=["any"] * 30,
        verifier="brightness",
        judges=[],
        summary="30 unconditional draws of the 2-D, 3-component mixture, sde sampler, 25 steps",
    ),
}


def load_suite(name: str) -> Suite:
    if name not in SUITES:
        raise unknown("suite", name, SUITES)
    return SUITES[name]
