"""Best-of-N on the digits model: held-out judge scores against the NFEs spent.

    python benchmarks/digits_best_of_n.py                 # 100 conditions, N = 1, 4, 16, 64
    python benchmarks/digits_best_of_n.py --conditions 20 --ns 1,4

Searches with the ``digits-classifier`` verifier on the ``sde`` sampler and reports the
``digits-evaluator`` judge (never seen by the search) on the winners, at the default
guidance (w = 1, the conditional model) and without guidance (w = 0, the unconditional
model: there the search alone has to find the requested digit). N = 1 is the baseline of
no search; each row prints its ratio to it. NFEs are the ledger's counts.
"""

from __future__ import annotations

import argparse
import time

import torch

import noisesearch as ns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conditions", type=int, default=100)
    parser.add_argument("--ns", default="1,4,16,64")
    parser.add_argument("--guidance", default="1,0")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-batch", type=int, default=512)
    args = parser.parse_args()

    conditions = [i % 10 for i in range(args.conditions)]
    verifier = ns.load_verifier("digits-classifier")
    print(f"digits, sde sampler, {args.steps} steps, {len(conditions)} conditions, "
          f"verifier digits-classifier, judge digits-evaluator, seed {args.seed}, "
          f"torch {torch.__version__} on {torch.get_num_threads()} CPU threads\n")
    header = ("| guidance | N | NFEs per condition | verifier log p | judge target prob | "
              "judge accuracy | accuracy / N=1 | wall s |")
    print(header)
    print("|---|---|---|---|---|---|---|---|")
    for w in (float(g) for g in args.guidance.split(",")):
        process = ns.load_process("digits", sampler="sde", steps=args.steps, guidance=w)
        baseline = None
        for n in (int(v) for v in args.ns.split(",")):
            start = time.perf_counter()
            result = ns.search(process, verifier, conditions, algorithm="random", n=n,
                               seed=args.seed, max_batch=args.max_batch, progress=True)
            wall = time.perf_counter() - start
            nfe = sorted({p.nfe for p in result})
            score = sum(p.best_score for p in result) / len(result)
            prob = sum(p.judges["digits-evaluator"]["target_prob"] for p in result) / len(result)
            acc = sum(p.judges["digits-evaluator"]["accuracy"] for p in result) / len(result)
            baseline = acc if baseline is None else baseline
            ratio = acc / baseline if baseline else float("nan")
            print(f"| {w:g} | {n} | {','.join(map(str, nfe))} | {score:.4f} | {prob:.4f} | "
                  f"{acc:.3f} | {ratio:.2f} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
