"""Start-up time of the command line: how long ``noisesearch --help``, ``noisesearch list`` and
a command refused for a bad argument take, each in a fresh process.

    python benchmarks/startup.py              # 5 repeats of each
    python benchmarks/startup.py --repeats 9

Each command runs as ``python -m noisesearch ...`` (the source tree of this checkout) and
its time is the median of ``--repeats`` runs. The baseline, measured in the same run, is
``python -c "import torch, diffusers, transformers"``: what every command paid before it
did anything while the package imported them eagerly. The ratio is command / baseline.
Timings depend on the machine's load; the figures are printed, nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"
BASELINE = ["-c", "import torch, diffusers, transformers"]
COMMANDS = {
    "noisesearch --help": ["-m", "noisesearch", "--help"],
    "noisesearch list": ["-m", "noisesearch", "list"],
    "noisesearch search --algorithm nope x": ["-m", "noisesearch", "search", "--algorithm", "nope", "x"],
}


def seconds(args: list[str], repeats: int) -> float:
    """The median wall time of ``python ARGS`` in a fresh process."""
    path = [str(SOURCE), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "HF_HUB_OFFLINE": "1"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (the median is shown)")
    args = parser.parse_args()
    baseline = seconds(BASELINE, args.repeats)
    print(f"{'command':<40} {'seconds':>8} {'/ baseline':>11}")
    print(f"{'import torch, diffusers, transformers':<40} {baseline:8.2f} {1:11.2f}")
    for name, command in COMMANDS.items():
        took = seconds(command, args.repeats)
        print(f"{name:<40} {took:8.2f} {took / baseline:11.2f}")
    print(f"(median of {args.repeats} runs each; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
