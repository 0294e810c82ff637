"""Write the shapes benchmark prompts, ``src/noisesearch/data/shapes_prompts.json`` (seeded).

    python training/make_shapes_prompts.py
"""

from __future__ import annotations

import json

from noisesearch.worlds.shapes.prompts import CATEGORIES, COLORS, NUMBERS, SHAPES
from noisesearch.worlds.shapes.scenes import random_prompt, rng_for
from noisesearch.worlds.shapes.suite import PROMPTS_FILE, SPLITS


def make_benchmark_prompts(seed: int = 0) -> dict[str, list[str]]:
    """The benchmark prompt set: per category, 20 ``dev`` and 40 ``test`` prompts drawn by
    ``random_prompt``, distinct where the category has enough distinct prompts (single
    object, colours, counting and two objects have 3, 18, 12 and 6, so those repeat), in
    turn by category."""
    splits: dict[str, list[list[str]]] = {name: [] for name in SPLITS}
    total = sum(SPLITS.values())
    for category in CATEGORIES:
        rng = rng_for((seed, "benchmark-prompts", category))
        drawn: list[str] = []
        for _ in range(100 * total):
            if len(drawn) == total:
                break
            text = random_prompt(rng, category).text()
            if text not in drawn or len(set(drawn)) >= _distinct(category):
                drawn.append(text)
        start = 0
        for name, size in SPLITS.items():
            splits[name].append(drawn[start:start + size])
            start += size
    # interleaved (one prompt of each category in turn), so any prefix covers every category
    return {name: [p for group in zip(*lists, strict=True) for p in group] for name, lists in splits.items()}


def _distinct(category: str) -> int:
    n_colors, n_shapes = len(COLORS), len(SHAPES)
    return {"single_object": n_shapes, "colors": n_colors * n_shapes, "counting": n_shapes * len(NUMBERS),
            "two_object": n_shapes * (n_shapes - 1)}.get(category, 10**6)


def main() -> None:
    PROMPTS_FILE.write_text(json.dumps(make_benchmark_prompts(), indent=1) + "\n")
    print(f"wrote {PROMPTS_FILE}")


if __name__ == "__main__":
    main()
