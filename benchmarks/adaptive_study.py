"""The adaptive-compute and new-methods study: run the benches, then write its section of
docs/results.md (the section is replaced; the rest of the page is kept).

    python benchmarks/adaptive_study.py          # writes runs/adaptive-study and docs/results.md

Three benches, each resumable if interrupted:

- ``digits-adaptive``: the ``digits`` suite (100 conditions, sde sampler, 25 steps, guidance 0)
  at 2 and 8 generations per condition: ``random`` with a uniform budget, the same total
  spread by the run-wide allocator (``allocate=halving``), ``random`` with ``stop_at=-0.05``
  (the classifier's p(class) >= 0.95), and ``zero-order``.
- ``digits-methods``: the same suite and budgets: ``ses`` (its low band 8 wide, as the
  paper's 128-wide latents at 4 levels: ``level=1`` on 16 x 16 digits), flat ``smc`` and
  funnel ``smc`` with the adaptive temperature.
- ``digits-ses-population``: ``ses`` with a population of 4 at 8 generations, so that its
  cross-entropy update runs (with the paper's population of 10, budgets of 8 generations or
  less end inside the first population: the search is then best-of-N over the low band).
- ``shapes``: the first 48 ``test`` prompts of ``shapes`` (8 per GenEval category), sde
  sampler at 10 steps, at 2 and 4 generations: all of the above (``ses`` with ``level=2``
  on 32 x 32 images; ``stop_at=1.9`` for ``shapes-clip``, about the 85th percentile of its
  scores on 36 ``dev`` prompts).
- ``shapes-test-split``: all 240 ``test`` prompts, 10 steps, at 2 generations: ``random``
  with a uniform budget, with the allocator, and with ``stop_at=1.9``.

The page compares, per testbed and budget, each method's judge accuracy with a 95%
confidence interval, the allocator against the uniform budget condition by condition
(paired), and the NFEs ``stop_at`` saves.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from studies import bench, machine, paired, records, values, write_section

from noisesearch.bench.cells import BASELINES
from noisesearch.bench.tables import fmt, mean_ci, nfe_spread

ROOT = Path(__file__).resolve().parent.parent
FUNNEL = "smc;schedule=funnel;temperature=adaptive"
HEADING = "## Adaptive compute, spectral evolution search and funnel SMC"  # its section of docs/results.md
BENCHES = {
    "digits-adaptive": ["--suite", "digits", "--algorithms",
                        "random,random;allocate=halving,random;stop_at=-0.05,zero-order", "--budgets", "2,8"],
    "digits-methods": ["--suite", "digits", "--algorithms", f"ses;level=1,smc,{FUNNEL}", "--budgets", "2,8"],
    "digits-ses-population": ["--suite", "digits", "--algorithms", "ses;level=1;population=4",
                              "--budgets", "8"],
    "shapes": ["--suite", "shapes", "--limit", "48", "--steps", "10", "--algorithms",
               f"random,random;allocate=halving,random;stop_at=1.9,zero-order,ses;level=2,smc,{FUNNEL}",
               "--budgets", "2,4"],
    "shapes-test-split": ["--suite", "shapes", "--steps", "10", "--algorithms",
                          "random,random;allocate=halving,random;stop_at=1.9", "--budgets", "2"],
}
METRIC = {"digits": "digits-evaluator:accuracy", "shapes": "shapes-oracle:accuracy"}


def cells(out: Path) -> dict[tuple[str, int], dict]:
    """The done cells of a bench folder by (method, budget)."""
    return {(record["method"], record["budget"]): record for record in records(out)}


def testbed_section(name: str, found: dict, metric: str, budgets: list[int]) -> list[str]:
    """The tables of one testbed: every method per budget, then the paired comparisons."""
    lines = [f"### {name}", "", f"Judge metric: `{metric}` (mean over conditions ± 95% CI).", "",
             "| method | budget (generations) | NFEs per condition (least-most) | accuracy |",
             "|---|---|---|---|"]
    for budget in budgets:
        for (method, b), record in sorted(found.items(), key=lambda item: item[0][0] not in BASELINES):
            if b == budget or (method == "no-search" and budget == budgets[0]):
                accurate = fmt(mean_ci(values(record, metric)))
                lines.append(f"| {method} | {b} | {nfe_spread(record)} | {accurate} |")
    lines += ["", "Paired differences over the same conditions (± 95% CI):", ""]
    for budget in budgets:
        uniform = found.get(("random", budget))
        halving = found.get(("random;allocate=halving", budget))
        stopped = next((r for (m, b), r in found.items() if b == budget and m.startswith("random;stop_at")),
                       None)
        if uniform and halving:
            gain = fmt(paired(halving, uniform, metric))
            lines.append(f"- {budget} generations: allocator - uniform = {gain} accuracy, at the same total "
                         f"NFEs ({sum(r['nfe'] for r in halving['rows'])} against "
                         f"{sum(r['nfe'] for r in uniform['rows'])}).")
        if uniform and stopped:
            spent = sum(r["nfe"] for r in stopped["rows"])
            total = sum(r["nfe"] for r in uniform["rows"])
            lines.append(f"- {budget} generations: `{stopped['method']}` spends {spent} of {total} NFEs "
                         f"({100 * (1 - spent / total):.0f}% saved); accuracy - uniform = "
                         f"{fmt(paired(stopped, uniform, metric))}.")
        news = [r for (m, b), r in found.items() if b == budget and m.startswith(("ses", "smc;schedule"))]
        for new in news:
            for rival in ("random", "zero-order", "smc"):
                old = found.get((rival, budget))
                if old and new["method"] != rival:
                    lines.append(f"- {budget} generations: `{new['method']}` - `{rival}` = "
                                 f"{fmt(paired(new, old, metric))} accuracy.")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/adaptive-study")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    parser.add_argument("--only", default=None, help="comma-separated benches to run (default: all)")
    args = parser.parse_args()
    out = Path(args.out)
    chosen = args.only.split(",") if args.only else list(BENCHES)
    for name in chosen:
        bench(BENCHES[name], out / name)
    digits = {**cells(out / "digits-ses-population"), **cells(out / "digits-adaptive"),
              **cells(out / "digits-methods")}
    shapes = cells(out / "shapes")
    page = [HEADING, "",
            "Regenerate with `python benchmarks/adaptive_study.py` (it runs or resumes the benches in "
            "`runs/adaptive-study/`, then rewrites this section). What each bench holds is in the script's "
            f"docstring. Machine: {machine()}.", "",
            *testbed_section("digits: 100 conditions, 25 steps", digits, METRIC["digits"], [2, 8]),
            *testbed_section("shapes: 48 test prompts, 10 steps", shapes, METRIC["shapes"], [2, 4]),
            *testbed_section("shapes: all 240 test prompts, 10 steps", cells(out / "shapes-test-split"),
                             METRIC["shapes"], [2])]
    results = Path(args.docs, "results.md")
    write_section(results, HEADING, "\n".join(page))
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
