"""Draw the README's sample grid of the digits model: one row per class, no search.

    python training/sample_grid.py [--out docs/digits_samples.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import noisesearch as ns
from noisesearch.algorithms.trajectory import draw_noises, sample, trajectory_keys
from noisesearch.images import labelled_grid

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "digits_samples.png")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    process = ns.load_process("digits")
    k = args.per_class
    cond = torch.arange(10).repeat_interleave(k)
    keys = [trajectory_keys(process, args.seed, i, 0) for i in range(len(cond))]
    noises = draw_noises(process, keys)
    images = sample(process, noises, cond)
    judged = ns.load_judge("digits-evaluator").evaluate(images, cond.tolist())
    rows = [[(f"{int(cond[r * k + c])}", images[r * k + c]) for c in range(k)] for r in range(10)]
    labelled_grid(rows, tile=48).save(args.out)
    print(f"wrote {args.out}; judge accuracy {judged['accuracy'].mean():.3f}, "
          f"mean target probability {judged['target_prob'].mean():.4f}")


if __name__ == "__main__":
    main()
