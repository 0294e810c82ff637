"""The text-to-image study on the shapes model: every search at matched NFEs, and verifier hacking.

    python benchmarks/shapes_study.py       # the whole study: 240 test prompts, 25 steps, 1-16 generations
    python benchmarks/shapes_study.py --limit 36 --steps 10 --budgets 1,2,4,8     # a smaller run

Three benches on the ``shapes`` suite, each resumable if interrupted (rerun the same command),
judged by ``shapes-oracle`` (GenEval-style accuracy) and ``shapes-fd`` (fidelity and diversity):

- ``comparison``: every algorithm at every budget with the ``shapes-clip`` verifier, with the
  no-search and more-steps baselines;
- ``comparison-16``: the same at 16 generations, when 16 is not among the budgets (a bench
  of its own, so that a study run at smaller budgets first is extended, not redone);
- ``hacking``: ``random`` (Ma et al.'s search) and ``eps-greedy`` (Ramesh & Mardani's) at
  ``--hacking-budget`` generations with each search verifier:
  ``shapes-clip``, ``shapes-vqa`` (trained apart from it, another architecture and
  objective), their mean-rank ensemble, and ``brightness`` (which a search can satisfy
  without following the prompt). Every winner is scored by every verifier and both judges.

Then it rewrites its section of docs/results.md (the rest of the page is kept), with the
scaling plot (docs/results_shapes_scaling.png) and the comparison's report
(docs/shapes_report.html).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from studies import bench, machine, paired, records, values, write_section

from noisesearch.bench.report import scaling_plot
from noisesearch.bench.tables import cell_stats, fmt, group_table, label, mean_ci
from noisesearch.worlds.shapes.prompts import CATEGORIES, prompt_category

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Text-to-image: every search on the shapes model"
ALGORITHMS = ("random,zero-order,ses;level=2,paths,noise-gradient,eps-greedy,zero-order-steps,beam,svdd,"
              "mcts,smc")
VERIFIER = "shapes-clip"
HACKING_VERIFIERS = f"{VERIFIER},shapes-vqa,ensemble:{VERIFIER}+shapes-vqa,brightness"
JUDGES = "shapes-oracle,shapes-fd"
ACCURACY, FD = "shapes-oracle:accuracy", "shapes-fd:fd"
PUBLISHED = {  # GenEval (Ghosh et al. 2023), Table 2: no search, one sample per prompt
    "SD 1.5 (GenEval)": [0.97, 0.38, 0.35, 0.76, 0.04, 0.06, 0.43],
    "SDXL (GenEval)": [0.98, 0.74, 0.39, 0.85, 0.15, 0.23, 0.55],
}


def mean_nfe(record: dict) -> float:
    return cell_stats(record)["nfe"][0]


def accuracy(record: dict) -> tuple[float, float]:
    """A cell's oracle accuracy, mean and 95% CI half-width."""
    return mean_ci(values(record, ACCURACY))


def versus(a: dict, b: dict) -> str:
    """Oracle accuracy a - b over the same prompts, mean ± 95% CI."""
    return fmt(paired(a, b, ACCURACY))


def profile(no_search: dict) -> list[str]:
    """The model without search, per category, beside the published rows."""
    per = {c: [] for c in CATEGORIES}
    for row in no_search["rows"]:
        per[prompt_category(row["condition"])].append(row["metrics"][ACCURACY])
    lines = ["| model | " + " | ".join(CATEGORIES) + " | overall |", "|---" * (len(CATEGORIES) + 2) + "|",
             "| shapes, this run (no search) | " + " | ".join(fmt(mean_ci(per[c]), 2) for c in CATEGORIES)
             + f" | {fmt(accuracy(no_search), 2)} |"]
    lines += [f"| {model} | " + " | ".join(f"{v:.2f}" for v in row) + " |"
              for model, row in PUBLISHED.items()]
    return lines


