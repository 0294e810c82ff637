"""What the studies behind docs/results.md share: running or resuming a bench, reading its
cells, paired differences over the same conditions, the machine line, and the page itself,
where each study owns its sections (it replaces its own and keeps the others')."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import torch

from noisesearch.bench.tables import mean_ci
from noisesearch.cli import main as cli

# the sections the studies after digits_study.py write, in page order
STUDY_HEADINGS = (
    "## Adaptive compute, spectral evolution search and funnel SMC",  # adaptive_study.py
    "## Text-to-image: every search on the shapes model",  # shapes_study.py
)


def bench(argv: list[str], out: Path, progress: bool = False) -> None:
    """Run (or resume) one bench; exit with its code when it fails."""
    code = cli(["bench", *argv, "--out", str(out), *([] if progress else ["--no-progress"])])
    if code != 0:
        sys.exit(code)


def records(out: Path, status: str = "done") -> list[dict]:
    """The cells of a bench folder with ``status`` (done, or skipped: below the algorithm's least budget)."""
    found = [json.loads(p.read_text()) for p in sorted((out / "cells").glob("*.json"))]
    return [r for r in found if r.get("status") == status]


def values(record: dict, metric: str) -> list[float]:
    """A cell's ``metric``, one value per condition."""
    return [row["metrics"][metric] for row in record["rows"]]


def paired(a: dict, b: dict, metric: str) -> tuple[float, float]:
    """Mean difference a - b of ``metric`` over the same conditions, with its 95% CI."""
    return mean_ci([x - y for x, y in zip(values(a, metric), values(b, metric), strict=True)])


def machine() -> str:
    """The machine a study ran on, in one line."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__}, no GPU"


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace the section that starts at the line ``heading`` (up to the next ``## `` line) with
    ``text``, which starts with that heading; append it when the page has no such section."""
    page = path.read_text() if path.exists() else ""
    lines = page.split("\n")
    if heading in lines:
        start = lines.index(heading)
        end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        before, after = "\n".join(lines[:start]).rstrip("\n"), "\n".join(lines[end:])
    else:
        before, after = page.rstrip("\n"), ""
    parts = [p for p in (before, text.rstrip("\n"), after.rstrip("\n")) if p]
    path.write_text("\n\n".join(parts) + "\n")


def study_sections(path: Path) -> str:
    """The page from the first section a later study owns onwards ("" when there is none)."""
    page = path.read_text() if path.exists() else ""
    lines = page.split("\n")
    starts = [lines.index(h) for h in STUDY_HEADINGS if h in lines]
    return "\n".join(lines[min(starts):]) if starts else ""
