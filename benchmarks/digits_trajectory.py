"""Noise-trajectory search on digits: Ramesh & Mardani's table, then the same methods at matched NFEs.

    python benchmarks/digits_trajectory.py                  # 100 conditions, 18 steps
    python benchmarks/digits_trajectory.py --conditions 20

Ramesh & Mardani 2025 (EDM ImageNet-64, 18 steps, classifier reward): naive 0.378 at 18
NFEs, best-of-4 0.546 at 72, beam 0.554 at 144, zero-order 0.626 and epsilon-greedy
0.989 at 1440, MCTS 0.967 at 3888. Here: the embedded digits model, ``sde`` sampler, 18
steps, guidance 0 (the unconditional model, so the search has to find the class; at
guidance 1 the model already draws it), reward = target-class probability from
``digits-classifier``, judge ``digits-evaluator`` (never seen by the search). First every
method with the paper's defaults, then every method at eps-greedy's NFEs. NFEs are the
ledger's.
"""

from __future__ import annotations

import argparse
import time

import torch

import noisesearch as ns

DEFAULTS = [("naive", "random", {"n": 1}), ("best-of-4", "random", {"n": 4}), ("beam", "beam", {}),
            ("svdd", "svdd", {}), ("smc", "smc", {}), ("mcts", "mcts", {}),
            ("zero-order-steps", "zero-order-steps", {}), ("eps-greedy", "eps-greedy", {})]


def matched(process: ns.DenoisingProcess, nfe: int) -> list[tuple[str, str, dict]]:
    """Options that spend about ``nfe`` NFEs per condition for each method."""
    per_step = process.steps - 1  # DDIM's last step injects no noise
    return [
        (f"best-of-{nfe // process.steps}", "random", {"n": nfe // process.steps}),
        (f"beam b={nfe // (4 * per_step + 1)}", "beam", {"b": nfe // (4 * per_step + 1)}),
        (f"svdd m={(nfe - 1) // per_step}", "svdd", {"m": (nfe - 1) // per_step}),
        (f"smc k={nfe // process.steps}", "smc", {"k": nfe // process.steps}),
        ("mcts s=4", "mcts", {"s": 4}),
        ("zero-order-steps", "zero-order-steps", {}),
        ("eps-greedy", "eps-greedy", {}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", type=int, default=100)
    parser.add_argument("--steps", type=int, default=18)
    parser.add_argument("--guidance", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    conditions = [i % 10 for i in range(args.conditions)]
    process = ns.load_process("digits", sampler="sde", steps=args.steps, guidance=args.guidance)
    verifier = ns.load_verifier("digits-classifier:prob")
    print(f"digits, sde sampler, {args.steps} steps, guidance {args.guidance:g}, "
          f"{len(conditions)} conditions, "
          f"reward digits-classifier:prob, judge digits-evaluator, seed {args.seed}, "
          f"torch {torch.__version__} on {torch.get_num_threads()} CPU threads")
    eps_greedy_nfe = ns.load_algorithm("eps-greedy").planned_nfe(process)
    studies = (("paper defaults", DEFAULTS),
               (f"matched at eps-greedy's {eps_greedy_nfe} NFEs", matched(process, eps_greedy_nfe)))
    for title, methods in studies:
        print(f"\n{title}\n")
        print("| method | NFEs per condition | reward (target prob) | judge target prob "
              "| judge accuracy | wall s |")
        print("|---|---|---|---|---|---|")
        for label, algorithm, options in methods:
            start = time.perf_counter()
            result = ns.search(process, verifier, conditions, algorithm=algorithm, seed=args.seed,
                               max_batch=512, progress=True, **options)
            n = len(result)
            nfe = sum(p.nfe for p in result) / n
            reward = sum(p.best_score for p in result) / n
            prob = sum(p.judges["digits-evaluator"]["target_prob"] for p in result) / n
            acc = sum(p.judges["digits-evaluator"]["accuracy"] for p in result) / n
            print(f"| {label} | {nfe:.0f} | {reward:.3f} | {prob:.3f} | {acc:.3f} | "
                  f"{time.perf_counter() - start:.1f} |", flush=True)


if __name__ == "__main__":
    main()