def rankings(found: list[dict], skipped: list[dict], budgets: list[int], generation: float) -> list[str]:
    """Per budget, every method by oracle accuracy, with its NFEs, shapes-fd and the paired
    difference to best-of-N at the same budget; then the methods the budget (``generation`` NFEs
    per generation) is too small for."""
    lines = []
    for budget in budgets:
        cells = [r for r in found if r["budget"] == budget and r["method"] != "no-search"]
        if not cells:
            continue
        best_of_n = next((r for r in cells if r["method"] == "random"), None)
        lines += [f"**{budget} generation{'s' if budget > 1 else ''}**", "",
                  "| rank | method | NFEs per prompt | oracle accuracy | - best-of-N (paired) | shapes-fd |",
                  "|---|---|---|---|---|---|"]
        ordered = sorted(cells, key=lambda r: -accuracy(r)[0])
        for rank, record in enumerate(ordered, 1):
            difference = versus(record, best_of_n) if best_of_n and record is not best_of_n else "-"
            fd = record.get("set_metrics", {}).get(FD)
            fd_text = "-" if fd is None else f"{fd:.2f}"
            lines.append(f"| {rank} | {label(record)} | {mean_nfe(record):.0f} | "
                         f"{fmt(accuracy(record))} | {difference} | {fd_text} |")
        too_small = [f"`{r['method']}` (needs {r['reason'].rsplit('>= ', 1)[-1]} NFEs)"
                     for r in skipped if r["budget"] == budget]
        if too_small:
            lines += ["", f"Not run: the budget ({budget * generation:.0f} NFEs) is below the least these "
                          "spend: " + ", ".join(too_small) + "."]
        lines.append("")
    return lines


def best_against_best_of_16(found: list[dict]) -> list[str]:
    """The best method at 4 generations against best-of-16, paired over the prompts."""
    at4 = [r for r in found if r["budget"] == 4 and r["method"] not in ("no-search", "more-steps")]
    best16 = next((r for r in found if r["budget"] == 16 and r["method"] == "random"), None)
    if not at4 or best16 is None:
        return []
    best = max(at4, key=lambda r: accuracy(r)[0])
    return [f"The best method at 4 generations, `{best['method']}` ({mean_nfe(best):.0f} NFEs per prompt), "
            f"reaches {fmt(accuracy(best))} oracle accuracy; best-of-16 ({mean_nfe(best16):.0f} NFEs) "
            f"reaches {fmt(accuracy(best16))}. Paired difference (best at 4 - best-of-16): "
            f"{versus(best, best16)}.", ""]


HACKING_ALGORITHMS = ("random", "eps-greedy")


