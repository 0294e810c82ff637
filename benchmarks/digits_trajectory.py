"""Noise-trajectory search on digits: Ramesh & Mardani's table, then the same methods at matched NFEs.

    python benchmarks/digits_trajectory.py                  # 100 conditions, 18 steps
    python benchmarks/digits_trajectory.py --conditions 20

Ramesh & Mardani 2025 (EDM ImageNet-64, 18 steps, classifier reward): naive 0.378 at 18
NFEs, best-of-4 0.546 at 72, beam 0.554 at 144, zero-order 0.626 and epsilon-greedy
0.989 at 1440, MCTS 0.967 at 3888. Here: the embedded digits model, ``sde`` sampler, 18
steps, guidance 0 (the unconditional model, so the search has to find the class; at
guidance 1 the model already draws it), reward = target-class probability from
``digits-classifier``, judge ``digits-evaluator`` (never seen by the search). First every
method with its paper's defaults, then every method sized to the same NFEs (by default 8
generations, 144 NFEs, about beam's cost, and 76 generations, 1368 NFEs, about
epsilon-greedy's). NFEs are the ledger's.
"""

from __future__ import annotations

import argparse
import time

import torch

import noisesearch as ns
from noisesearch.errors import InputError

DEFAULTS = [("naive", "random", {"n": 1}), ("best-of-4", "random", {"n": 4}), ("beam", "beam", {}),
            ("svdd", "svdd", {}), ("smc", "smc", {}), ("mcts", "mcts", {}),
            ("zero-order-steps", "zero-order-steps", {}), ("eps-greedy", "eps-greedy", {})]


def matched(process: ns.DenoisingProcess, nfe: int) -> list[tuple[str, ns.Algorithm | None, str]]:
    """Every method sized to spend at most ``nfe`` NFEs per condition (``Algorithm.at_budget``):
    best-of-N by N, beam by its beams, svdd by M, smc by its particles, the per-step searches
    by their iterations K; mcts follows the budget itself (its simulations per step). (label,
    algorithm, why not)."""
    rows = [(f"best-of-{nfe // process.generation_nfe}",
             ns.load_algorithm("random", n=nfe // process.generation_nfe), "")]
    for name, option in (("beam", "b"), ("svdd", "m"), ("smc", "k"), ("mcts", "s"),
                         ("zero-order-steps", "k"), ("eps-greedy", "k")):  # mcts: not scaled, budgeted
        try:
            algorithm = ns.load_algorithm(name).at_budget(process, nfe)
            algorithm.plan(process, nfe)  # a method that follows the budget (mcts) may still not fit it
        except InputError as exc:
            rows.append((name, None, str(exc)))
            continue
        label = name if algorithm.scaled is None else f"{name} {option}={getattr(algorithm, option)}"
        rows.append((label, algorithm, ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", type=int, default=100)
    parser.add_argument("--steps", type=int, default=18)
    parser.add_argument("--guidance", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--matched", default="8,76",
                        help="budgets in generations at which every method is compared (76: eps-greedy's)")
    args = parser.parse_args()

    conditions = [i % 10 for i in range(args.conditions)]
    process = ns.load_process("digits", sampler="sde", steps=args.steps, guidance=args.guidance)
    verifier = ns.load_verifier("digits-classifier:prob")
    print(f"digits, sde sampler, {args.steps} steps, guidance {args.guidance:g}, "
          f"{len(conditions)} conditions, "
          f"reward digits-classifier:prob, judge digits-evaluator, seed {args.seed}, "
          f"torch {torch.__version__} on {torch.get_num_threads()} CPU threads")
    defaults = [(label, ns.load_algorithm(name, **options), "") for label, name, options in DEFAULTS]
    studies = [("paper defaults", defaults, None)]
    for generations in (int(g) for g in args.matched.split(",")):
        nfe = generations * process.generation_nfe
        studies.append((f"matched at {nfe} NFEs ({generations} generations)", matched(process, nfe), nfe))
    for title, methods, budget in studies:
        print(f"\n{title}\n")
        print("| method | NFEs per condition | reward (target prob) | judge target prob "
              "| judge accuracy | wall s |")
        print("|---|---|---|---|---|---|")
        for label, algorithm, why_not in methods:
            if algorithm is None:
                print(f"| {label} | - | - | - | - | does not fit: {why_not} |", flush=True)
                continue
            algorithm.max_batch = 512
            start = time.perf_counter()
            result = ns.search(process, verifier, conditions, algorithm=algorithm, budget=budget,
                               seed=args.seed, progress=True)
            n = len(result)
            nfe = sum(p.nfe for p in result) / n
            reward = sum(p.best_score for p in result) / n
            prob = sum(p.judges["digits-evaluator"]["target_prob"] for p in result) / n
            acc = sum(p.judges["digits-evaluator"]["accuracy"] for p in result) / n
            print(f"| {label} | {nfe:.0f} | {reward:.3f} | {prob:.3f} | {acc:.3f} | "
                  f"{time.perf_counter() - start:.1f} |", flush=True)


if __name__ == "__main__":
    main()
