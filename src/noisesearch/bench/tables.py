"""Bench tables: results.csv, means with 95% confidence intervals, rankings, the hacking matrix."""

from __future__ import annotations

import csv
import math
from pathlib import Path

Z95 = 1.959964  # two-sided 95% quantile of the standard normal


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (normal approximation, sample std)."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, Z95 * math.sqrt(var / n)


def metric_names(records: list[dict]) -> list[str]:
    """Per-row metrics (judges', then every verifier's score) in a stable order."""
    names: list[str] = []
    for record in records:
        for row in record.get("rows", []):
            names += [m for m in row["metrics"] if m not in names]
    judges = [m for m in names if not m.startswith("score:")]
    return judges + [m for m in names if m.startswith("score:")]


def set_metric_names(records: list[dict]) -> list[str]:
    names: list[str] = []
    for record in records:
        names += [m for m in record.get("set_metrics", {}) if m not in names]
    return names


def write_csv(path: Path, records: list[dict]) -> None:
    """One row per method, budget, verifier and condition."""
    metrics = metric_names(records)
    fields = ["method", "budget", "verifier", "condition", "problem", "nfe", "verifier_calls", "wall_s",
              "verifier_score", *metrics]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for record in records:
            for row in record.get("rows", []):
                writer.writerow({"method": record["method"], "budget": record["budget"],
                                 "verifier": record["verifier"] or "", "condition": row["condition"],
                                 "problem": row["problem"], "nfe": row["nfe"],
                                 "verifier_calls": row["verifier_calls"], "wall_s": f"{row['wall_s']:.4f}",
                                 "verifier_score": row["verifier_score"],
                                 **{m: row["metrics"].get(m, "") for m in metrics}})


def cell_stats(record: dict) -> dict[str, tuple[float, float]]:
    """(mean, 95% CI half-width) of NFEs, verifier score and every metric of a done cell."""
    rows = record["rows"]
    stats = {"nfe": mean_ci([r["nfe"] for r in rows]),
             "verifier_score": mean_ci([r["verifier_score"] for r in rows])}
    for name in {m for r in rows for m in r["metrics"]}:
        stats[name] = mean_ci([r["metrics"][name] for r in rows if name in r["metrics"]])
    for name, value in record.get("set_metrics", {}).items():
        stats[name] = (value, math.nan)
    return stats


def primary_metric(records: list[dict]) -> str:
    """What rankings and the scaling plot use: the first judge's first metric, else the verifier score."""
    judged = [m for m in metric_names(records) if not m.startswith("score:")]
    return judged[0] if judged else "verifier_score"


def fmt(value: tuple[float, float] | None, digits: int = 3) -> str:
    if value is None or math.isnan(value[0]):
        return "-"
    mean, ci = value
    return f"{mean:.{digits}f}" if math.isnan(ci) else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def label(record: dict) -> str:
    if record["method"] == "more-steps":
        return f"more steps ({record.get('steps', '?')})"
    return record["method"]


def spent(record: dict) -> str:
    """Mean NFEs spent per condition as a percent of the NFEs the cell's algorithm was sized to
    (its budget): a shortfall is less compute than its rivals at a matched budget. "-" for the
    baselines, whose NFEs are the budget by construction."""
    sized = record.get("budget_nfe")
    if not sized or not record.get("rows"):
        return "-"
    return f"{100 * sum(r['nfe'] for r in record['rows']) / len(record['rows']) / sized:.0f}%"


def nfe_spread(record: dict) -> str:
    """Mean NFEs per condition, with the least and most any condition spent when they differ
    (adaptive compute: ``stop_at``, ``patience``, ``allocate``)."""
    spends = [r["nfe"] for r in record["rows"]]
    mean = f"{sum(spends) / len(spends):.0f}"
    return mean if min(spends) == max(spends) else f"{mean} ({min(spends)}-{max(spends)})"


