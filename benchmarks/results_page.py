"""docs/results.md is written by several studies, each owning its sections: a study replaces its
own and keeps the others'."""

from __future__ import annotations

from pathlib import Path

# the sections the studies after digits_study.py write, in page order
STUDY_HEADINGS = (
    "## Adaptive compute, spectral evolution search and funnel SMC",  # adaptive_study.py
    "## Text-to-image: every search on the shapes model",  # shapes_study.py
)


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