def hacking(found: list[dict], method: str) -> list[str]:
    """For ``method``, rows: the search verifiers (and no search); columns: both judges and every
    verifier's score."""
    scores = sorted({k for r in found for k in r["rows"][0]["metrics"] if k.startswith("score:")
                     and "ensemble" not in k})
    header = ["search verifier", "NFEs per prompt", "oracle accuracy", "shapes-fd", *scores]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    searched = sorted((r for r in found if r["method"] == method),
                      key=lambda r: HACKING_VERIFIERS.split(",").index(r["verifier"]))
    order = [r for r in found if r["method"] == "no-search"] + searched
    for record in order:
        fd = record.get("set_metrics", {}).get(FD)
        lines.append("| " + " | ".join([
            record["verifier"] or "none (no search)", f"{mean_nfe(record):.0f}", fmt(accuracy(record)),
            "-" if fd is None else f"{fd:.2f}", *(fmt(mean_ci(values(record, s))) for s in scores)]) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/shapes-study")
    parser.add_argument("--docs", default=str(ROOT / "docs"))
    parser.add_argument("--limit", type=int, default=None,
                        help="the test split's first N prompts (default: all)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the suite's 25)")
    parser.add_argument("--budgets", default="1,2,4,8,16")
    parser.add_argument("--algorithms", default=ALGORITHMS)
    parser.add_argument("--hacking-budget", type=int, default=8)
    parser.add_argument("--only", default=None,
                        help="comma-separated benches to run (comparison, comparison-16, hacking), then stop "
                             "without writing the page")
    args = parser.parse_args()
    out, docs = Path(args.out), Path(args.docs)
    budgets = [int(b) for b in args.budgets.split(",")]
    common = ["--suite", "shapes", "--judges", JUDGES]
    common += ["--limit", str(args.limit)] if args.limit else []
    common += ["--steps", str(args.steps)] if args.steps else []
    benches = {
        "comparison": ["--algorithms", args.algorithms, "--budgets", args.budgets, "--verifier", VERIFIER],
        "comparison-16": ["--algorithms", args.algorithms, "--budgets", "16", "--verifier", VERIFIER],
        "hacking": ["--algorithms", ",".join(HACKING_ALGORITHMS), "--budgets", str(args.hacking_budget),
                    "--verifier", HACKING_VERIFIERS],
    }
    if 16 in budgets:
        del benches["comparison-16"]
    for bench_name in args.only.split(",") if args.only else benches:
        bench([*common, *benches[bench_name]], out / bench_name)
    if args.only:
        return

    found = records(out / "comparison")
    if 16 not in budgets:  # the 16-generation cells, without their copy of the no-search cell
        found += [r for r in records(out / "comparison-16") if r["method"] != "no-search"]
    skipped = records(out / "comparison", "skipped") + records(out / "comparison-16", "skipped")
    no_search = next(r for r in found if r["method"] == "no-search")
    scaling_plot(found, VERIFIER, docs / "results_shapes_scaling.png")
    shutil.copyfile(out / "comparison" / "report.html", docs / "shapes_report.html")
    trained = json.loads((ROOT / "src/noisesearch/weights/shapes/model_card.json").read_text())
    settings = [f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                if k not in ("out", "docs", "only") and v != parser.get_default(k)]
    command = " ".join(["python benchmarks/shapes_study.py", *settings])
    minutes = sum(r.get("wall_s", 0.0) for b in benches for r in records(out / b)) / 60
    header, rows = group_table(found, VERIFIER, prompt_category)
    prompts = f"first {args.limit}" if args.limit else "all 240"
    page = [
        HEADING, "",
        f"Regenerate with `{command}`: it runs (or resumes) the benches in `runs/shapes-study/` (or "
        f"`--out`) and rewrites this section. Prompts: the `test` split's {prompts} "
        f"(the same number per GenEval category); sampler `sde`, {args.steps or 25} steps, guidance 3; "
        f"seed 0; the model's weights after {trained['training']['trained_steps']} training steps. "
        f"Machine: {machine()}; the searches took {minutes:.0f} minutes. Accuracy is the `shapes-oracle`'s, "
        "mean ± 95% CI over prompts; `shapes-fd` is the Frechet distance of all winners to drawn scenes "
        "of the same prompts in a held-out encoder's features (lower is better). The full report with "
        f"every table and a gallery (budgets {args.budgets}): [shapes_report.html](shapes_report.html).", "",
        "### The model without search", "", *profile(no_search), "",
        "### Every search at matched NFEs", "",
        "![oracle accuracy against NFEs per prompt](results_shapes_scaling.png)", "",
        *rankings(found, skipped, sorted({*budgets, 16}), mean_nfe(no_search)),
        *best_against_best_of_16(found),
        "### Oracle accuracy per GenEval category (± 95% CI)", "",
        "| " + " | ".join(header) + " |", "|---" * len(header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows), "",
        f"### Verifier hacking: each search verifier at {args.hacking_budget} generations", "",
        "Each row searched with one verifier; its winners are scored by both judges and by every "
        "verifier (the ensemble's mean rank is relative to the candidates scored with it, so it has "
        "no column).", "",
    ]
    for method in HACKING_ALGORITHMS:
        page += [f"`{method}`:", "", *hacking(records(out / "hacking"), method), ""]
    write_section(docs / "results.md", HEADING, "\n".join(page))
    print(f"wrote {docs / 'results.md'}, {docs / 'results_shapes_scaling.png'} and "
          f"{docs / 'shapes_report.html'}")


if __name__ == "__main__":
    main()
