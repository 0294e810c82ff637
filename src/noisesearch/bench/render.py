"""A report as data (sections of paragraphs, tables, lists, figures) and its two renderings:
Markdown (summary.md) and one self-contained HTML page (report.html, images inline).

Text marks code with backticks, as Markdown does; HTML shows it as ``<code>``.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Figure:
    path: Path  # a PNG beside the report
    alt: str


@dataclass
class Html:
    """What only a page can show (a gallery of images); Markdown shows ``text`` instead."""

    html: str
    text: str


Block = str | Table | list[str] | Figure | Html  # a paragraph, a table, a bulleted list, ...


@dataclass
class Section:
    title: str  # "" for the opening section
    level: int = 2
    blocks: list[Block] = field(default_factory=list)


def markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}", ""]
    for section in sections:
        if section.title:
            parts += [f"{'#' * section.level} {section.title}", ""]
        parts += [line for block in section.blocks for line in (markdown_block(block), "")]
    return "\n".join(parts)


def markdown_block(block: Block) -> str:
    if isinstance(block, Table):
        return markdown_table(block.header, block.rows)
    if isinstance(block, list):
        return "\n".join(f"- {item}" for item in block)
    if isinstance(block, Figure):
        return f"![{block.alt}]({block.path.name})"
    if isinstance(block, Html):
        return block.text
    return block


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}
th{background:#f3f3f3}.gallery td{text-align:center}img{image-rendering:pixelated}"""


def html_page(title: str, sections: list[Section]) -> str:
    """One file with everything inline, so that it opens from disk."""
    parts = [f"<h1>{inline(title)}</h1>"]
    for section in sections:
        if section.title:
            parts.append(f"<h{section.level}>{inline(section.title)}</h{section.level}>")
        parts += [html_block(block) for block in section.blocks]
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>\n")


def html_block(block: Block) -> str:
    if isinstance(block, Table):
        return html_table(block.header, block.rows)
    if isinstance(block, list):
        return "<ul>" + "".join(f"<li>{inline(item)}</li>" for item in block) + "</ul>"
    if isinstance(block, Figure):
        return f'<img src="{data_uri_png(block.path.read_bytes())}" alt="{html.escape(block.alt)}">'
    if isinstance(block, Html):
        return block.html
    return f"<p>{inline(block)}</p>"


def inline(text: str) -> str:
    """Text with `code` spans as HTML."""
    pieces = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                   for i, p in enumerate(pieces))


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def data_uri_png(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()
