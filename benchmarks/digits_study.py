"""The digits scaling study behind docs/results.md: run the bench, then write the page.

    python benchmarks/digits_study.py                      # writes runs/digits-study and docs/results.md

Two benches on the ``digits`` suite (100 conditions, sde sampler, 25 steps, guidance 0),
judged by ``digits-evaluator`` and ``digits-fd``: the scaling study (six algorithms at
budgets of 1 to 32 generations, verifier ``digits-classifier``) and a verifier-hacking
study (``random`` and ``eps-greedy`` at 8 generations, each searching with
``digits-classifier``, ``brightness`` and ``compressibility``). Their summaries and the
scaling plot go into docs/results.md and docs/results_scaling.png, with the machine they
ran on and the wall time. Both bench folders resume if a run is interrupted.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
from pathlib import Path

import torch
from studies import bench, study_sections

ROOT = Path(__file__).resolve().parent.parent
STUDY = ["--suite", "digits", "--algorithms", "random,zero-order,paths,eps-greedy,beam,smc",
         "--budgets", "1,2,4,8,16,32", "--verifier", "digits-classifier",
         "--judges", "digits-evaluator,digits-fd"]
HACKING = ["--suite", "digits", "--algorithms", "random,eps-greedy", "--budgets", "8",
           "--verifier", "digits-classifier,brightness,compressibility",
           "--judges", "digits-evaluator,digits-fd"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/digits-study")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    args = parser.parse_args()
    out, docs = Path(args.out), Path(args.docs)
    bench(STUDY, out / "scaling", progress=True)
    bench(HACKING, out / "hacking", progress=True)
    shutil.copyfile(out / "scaling" / "scaling.png", docs / "results_scaling.png")
    machine = (f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__} on "
               f"{torch.get_num_threads()} threads, no GPU" if not torch.cuda.is_available()
               else f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    study = (out / "scaling" / "summary.md").read_text().split("\n", 1)[1]  # without its title
    hacking = (out / "hacking" / "summary.md").read_text().split("\n", 1)[1]
    page = f"""# Results: inference-time scaling on the digits model

Regenerate with `python benchmarks/digits_study.py`: it runs (or resumes) the two benches
below into `runs/digits-study/`, then rewrites this page and `results_scaling.png`. This
run: {machine}. Each summary states the wall time its cells' searches took.

Two later sections come from other studies and are kept when this page is rewritten:
adaptive compute (`stop_at`, the run-wide allocator), spectral evolution search and funnel
SMC against `random`, `zero-order` and flat `smc`, on digits and shapes, written by
`python benchmarks/adaptive_study.py`; and every search and verifier hacking on the
text-to-image `shapes` model, written by `python benchmarks/shapes_study.py` (with its
reading after it).

## Scaling study

![held-out judge against NFEs](results_scaling.png)
{study}
## Verifier hacking
{hacking}"""
    results = docs / "results.md"
    later = study_sections(results)
    results.write_text(page.rstrip("\n") + ("\n\n" + later if later else "\n"))
    print(f"wrote {docs / 'results.md'} and {docs / 'results_scaling.png'}")


if __name__ == "__main__":
    main()
