"""Wall time of one ``bench`` on ``digits`` with the local executor and with 1 and 2 Ray workers.

    python benchmarks/ray_workers.py                       # 40 conditions, random + eps-greedy
    python benchmarks/ray_workers.py --limit 100

Each run is a fresh bench folder and includes everything a user waits for: starting Ray,
each worker loading the models, the cells, the driver writing them, the tables and report.
Runs, all in this process, one after another:

- the local executor (this process, all its torch threads);
- 1 Ray worker with all the machine's CPUs (Ray's default share: torch threads = CPUs);
- 1 Ray worker with 1 CPU, and 2 Ray workers with 1 CPU each: what one added worker
  with its own core buys.

The speed-ups are ratios of times measured in the same run; every run's records are
checked to be identical to the local run's (only wall times differ).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from noisesearch.bench import run_bench
from noisesearch.spec import BenchSpec


def strip(record: dict) -> dict:
    """A cell record without its wall times."""
    rows = [{k: v for k, v in row.items() if k != "wall_s"} for row in record.get("rows", [])]
    return {**{k: v for k, v in record.items() if k not in ("wall_s", "totals", "rows")}, "rows": rows}


def startup_seconds(config) -> float:
    """Seconds to start a local Ray and have one worker load the bench's models."""
    import ray

    from noisesearch.bench.sweep import BenchWorker
    from noisesearch.executors import RayWorker, start_ray

    start = time.perf_counter()
    start_ray(None)
    worker = ray.remote(num_cpus=1)(RayWorker).remote(partial(BenchWorker, config, 512), 1)
    ray.get(worker.run.remote([]))
    seconds = time.perf_counter() - start
    ray.shutdown()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=40, help="conditions of the digits suite")
    parser.add_argument("--algorithms", default="random,eps-greedy")
    parser.add_argument("--budgets", default="1,2,4,8")
    parser.add_argument("--max-batch", type=int, default=512)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = BenchSpec("digits", args.algorithms.split(","), [int(b) for b in args.budgets.split(",")],
                       limit=args.limit).resolve()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads in this process")
    print(f"bench: digits, {args.limit} conditions, algorithms {args.algorithms}, budgets {args.budgets}")
    cpus = os.cpu_count() or 1
    runs = [("local executor", "local", None, None), (f"ray, 1 worker x {cpus} CPUs", "ray", 1, None),
            ("ray, 1 worker x 1 CPU", "ray", 1, 1.0), ("ray, 2 workers x 1 CPU", "ray", 2, 1.0)]
    times, reference = {}, None
    with tempfile.TemporaryDirectory() as tmp:
        for label, executor, workers, cpus_each in runs:
            out = Path(tmp) / label.replace(" ", "_")
            start = time.perf_counter()
            records = run_bench(config, out, max_batch=args.max_batch, progress=False, executor=executor,
                                workers=workers, cpus_per_worker=cpus_each)
            wall = time.perf_counter() - start
            same = reference is None or [strip(r) for r in records] == reference
            reference = reference or [strip(r) for r in records]
            times[label] = wall
            print(f"{label:<26} {wall:8.1f} s   {len(records)} cells   "
                  f"records identical to the local run's: {same}")
            shutil.rmtree(out)
    fixed = startup_seconds(config)
    print(f"fixed cost in each Ray run: starting Ray and one worker loading the models takes {fixed:.1f} s")
    two, one_core = times["ray, 2 workers x 1 CPU"], times["ray, 1 worker x 1 CPU"]
    one_all = times[runs[1][0]]
    print(f"speed-up of 2 workers (1 CPU each) over 1 worker with 1 CPU:    {one_core / two:.2f}x")
    print(f"speed-up of 2 workers (1 CPU each) over 1 worker with {cpus} CPUs:   {one_all / two:.2f}x")
    local = times["local executor"]
    print(f"1 worker with {cpus} CPUs against the local executor:            {local / one_all:.2f}x")


if __name__ == "__main__":
    main()
