"""Draw the README's sample grids of the embedded models, without search.

    python training/sample_grid.py --model digits   # docs/digits_samples.png: a row per class
    python training/sample_grid.py --model shapes   # docs/shapes_samples.png: a row per prompt

Each tile is labelled by the model's held-out judge: the class the digits judge reads, or
whether the shapes oracle finds the prompt satisfied (ok / no).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import noisesearch as ns
from noisesearch.algorithms.trajectory import sample
from noisesearch.images import labelled_grid
from noisesearch.noise import NoiseSource
from noisesearch.worlds.shapes.prompts import CATEGORIES, prompt_category
from noisesearch.worlds.shapes.suite import benchmark_prompts

ROOT = Path(__file__).resolve().parent.parent


def grid_prompts(per_category: int = 2) -> list[str]:
    """The first ``per_category`` distinct test prompts of every category."""
    chosen: list[str] = []
    for category in CATEGORIES:
        prompts = [p for p in dict.fromkeys(benchmark_prompts("test")) if prompt_category(p) == category]
        chosen += prompts[:per_category]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="digits", choices=["digits", "shapes"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--per-row", type=int, default=None, help="samples per condition")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = args.out or ROOT / "docs" / f"{args.model}_samples.png"
    process = ns.load_process(args.model)
    if args.model == "digits":
        conditions, judge, k = list(range(10)), ns.load_judge("digits-evaluator"), args.per_row or 10
    else:
        conditions, judge, k = grid_prompts(), ns.load_judge("shapes-oracle"), args.per_row or 8
    repeated = [c for c in conditions for _ in range(k)]
    noises, _ = NoiseSource(process, args.seed, range(len(repeated))).trajectories(
        [(i, (0,)) for i in range(len(repeated))])
    images = sample(process, noises, process.encode(repeated))
    judged = judge.evaluate(images, repeated)
    if args.model == "digits":
        labels = [str(c) for c in repeated]
        titles, width = None, 0
    else:
        labels = ["ok" if a else "no" for a in judged["accuracy"].tolist()]
        titles, width = [str(c) for c in conditions], 250
    rows = [[(labels[r * k + c], images[r * k + c]) for c in range(k)] for r in range(len(conditions))]
    labelled_grid(rows, tile=48, row_titles=titles, title_width=width).save(out)
    print(f"wrote {out}; judge " + ", ".join(f"{m} {v.mean():.3f}" for m, v in judged.items()))


if __name__ == "__main__":
    main()
