"""Bench outputs: results.csv, summary.md, scaling.png and a self-contained report.html."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import torch

from ..catalogue import load_suite
from ..images import display_scale, to_pil
from .cells import Cell, read_images
from .tables import (
    cell_stats,
    group_table,
    hacking_matrix,
    label,
    markdown_table,
    method_table,
    primary_metric,
    ranking,
    summary_markdown,
    write_csv,
)

GALLERY_CONDITIONS = 20


def write_outputs(out: Path, config, cells: list[Cell], records: list[dict]) -> None:
    command = config.command(out)
    write_csv(out / "results.csv", records)
    group_of = load_suite(config.suite).group_of
    (out / "summary.md").write_text(summary_markdown(config, records, command, group_of) + "\n")
    scaling_plot(records, config.verifiers[0], out / "scaling.png")
    (out / "report.html").write_text(report_html(out, config, cells, records, command, group_of))


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


def data_uri_png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def image_uri(image: torch.Tensor) -> str:
    buffer = io.BytesIO()
    to_pil(image, display_scale(image, 64)).save(buffer, format="PNG")
    return data_uri_png(buffer.getvalue())


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


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


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3}.gallery td{text-align:center}img{image-rendering:pixelated}"""


def report_html(out: Path, config, cells: list[Cell], records: list[dict], command: str,
                group_of=None) -> str:
    """One file with everything inline (opens from disk): plot, tables (per category of
    condition too, given ``group_of``), matrices, gallery."""
    verifier = config.verifiers[0]
    parts = [f"<h1>noisesearch bench: suite {html.escape(config.suite)}</h1>",
             f"<p><code>{html.escape(command)}</code></p>",
             f"<p>{len(config.conditions())} conditions; process {html.escape(str(config.process))}; "
             f"seed {config.seed}. Means ± 95% confidence intervals; NFEs are the ledgers' counts.</p>",
             "<h2>Scaling</h2>",
             f'<img src="{data_uri_png((out / "scaling.png").read_bytes())}" alt="scaling plot">']
    for v in config.verifiers:
        header, rows = method_table(records, v)
        parts += [f"<h2>Search verifier <code>{html.escape(v)}</code></h2>", html_table(header, rows)]
        if group_of is not None:
            parts += [f"<h3><code>{html.escape(primary_metric(records))}</code> per category</h3>",
                      html_table(*group_table(records, v, group_of))]
        ranked = ranking(records, v)
        items = "".join(f"<li>budget {b}: " + html.escape("; ".join(f"{i + 1}. {n} {m:.3f}"
                                                                  for i, (n, _, m, _) in enumerate(rs)))
                        + "</li>" for b, rs in ranked.items())
        metric = html.escape(primary_metric(records))
        parts.append(f"<h3>Ranking at matched NFEs by <code>{metric}</code></h3>"
                     f"<ul>{items}</ul>")
    parts.append("<h2>Verifier hacking: change from no search</h2>")
    for method in config.algorithms:
        matrix = hacking_matrix(records, method)
        if matrix is not None:
            header, rows, budget = matrix
            parts += [f"<h3><code>{html.escape(method)}</code> at {budget} generations</h3>",
                      html_table(header, rows)]
    parts += ["<h2>Gallery</h2>", gallery(out, cells, records, verifier)]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>noisesearch bench {html.escape(config.suite)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


__all__ = ["write_outputs", "scaling_plot", "report_html", "markdown_table"]
