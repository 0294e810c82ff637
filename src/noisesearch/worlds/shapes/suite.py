"""The shapes benchmark: its fixed prompts (``data/shapes_prompts.json``) and its suites."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import InputError
from ...suite import Suite
from .prompts import CATEGORIES, prompt_category

PROMPTS_FILE = Path(__file__).resolve().parents[2] / "data" / "shapes_prompts.json"
SPLITS = {"dev": 20, "test": 40}  # prompts per category in each split


def benchmark_prompts(split: str = "test") -> list[str]:
    """The fixed prompts of a split (``dev`` or ``test``), as committed in ``data/shapes_prompts.json``."""
    if split not in SPLITS:
        raise InputError(f"unknown shapes split {split!r}; valid: {', '.join(SPLITS)}")
    return json.loads(PROMPTS_FILE.read_text())[split]


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
