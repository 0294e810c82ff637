"""PNG files and labelled grids of candidates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def is_image_batch(x: torch.Tensor) -> bool:
    return x.ndim == 4 and x.shape[1] in (1, 3)


def to_pil(image: torch.Tensor, scale: int = 1) -> Image.Image:
    """A (C, H, W) tensor in [0, 1] as an 8-bit RGB image, enlarged ``scale`` times (nearest)."""
    array = (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    array = np.transpose(array, (1, 2, 0))
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    pil = Image.fromarray(array, mode="RGB")
    if scale != 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
    return pil


def display_scale(image: torch.Tensor, target: int = 128) -> int:
    return max(1, target // max(image.shape[-2:]))


def save_png(image: torch.Tensor, path: Path) -> None:
    """Save one image, enlarged to about 128 px for small models."""
    to_pil(image, display_scale(image)).save(path, format="PNG")


def png_bytes(image: torch.Tensor) -> bytes:
    import io

    buffer = io.BytesIO()
    to_pil(image, display_scale(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def line_height(font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> int:
    """Pixels from one line of text in ``font`` to the next."""
    return font.getbbox("Ag")[3] + 2


def longest_prefix(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: float) -> int:
    """How many leading characters of ``text`` fit in ``width`` pixels (at least one)."""
    n = len(text)
    while n > 1 and font.getlength(text[:n]) > width:
        n -= 1
    return n


def wrap(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: float) -> list[str]:
    """``text`` broken at spaces into lines no wider than ``width`` pixels in ``font``; a word wider
    than a line is broken where it reaches the edge."""
    lines, current = [], ""
    for word in text.split():
        joined = f"{current} {word}" if current else word
        if font.getlength(joined) <= width:
            current = joined
            continue
        if current:
            lines.append(current)
        while font.getlength(word) > width and len(word) > 1:
            cut = longest_prefix(word, font, width)
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    return [*lines, current] if current else lines


def ellipsised(line: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: float) -> str:
    """``line`` shortened until it fits in ``width`` pixels with "…" at its end."""
    line = line.rstrip()
    while line and font.getlength(line + "\u2026") > width:
        line = line[:-1].rstrip()
    return line + "\u2026"


def fit_text(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: float,
             max_lines: int) -> list[str]:
    """``text`` as at most ``max_lines`` lines, each no wider than ``width`` pixels in ``font``: wrapped
    at spaces, and when it needs more lines, the last one ends with "…"."""
    lines = wrap(text, font, width)
    if len(lines) <= max_lines:
        return lines
    if max_lines < 1:
        return []
    return [*lines[:max_lines - 1], ellipsised(f"{lines[max_lines - 1]} {lines[max_lines]}", font, width)]


def draw_lines(draw: ImageDraw.ImageDraw, xy: tuple[int, int], lines: Sequence[str],
               font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> None:
    """Each line under the previous one, the first at ``xy``."""
    for k, line in enumerate(lines):
        draw.text((xy[0], xy[1] + k * line_height(font)), line, fill="black", font=font)


def labelled_grid(rows: Sequence[Sequence[tuple[str, torch.Tensor]]], tile: int = 96,
                  row_titles: Sequence[str] | None = None, title_width: int = 0,
                  label_lines: int = 3) -> Image.Image:
    """A grid with one row per sequence of (label, image); each label is written under its tile,
    and each row's title, if given, in a column of ``title_width`` pixels on the left. Labels and
    titles are wrapped to fit their tile or column (labels on at most ``label_lines`` lines) and
    end with "…" when cut."""
    font = ImageFont.load_default()
    labels = [[fit_text(label, font, tile - 4, label_lines) for label, _ in row] for row in rows]
    label_h = line_height(font) * max(1, *(len(lines) for row in labels for lines in row))
    cols = max(len(r) for r in rows)
    left = title_width if row_titles else 0
    grid = Image.new("RGB", (left + cols * (tile + 4) + 4, len(rows) * (tile + label_h + 4) + 4), "white")
    draw = ImageDraw.Draw(grid)
    for r, row in enumerate(rows):
        y = 4 + r * (tile + label_h + 4)
        if row_titles:
            title = fit_text(row_titles[r], font, title_width - 8, max(1, tile // line_height(font)))
            draw_lines(draw, (4, y + (tile - len(title) * line_height(font)) // 2), title, font)
        for c, (_, image) in enumerate(row):
            pil = to_pil(image, max(1, tile // max(image.shape[-2:])))
            pil = pil.resize((tile, tile), Image.Resampling.NEAREST)
            x = left + 4 + c * (tile + 4)
            grid.paste(pil, (x, y))
            draw_lines(draw, (x + 2, y + tile + 1), labels[r][c], font)
    return grid


def titled_rows(rows: Sequence[Image.Image], titles: Sequence[str], max_width: int = 160) -> Image.Image:
    """The images one under another, each with its title in a column on the left as wide as the
    widest title, at most ``max_width`` pixels (titles are wrapped to fit, ending with "…" when cut)."""
    font = ImageFont.load_default()
    title_width = min(max_width, 8 + math.ceil(max((font.getlength(t) for t in titles), default=0)))
    sheet = Image.new("RGB", (title_width + max(r.width for r in rows), sum(r.height for r in rows)), "white")
    draw = ImageDraw.Draw(sheet)
    y = 0
    for row, title in zip(rows, titles, strict=True):
        sheet.paste(row, (title_width, y))
        lines = fit_text(title, font, title_width - 8, max(1, (row.height - 8) // line_height(font)))
        draw_lines(draw, (4, y + (row.height - len(lines) * line_height(font)) // 2), lines, font)
        y += row.height
    return sheet
