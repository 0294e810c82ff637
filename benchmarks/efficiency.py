"""Efficiency at the physical limit: each algorithm's search time against plain batched sampling.

    python benchmarks/efficiency.py                      # digits and gmm, 64 conditions, 8 generations
    python benchmarks/efficiency.py --process digits --conditions 128 --budget 16

For every algorithm (sized to a budget of ``--budget`` generations per condition with
``Algorithm.at_budget``), the wall time of its search over ``--conditions`` conditions is
set against the time that the same number of NFEs takes as plain batched sampling on the
same process (whole trajectories, ``--max-batch`` rows per call, no verifier): that is the
most this model can do on this machine. Both are measured in the same run, each the
fastest of ``--repeats`` timings (single timings of a few seconds vary by 10-20% here).
An algorithm that cannot run at the budget (``mcts`` needs O(steps^2) NFEs) is measured
at its least size. The ratio
limit / search is 1.0 for a search with no overhead. Beside it: the share of the search's
time spent in the model and in the verifier, which explains a low ratio. Then the peak
resident memory of a search against ``--max-batch``, each in a fresh process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import time

import torch

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS
from noisesearch.algorithms.trajectory import sample
from noisesearch.batching import chunks
from noisesearch.errors import InputError
from noisesearch.noise import NoiseSource

PROCESSES = {
    "digits": {"steps": 25, "sampler": "sde", "guidance": 0.0},
    "gmm": {"steps": 25, "sampler": "sde"},
}
VERIFIERS = {"digits": "digits-classifier", "gmm": "brightness"}


class Timer:
    """Wraps a callable and adds up the seconds spent in it, its calls and the rows they carried."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.reset()

    def reset(self) -> None:
        self.seconds, self.calls, self.rows = 0.0, 0, 0

    def __call__(self, x, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(x, *args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1
            self.rows += len(x)


def plain_sampling(process: ns.DenoisingProcess, nfe: int, max_batch: int) -> float:
    """Seconds to spend ``nfe`` NFEs generating whole trajectories in batches of ``max_batch``."""
    rows = math.ceil(nfe / process.generation_nfe)
    cond = process.encode([process.parse_condition(c) for c in conditions_for(process, rows)])
    # drawn before timing: sampling alone is the limit
    noises, _ = NoiseSource(process, 0, range(rows)).trajectories([(p, ("limit",)) for p in range(rows)])
    start = time.perf_counter()
    for part in chunks(rows, max_batch):
        sample(process, {k: v[part] for k, v in noises.items()}, cond[part])
    return time.perf_counter() - start


def conditions_for(process: ns.DenoisingProcess, n: int) -> list:
    return [i % 10 for i in range(n)] if process.name == "digits" else ["any"] * n


def measure(name: str, conditions: int, budget: int, max_batch: int, repeats: int) -> None:
    process = ns.load_process(name, **PROCESSES[name])
    print(f"\n{name} ({PROCESSES[name]}), {conditions} conditions, budget {budget} generations "
          f"({budget * process.generation_nfe} NFEs per condition), max_batch {max_batch}, verifier "
          f"{VERIFIERS[name]}, torch {torch.__version__} on {torch.get_num_threads()} threads; fastest of "
          f"{repeats} repeats of each timing\n")
    table(process, ns.load_verifier(VERIFIERS[name]), conditions_for(process, conditions), budget, max_batch,
          repeats, lambda nfe: plain_sampling(process, nfe, max_batch))


def table(process: ns.DenoisingProcess, verifier, conds: list, budget: int, max_batch: int, repeats: int,
          limit_of, algorithms=tuple(ALGORITHMS)) -> None:
    """Print one row per algorithm: its search of ``conds`` at ``budget`` generations per condition
    against ``limit_of(nfe)``, the seconds the limit takes for the same NFEs (fastest of ``repeats``)."""
    model = process.denoiser
    model.prediction = Timer(model.prediction)
    verifier._score = Timer(verifier._score)
    nfe_budget = budget * process.generation_nfe
    print("| algorithm | options | NFEs (all conditions) | search s | limit s | "
          "limit / search | model share | verifier share | rows per model call |")
    print("|---|---|---|---|---|---|---|---|---|")
    for algorithm in algorithms:
        base = ns.load_algorithm(algorithm, max_batch=max_batch)
        budget_used = nfe_budget
        try:
            algo = base.at_budget(process, nfe_budget)
        except InputError:  # it cannot run this small (mcts): measure it at its least size
            option, least = base.scaled
            algo = dataclasses.replace(base, **{option: least})
            budget_used = algo.plan(process, None).nfe
        try:
            algo.check(process, verifier, budget_used)
        except InputError as exc:
            print(f"| {algorithm} | - | - | - | - | - | - | - | does not run: {exc} |")
            continue
        runs = []  # (search s, model s, verifier s) of each repeat; the fastest search is kept
        for _ in range(repeats):
            model.prediction.reset()
            verifier._score.reset()
            start = time.perf_counter()
            result = ns.search(process, verifier, conds, algorithm=algo, budget=budget_used, judges=[])
            searched = time.perf_counter() - start
            width = model.prediction.rows / max(1, model.prediction.calls)
            runs.append((searched, model.prediction.seconds, verifier._score.seconds))
        searched, model_s, verifier_s = min(runs)
        nfe = int(result.totals["nfe"])
        limit = min(limit_of(nfe) for _ in range(repeats))
        sized = {k: v for k, v in algo.options().items() if k not in ("max_batch", "top_k")
                 and v != getattr(type(algo), k, None)}
        if budget_used != nfe_budget:
            sized["least size, NFEs per condition up to"] = budget_used
        print(f"| {algorithm} | {sized or '-'} | {nfe} | {searched:.2f} | {limit:.2f} | "
              f"{limit / searched:.2f} | {model_s / searched:.2f} | {verifier_s / searched:.2f} | "
              f"{width:.0f} |", flush=True)


PEAK = """
import json, sys, noisesearch as ns
def kib(field):  # from /proc/self/status, in KiB
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1])
name, opts, verifier, conditions, budget, max_batch = json.loads(sys.argv[1])
process = ns.load_process(name, **opts)
verifier = ns.load_verifier(verifier)
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
base = kib("VmRSS")
conds = [i % 10 for i in range(conditions)] if name == "digits" else ["any"] * conditions
ns.search(process, verifier, conds, algorithm="random", budget=budget * process.generation_nfe,
          max_batch=max_batch, judges=[])
print(json.dumps([base, kib("VmHWM")]))
"""


def peak_memory(name: str, conditions: int, budget: int, batches: list[int]) -> None:
    print(f"\npeak resident memory of a random search on {name}, {conditions} conditions x {budget} "
          "generations, each in a fresh process\n")
    print("| max_batch | RSS with model and verifier loaded MiB | peak during the search MiB "
          "| growth MiB |")
    print("|---|---|---|---|")
    for max_batch in batches:
        args = json.dumps([name, PROCESSES[name], VERIFIERS[name], conditions, budget, max_batch])
        out = subprocess.run([sys.executable, "-c", PEAK, args], capture_output=True, text=True, check=True)
        base, peak = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {max_batch} | {base / 1024:.0f} | {peak / 1024:.0f} | {(peak - base) / 1024:.0f} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--process", default="digits,gmm")
    parser.add_argument("--conditions", type=int, default=64)
    parser.add_argument("--budget", type=int, default=8, help="generations per condition")
    parser.add_argument("--max-batch", type=int, default=512)
    parser.add_argument("--memory-batches", default="16,64,256,1024")
    parser.add_argument("--repeats", type=int, default=3, help="timings repeated, the fastest kept")
    args = parser.parse_args()
    for name in args.process.split(","):
        measure(name, args.conditions, args.budget, args.max_batch, args.repeats)
    peak_memory("digits", args.conditions, args.budget, [int(b) for b in args.memory_batches.split(",")])


if __name__ == "__main__":
    main()
