"""PNG files and labelled grids of candidates."""

from __future__ import annotations

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


def labelled_grid(rows: Sequence[Sequence[tuple[str, torch.Tensor]]], tile: int = 96,
                  row_titles: Sequence[str] | None = None, title_width: int = 0) -> Image.Image:
    """A grid with one row per sequence of (label, image); each label is written under its tile,
    and each row's title, if given, in a column of ``title_width`` pixels on the left."""
    font = ImageFont.load_default()
    label_h = 14
    cols = max(len(r) for r in rows)
    left = title_width if row_titles else 0
    grid = Image.new("RGB", (left + cols * (tile + 4) + 4, len(rows) * (tile + label_h + 4) + 4), "white")
    draw = ImageDraw.Draw(grid)
    for r, row in enumerate(rows):
        y = 4 + r * (tile + label_h + 4)
        if row_titles:
            draw.text((4, y + tile // 2 - 6), row_titles[r], fill="black", font=font)
        for c, (label, image) in enumerate(row):
            pil = to_pil(image, max(1, tile // max(image.shape[-2:])))
            pil = pil.resize((tile, tile), Image.Resampling.NEAREST)
            x = left + 4 + c * (tile + 4)
            grid.paste(pil, (x, y))
            draw.text((x + 2, y + tile + 1), label, fill="black", font=font)
    return grid