def method_table(records: list[dict], verifier: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows: every baseline and every cell of ``verifier``, by budget."""
    metrics = metric_names(records) + set_metric_names(records)
    header = ["method", "budget (generations)", "NFEs (least-most)", "spent", "verifier score", *metrics,
              "wall s"]
    rows = []
    chosen = [r for r in records if r["verifier"] in (None, verifier)]
    for record in sorted(chosen, key=lambda r: (r["budget"], r["verifier"] is not None)):
        if record["status"] != "done":
            why = "failed" if record["status"] == "failed" else "does not fit"
            rows.append([label(record), str(record["budget"]), "-", "-", f"{why}: {record['reason']}",
                         *["-"] * len(metrics), "-"])
            continue
        stats = cell_stats(record)
        # the baselines were scored by every verifier; a search by its own
        own = stats.get(f"score:{verifier}", stats["verifier_score"])
        rows.append([label(record), str(record["budget"]), nfe_spread(record), spent(record),
                     fmt(own), *[fmt(stats.get(m)) for m in metrics],
                     f"{record['wall_s']:.1f}"])
    return header, rows


def ranking(records: list[dict], verifier: str) -> dict[int, list[tuple[str, float, float, float]]]:
    """Per budget: (method, mean NFEs, primary metric mean, CI), best first, baselines included."""
    metric = primary_metric(records)
    by_budget: dict[int, list] = {}
    for record in records:
        if record["status"] != "done" or record["verifier"] not in (None, verifier):
            continue
        if record["method"] == "no-search" and record["budget"] != 1:
            continue
        stats = cell_stats(record)
        mean, ci = stats.get(metric, (math.nan, math.nan))
        by_budget.setdefault(record["budget"], []).append((label(record), stats["nfe"][0], mean, ci))
    return {b: sorted(rows, key=lambda row: -row[2]) for b, rows in sorted(by_budget.items())}


def group_table(records: list[dict], verifier: str, group_of) -> tuple[list[str], list[list[str]]]:
    """The primary metric's mean ± 95% CI per category of condition (GenEval's table), for every
    baseline and cell of ``verifier``, with the overall mean last."""
    metric = primary_metric(records)
    groups: list[str] = []
    for record in records:
        for row in record.get("rows", []):
            if (g := group_of(row["condition"])) not in groups:
                groups.append(g)
    header = ["method", "budget (generations)", "NFEs", *groups, "overall"]
    rows = []
    chosen = [r for r in records if r["status"] == "done" and r["verifier"] in (None, verifier)]
    for record in sorted(chosen, key=lambda r: (r["budget"], r["verifier"] is not None)):
        values: dict[str, list[float]] = {g: [] for g in groups}
        for row in record["rows"]:
            if metric in row["metrics"]:
                values[group_of(row["condition"])].append(row["metrics"][metric])
        overall = [x for v in values.values() for x in v]
        rows.append([label(record), str(record["budget"]), f"{cell_stats(record)['nfe'][0]:.0f}",
                     *(fmt(mean_ci(v)) for v in values.values()), fmt(mean_ci(overall))])
    return header, rows


def hacking_matrix(records: list[dict], method: str) -> tuple[list[str], list[list[str]], int] | None:
    """Rows: search verifiers; columns: every judge metric and verifier score; cells: the change
    from no search (Ma et al. 2025, Table 2), for ``method`` at its largest budget that ran."""
    base = next((r for r in records if r["method"] == "no-search" and r["status"] == "done"), None)
    cells = [r for r in records if r["method"] == method and r["status"] == "done"]
    if base is None or not cells:
        return None
    budget = max(r["budget"] for r in cells)
    metrics = metric_names(records) + set_metric_names(records)
    base_stats = cell_stats(base)
    rows = []
    for record in sorted((r for r in cells if r["budget"] == budget), key=lambda r: r["verifier"]):
        stats = cell_stats(record)
        deltas = []
        for m in metrics:
            if m in stats and m in base_stats:
                deltas.append(f"{stats[m][0] - base_stats[m][0]:+.3f}")
            else:
                deltas.append("-")
        rows.append([record["verifier"], *deltas])
    return ["search verifier", *metrics], rows, budget
