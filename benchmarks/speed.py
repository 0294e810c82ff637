"""Compiled and half-precision denoisers on the embedded models, and two searches at once.

    python benchmarks/speed.py                               # digits and shapes, then concurrency
    python benchmarks/speed.py --models digits --conditions 16 --budget 4
    python benchmarks/speed.py --skip-concurrency

Part 1. Per model, one random search (same seed, conditions and budget) in four variants:
eager fp32 (the baseline), compiled fp32 (``--compile``), eager bf16 and eager fp16
(``--dtype``). Each variant's process is built once; a warm-up search of one condition pays
``torch.compile``'s one-off compilation (reported as ``warm-up s``) before the timed search.
Reported per variant: the search's seconds (fastest of ``--repeats``), NFEs per second, the
speed-up over eager fp32, how many winners are the baseline's (same candidate), the largest
score difference, and the held-out judge's accuracy (digits-evaluator, shapes-oracle).

Part 2. Two concurrent searches: the same command-line search alone, then two copies at once
(default threads: each process uses the cores it owns); each copy's wall time over the time
alone. Nothing is asserted: the figures are printed with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

import noisesearch as ns
from noisesearch.worlds.shapes.suite import benchmark_prompts

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"eager fp32": {}, "compiled fp32": {"compile": True}, "eager bf16": {"dtype": "bf16"},
            "eager fp16": {"dtype": "fp16"}}
JUDGE = {"digits": ("digits-evaluator", "accuracy"), "shapes": ("shapes-oracle", "accuracy")}


def conditions_for(model: str, n: int) -> list:
    if model == "digits":
        return [i % 10 for i in range(n)]
    prompts = benchmark_prompts("test")
    return [prompts[(i * 7) % len(prompts)] for i in range(n)]  # spread over the categories


def timed_search(process, conditions, budget, judges):
    start = time.perf_counter()
    result = ns.search(process, ns.load_verifier("digits-classifier" if process.name == "digits"
                                                 else "shapes-clip"),
                       conditions, algorithm="random", budget=budget, seed=0, judges=judges)
    return time.perf_counter() - start, result


def compare(model: str, n: int, generations: int, repeats: int, variants: list[str]) -> None:
    judge, metric = JUDGE[model]
    conditions = conditions_for(model, n)
    print(f"\n{model}: random search, {n} conditions x {generations} generations, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| variant | warm-up s | search s | NFEs/s | speed-up | same winners | max score diff | "
          f"{judge} {metric} |")
    print("|---|---|---|---|---|---|---|---|")
    baseline = None
    for name in variants:
        try:
            process = ns.load_process(model, **VARIANTS[name])
        except Exception as exc:  # e.g. a dtype this machine cannot run
            print(f"| {name} | - | - | - | - | - | - | not run: {exc} |")
            continue
        budget = generations * process.generation_nfe
        warm, _ = timed_search(process, conditions[:1], process.generation_nfe, [])
        best = None
        for _ in range(repeats):
            took, result = timed_search(process, conditions, budget, [judge])
            best = took if best is None else min(best, took)
        nfe = result.totals["nfe"]
        picked = [p.recipe for p in result.problems]
        scores = [p.best_score for p in result.problems]
        accuracy = sum(p.judges[judge][metric] for p in result.problems) / n
        if baseline is None:
            baseline = (best, picked, scores)
        same = sum(a == b for a, b in zip(picked, baseline[1], strict=True))
        diff = max(abs(a - b) for a, b in zip(scores, baseline[2], strict=True))
        print(f"| {name} | {warm:.1f} | {best:.1f} | {nfe / best:.1f} | {baseline[0] / best:.2f} | "
              f"{same}/{n} | {diff:.2g} | {accuracy:.3f} |", flush=True)


def command(out: Path, model: str, n: int, generations: int) -> list[str]:
    conditions = ",".join(map(str, conditions_for(model, n))) if model == "digits" else None
    argv = [sys.executable, "-m", "noisesearch", "search", "--model", model, "--set", f"n={generations}",
            "--no-progress", "--out", str(out)]
    return argv + (["-c", conditions] if conditions else [arg for c in conditions_for(model, n)
                                                          for arg in ("-c", c)])


def concurrency(model: str, n: int, generations: int, extra_env: dict[str, str]) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **extra_env}
    env.pop("OMP_NUM_THREADS", None)  # the command line's default: the cores this process owns
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(command(Path(tmp) / "alone", model, n, generations), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        alone = time.perf_counter() - start
        start = time.perf_counter()
        running = [subprocess.Popen(command(Path(tmp) / f"both-{k}", model, n, generations), env=env,
                                    stdout=subprocess.DEVNULL) for k in range(2)]
        ended = []
        for proc in running:
            proc.wait()
            ended.append(time.perf_counter() - start)
            if proc.returncode:
                raise SystemExit(f"a concurrent search failed with exit code {proc.returncode}")
    print(f"\ntwo concurrent searches ({model}, {n} conditions x {generations} generations, each a "
          f"fresh `noisesearch search` process; {os.cpu_count()} CPUs; environment {extra_env or 'as is'})\n")
    print("| run | wall s | / alone |")
    print("|---|---|---|")
    print(f"| alone | {alone:.1f} | 1.00 |")
    for k, took in enumerate(ended):
        print(f"| concurrent #{k + 1} | {took:.1f} | {took / alone:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="digits,shapes")
    parser.add_argument("--conditions", type=int, default=20)
    parser.add_argument("--budget", type=int, default=4, help="generations per condition")
    parser.add_argument("--repeats", type=int, default=2, help="timed searches per variant, the fastest kept")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--skip-concurrency", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or 'cpu'}; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    for model in args.models.split(","):
        compare(model, args.conditions, args.budget, args.repeats, args.variants.split(","))
    if not args.skip_concurrency:
        for extra in ({}, {"OMP_WAIT_POLICY": "PASSIVE"}):
            concurrency("digits", 10, 8, extra)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
