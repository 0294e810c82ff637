from __future__ import annotations

import html
import io
import math
from pathlib import Path

import torch

from ..catalogue import load_suite
from ..images import display_scale, to_pil
from ..spec import BenchSpec
from .cells import Cell, read_images
from .render import Figure, Html, Section, Table, data_uri_png, html_page, markdown
from .tables import (
    cell_stats,
    group_table,
    hacking_matrix,
    label,
    method_table,
    primary_metric,
    ranking,
    write_csv,
)

GALLERY_CONDITIONS = 20


def write_outputs(out: Path, spec: BenchSpec, cells: list[Cell], records: list[dict]) -> None:
    write_csv(out / "results.csv", records)
    scaling_plot(records, spec.verifiers[0], out / "scaling.png")
    title = f"noisesearch bench: suite {spec.suite}"
    parts = sections(out, spec, cells, records)
    (out / "summary.md").write_text(markdown(title, parts) + "\n")
    (out / "report.html").write_text(html_page(title, parts))


def sections(out: Path, spec: BenchSpec, cells: list[Cell], records: list[dict]) -> list[Section]:
    """The report: the command and what the numbers are, the scaling plot, per search verifier the
    table of means with 95% CIs (per category of condition too, when the suite has categories)
    and the ranking at matched NFEs, the verifier-hacking matrices, and the gallery."""
    metric, group_of = primary_metric(records), load_suite(spec.suite).group_of
    minutes = sum(r.get("wall_s", 0.0) for r in records) / 60
    parts = [Section("", 1, [
        f"`{spec.command(out)}`",
        f"Conditions: {len(spec.conditions())}; process {spec.process}; seed {spec.seed}. "
        "Values are means over conditions ± the half-width of a 95% confidence interval "
        "(normal approximation). Budgets are in generations of the process "
        "(NFEs per condition / NFEs of one sample); NFEs are the ledgers' counts, and `spent` "
        "is a search's NFEs as a percent of the budget it was sized to. The cells' "
        f"searches took {minutes:.1f} minutes of wall time in all."]),
        Section("Scaling", 2, [Figure(out / "scaling.png", "scaling plot")])]
    for verifier in spec.verifiers:
        parts.append(Section(f"Search verifier `{verifier}`", 2, [Table(*method_table(records, verifier))]))
        if group_of is not None:
            table = Table(*group_table(records, verifier, group_of))
            parts.append(Section(f"`{metric}` per category", 3, [table]))
        ranked = [f"budget {budget}: " + "; ".join(f"{i + 1}. {name} {mean:.3f} ({nfe:.0f} NFEs)"
                                                  for i, (name, nfe, mean, _) in enumerate(rows))
                  for budget, rows in ranking(records, verifier).items()]
        parts.append(Section(f"Ranking at matched NFEs by `{metric}`", 3, [ranked]))
    parts.append(Section("Verifier hacking: change from no search", 2, [
        "Each row searches with one verifier; each column is a judge's metric or a verifier's "
        "score of the winners; each cell is the change of its mean from the no-search samples. "
        "A search verifier that improves its own column while the judges' columns fall is "
        "being hacked."]))
    for method in spec.algorithms:
        matrix = hacking_matrix(records, method)
        if matrix is not None:
            header, rows, budget = matrix
            parts.append(Section(f"`{method}` at {budget} generations", 3, [Table(header, rows)]))
    parts.append(Section("Gallery", 2, [Html(gallery(out, cells, records, spec.verifiers[0]),
                                             "Winners beside the no-search samples: report.html.")]))
    return parts


def scaling_plot(records: list[dict], verifier: str, path: Path) -> None:
    """The primary judge metric against mean NFEs (log x), a line per algorithm, with the
    more-steps baseline (the same NFEs spent on denoising) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    metric = primary_metric(records)
    lines: dict[str, list[tuple[float, float, float]]] = {}
    for record in records:
        if record["status"] != "done" or record["verifier"] not in (None, verifier):
            continue
        stats = cell_stats(record)
        mean, ci = stats.get(metric, (math.nan, math.nan))
        name = "more steps" if record["method"] in ("no-search", "more-steps") else record["method"]
        lines.setdefault(name, []).append((stats["nfe"][0], mean, 0.0 if math.isnan(ci) else ci))
    no_search = next((r for r in records if r["method"] == "no-search" and r["status"] == "done"), None)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, points in sorted(lines.items()):
        if name != "more steps" and no_search is not None:  # every search starts from the no-search sample
            stats = cell_stats(no_search)
            points = [(stats["nfe"][0], stats[metric][0], 0.0), *points] if metric in stats else points
        points.sort()
        x, y, err = zip(*points, strict=True)
        style = {"linestyle": "--", "color": "black"} if name == "more steps" else {"marker": "o"}
        ax.errorbar(x, y, yerr=err, label=name, capsize=2, **style)
    ax.set_xscale("log")
    ticks = sorted({round(x) for x, _, _ in lines.get("more steps", [])})  # the budgets' NFEs
    if ticks:
        ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([str(t) for t in ticks]))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("NFEs per condition")
    ax.set_ylabel(metric)
    ax.set_title(f"search verifier {verifier}: held-out judge against compute")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def image_uri(image: torch.Tensor) -> str:
    buffer = io.BytesIO()
    to_pil(image, display_scale(image, 64)).save(buffer, format="PNG")
    return data_uri_png(buffer.getvalue())


def gallery(out: Path, cells: list[Cell], records: list[dict], verifier: str) -> str:
    """Per condition: the no-search sample beside each algorithm's winner at its largest budget."""
    by_id = {c.id: (c, r) for c, r in zip(cells, records, strict=True)}
    metric = primary_metric(records)
    base = next(((c, r) for c, r in by_id.values()
                 if c.method == "no-search" and r["status"] == "done"), None)
    if base is None or not base[1].get("images"):
        return "<p>No images: this suite's samples are not pictures.</p>"
    columns = [base]
    for method in dict.fromkeys(c.method for c in cells if c.verifier == verifier):
        done = [(c, r) for c, r in by_id.values()
                if c.method == method and c.verifier == verifier and r["status"] == "done"]
        if done:
            columns.append(max(done, key=lambda cr: cr[0].budget))
    images = [read_images(out, c) for c, _ in columns]
    titles = [label(r) + ("" if c.method == "no-search" else f" ({c.budget} gen)") for c, r in columns]
    head = "".join(f"<th>{html.escape(t)}</th>" for t in titles)
    rows = []
    for i in range(min(GALLERY_CONDITIONS, len(base[1]["rows"]))):
        tds = []
        for (_, record), imgs in zip(columns, images, strict=True):
            row = record["rows"][i]
            judged = row["metrics"].get(metric)
            caption = f"v {row['verifier_score']:.3f}" + ("" if judged is None else f" · j {judged:.3f}")
            alt = html.escape(f"condition {row['condition']}")
            tds.append(f'<td><img src="{image_uri(imgs[i])}" alt="{alt}">'
                       f"<br><small>{html.escape(caption)}</small></td>")
        rows.append(f"<tr><th>{html.escape(str(base[1]['rows'][i]['condition']))}</th>{''.join(tds)}</tr>")
    return (f"<p>v: search verifier <code>{html.escape(verifier)}</code>; "
            f"j: <code>{html.escape(metric)}</code>.</p>"
            f"<table class=gallery><thead><tr><th>condition</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
