"""Search over the initial noise on digits against spending the same NFEs on more steps.

    python benchmarks/digits_initial_noise.py                    # 100 conditions, budgets 1..32
    python benchmarks/digits_initial_noise.py --conditions 20 --budgets 1,4

Ma et al. 2025, Figure 1: for each budget of b generations' NFEs (b x 25 steps), the
judge's score of the winners of ``random``, ``zero-order``, ``paths`` and
``noise-gradient`` (verifier ``digits-classifier``), beside the compute-matched baseline
of one sample with 25 b denoising steps and no search. The held-out judge
``digits-evaluator`` never guides the search. Sampler ``ode`` (DDIM, eta = 0: the
initial noise fixes the sample, as in Ma et al.), guidance 0 (the unconditional model,
so the search alone has to find the requested digit; at guidance 1 the model already
draws the right digit every time and there is nothing to gain). NFEs are the ledger's.
"""

from __future__ import annotations

import argparse
import time

import torch

import noisesearch as ns
from noisesearch.errors import InputError

ALGORITHMS = ("random", "zero-order", "paths", "noise-gradient")


def judged(result: ns.SearchResult) -> tuple[float, float, float, float]:
    """(mean NFEs, mean verifier score, judge target probability, judge accuracy)."""
    n = len(result)
    return (sum(p.nfe for p in result) / n, sum(p.best_score for p in result) / n,
            sum(p.judges["digits-evaluator"]["target_prob"] for p in result) / n,
            sum(p.judges["digits-evaluator"]["accuracy"] for p in result) / n)


def more_steps(conditions: list[int], steps: int, guidance: float, seed: int) -> ns.SearchResult:
    """The baseline: one sample per condition with ``steps`` denoising steps, no search."""
    process = ns.load_process("digits", sampler="ode", steps=steps, guidance=guidance)
    return ns.search(process, "digits-classifier", conditions, algorithm="random", n=1, seed=seed,
                     max_batch=512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", type=int, default=100)
    parser.add_argument("--budgets", default="1,2,4,8,16,32", help="in generations of 25 steps")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--guidance", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    conditions = [i % 10 for i in range(args.conditions)]
    process = ns.load_process("digits", sampler="ode", guidance=args.guidance)
    generation = process.generation_nfe
    print(f"digits, ode sampler, {process.steps} steps, guidance {args.guidance:g}, {len(conditions)} "
          f"conditions, verifier digits-classifier, judge digits-evaluator, seed {args.seed}, "
          f"torch {torch.__version__} on {torch.get_num_threads()} CPU threads\n")
    print("| budget (generations) | method | NFEs per condition | verifier log p | "
          "judge target prob | judge accuracy | wall s |")
    print("|---|---|---|---|---|---|---|")
    accuracy: dict[tuple[int, str], float] = {}
    for b in (int(v) for v in args.budgets.split(",")):
        start = time.perf_counter()
        baseline = more_steps(conditions, b * process.steps, args.guidance, args.seed)
        nfe, score, prob, acc = judged(baseline)
        accuracy[b, "more steps"] = acc
        print(f"| {b} | {b * process.steps} steps, no search | {nfe:.0f} | {score:.3f} | {prob:.3f} | "
              f"{acc:.3f} | {time.perf_counter() - start:.1f} |", flush=True)
        for algorithm in args.algorithms.split(","):
            start = time.perf_counter()
            try:
                result = ns.search(process, "digits-classifier", conditions, algorithm=algorithm,
                                   budget=b * generation, seed=args.seed, max_batch=512, progress=True)
            except InputError as exc:
                print(f"| {b} | {algorithm} | - | - | - | - | does not fit: {exc} |", flush=True)
                continue
            nfe, score, prob, acc = judged(result)
            accuracy[b, algorithm] = acc
            print(f"| {b} | {algorithm} | {nfe:.0f} | {score:.3f} | {prob:.3f} | {acc:.3f} | "
                  f"{time.perf_counter() - start:.1f} |", flush=True)

    methods = ["more steps", *args.algorithms.split(",")]
    print("\njudge accuracy by budget (ratio to the no-search sample at 1 generation in brackets)\n")
    print("| budget (generations) | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    base = accuracy.get((1, "more steps"))
    for b in sorted({b for b, _ in accuracy}):
        cells = []
        for m in methods:
            value = accuracy.get((b, m))
            ratio = f" ({value / base:.1f}x)" if value is not None and base else ""
            cells.append("-" if value is None else f"{value:.2f}{ratio}")
        print(f"| {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
