"""Best-of-N on the shapes model, judged GenEval-style: oracle accuracy per category against NFEs.

    python benchmarks/shapes_geneval.py                    # test split (240 prompts), N = 1, 4, 16
    python benchmarks/shapes_geneval.py --split dev --ns 1,16 --guidance 3

Searches with the ``shapes-clip`` verifier on the model's default sampler and reports the
``shapes-oracle`` judge (never seen by the search) on the winners, per category. N = 1 is
no search; the last column is the overall accuracy's ratio to it. NFEs are the ledger's
counts per prompt.
"""

from __future__ import annotations

import argparse
import time

import torch

import noisesearch as ns
from noisesearch.worlds.shapes.prompts import CATEGORIES, prompt_category
from noisesearch.worlds.shapes.suite import benchmark_prompts


def nfe_seconds(process, batch: int = 64, repeats: int = 5) -> float:
    """Wall time of one UNet evaluation of ``batch`` samples (one NFE each), fastest of ``repeats``."""
    x = torch.zeros(batch, *process.sample_shape)
    t = process.schedule.timesteps[:1].expand(batch)
    emb = process.encode(["a red circle"] * batch)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 1):
            start = time.perf_counter()
            process.denoiser.model.unet(x, t, emb)
            times.append(time.perf_counter() - start)
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--ns", default="1,4,16")
    parser.add_argument("--verifier", default="shapes-clip")
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    parser.add_argument("--steps", type=int, default=None, help="default: the model's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-batch", type=int, default=512)
    args = parser.parse_args()

    prompts = benchmark_prompts(args.split)
    process = ns.load_process("shapes", guidance=args.guidance, steps=args.steps)
    verifier = ns.load_verifier(args.verifier)
    print(f"shapes, {process.options()}, {args.split} split ({len(prompts)} prompts), verifier "
          f"{args.verifier}, judge shapes-oracle, seed {args.seed}, torch {torch.__version__} on "
          f"{torch.get_num_threads()} CPU threads")
    print(f"one NFE for a batch of 64: {nfe_seconds(process) * 1000:.0f} ms (fastest of 5)\n")
    print("| N | NFEs per prompt | " + " | ".join(CATEGORIES) + " | overall | verifier score | ratio to N=1 "
          "| wall s |")
    print("|---" * (len(CATEGORIES) + 6) + "|")
    baseline = None
    for n in (int(v) for v in args.ns.split(",")):
        start = time.perf_counter()
        result = ns.search(process, verifier, prompts, algorithm="random", n=n, seed=args.seed,
                           max_batch=args.max_batch, progress=True)
        wall = time.perf_counter() - start
        nfe = sorted({p.nfe for p in result})
        correct = {c: [] for c in CATEGORIES}
        for p in result:
            correct[prompt_category(p.condition)].append(p.judges["shapes-oracle"]["accuracy"])
        per = [sum(v) / len(v) for v in correct.values()]
        overall = sum(sum(v) for v in correct.values()) / len(result)
        baseline = overall if baseline is None else baseline
        score = sum(p.best_score for p in result) / len(result)
        print(f"| {n} | {','.join(map(str, nfe))} | " + " | ".join(f"{a:.3f}" for a in per)
              + f" | {overall:.3f} | {score:.3f} | {overall / baseline if baseline else float('nan'):.2f} "
              f"| {wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
