"""The digits scaling study behind docs/results.md: run the bench, then write the page.

    python benchmarks/digits_study.py                      # writes runs/digits-study and docs/results.md

Runs ``noisesearch bench`` on the ``digits`` suite (100 conditions, sde sampler, 25
steps, guidance 0) with six algorithms at budgets of 1 to 32 generations, verifier
``digits-classifier``, judges ``digits-evaluator`` and ``digits-fd``, then copies its
summary and scaling plot into docs/results.md and docs/results_scaling.png with the
machine it ran on and its wall time. The bench folder resumes if the run is interrupted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import torch

from noisesearch.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
ARGS = ["--suite", "digits", "--algorithms", "random,zero-order,paths,eps-greedy,beam,smc",
        "--budgets", "1,2,4,8,16,32", "--verifier", "digits-classifier",
        "--judges", "digits-evaluator,digits-fd"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/digits-study")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args()
    start = time.perf_counter()
    code = cli(["bench", *ARGS, "--out", args.out])
    if code != 0:
        sys.exit(code)
    wall = time.perf_counter() - start
    out, docs = Path(args.out), Path(args.docs)
    shutil.copyfile(out / "scaling.png", docs / "results_scaling.png")
    summary = (out / "summary.md").read_text().split("\n", 1)[1]  # without its title
    machine = (f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__} on "
               f"{torch.get_num_threads()} threads, no GPU" if not torch.cuda.is_available()
               else f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    page = f"""# Results: inference-time scaling on the digits model

Regenerate with `python benchmarks/digits_study.py` (it runs the bench below into
`runs/digits-study`, then rewrites this page and `results_scaling.png`). This run: {machine};
the whole bench took {wall / 60:.1f} minutes of wall time (cells already done when it started
are not counted).

![judge target probability against NFEs](results_scaling.png)
{summary}"""
    (docs / "results.md").write_text(page)
    print(f"wrote {docs / 'results.md'} and {docs / 'results_scaling.png'}")


if __name__ == "__main__":
    main()
