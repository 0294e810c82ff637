"""The cells of a bench and their storage: one cell is a search of every condition.

A cell is (method, budget, verifier). Methods are the algorithms plus two baselines that
search nothing: ``no-search`` (one sample per condition at the process's steps) and
``more-steps`` (one sample with ``budget`` times the steps: the same NFEs spent on
denoising instead, Ma et al. 2025, Figure 1). The baselines do not depend on the verifier
and are run once. A finished cell is written as ``cells/<id>.safetensors`` (its winners)
and then ``cells/<id>.json``, each written whole (``store.atomic``): the JSON file
is the mark that the cell is done, so a bench killed at any moment is resumed by running
the cells that have none.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..store import atomic, check_tensors, load_tensors, read_json, readable, write_json

log = logging.getLogger("noisesearch")

BASELINES = ("no-search", "more-steps")


@dataclass(frozen=True)
class Cell:
    method: str  # an algorithm name or a baseline
    budget: int  # in generations of the suite's process
    verifier: str | None  # the search verifier; None for the baselines

    @property
    def id(self) -> str:
        name = f"{self.method}-b{self.budget}" + (f"-{self.verifier}" if self.verifier else "")
        return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def plan_cells(algorithms: list[str], budgets: list[int], verifiers: list[str]) -> list[Cell]:
    """Baselines first (no search, then more steps per budget), then every algorithm x budget x verifier."""
    cells = [Cell("no-search", 1, None)]
    cells += [Cell("more-steps", b, None) for b in budgets if b > 1]
    cells += [Cell(a, b, v) for v in verifiers for b in budgets for a in algorithms]
    return cells


def cell_paths(out: Path, cell: Cell) -> tuple[Path, Path]:
    return out / "cells" / f"{cell.id}.json", out / "cells" / f"{cell.id}.safetensors"


def is_done(out: Path, cell: Cell) -> bool:
    """Whether the cell's record and winners are on disk and read back whole (a damaged cell,
    named in a warning, is computed again)."""
    record, images = cell_paths(out, cell)
    if not record.exists():
        return False
    whole = readable(read_json, record) and (not images.exists() or readable(check_tensors, images))
    if not whole:
        log.warning("cell %s is damaged (%s); computing it again", cell.id, record.parent)
    return whole


def write_cell(out: Path, cell: Cell, record: dict[str, Any], images: torch.Tensor | None) -> None:
    """Winners first, then the record, each written whole: a cell is either complete or absent."""
    record_path, images_path = cell_paths(out, cell)
    record_path.parent.mkdir(parents=True, exist_ok=True)
    if images is not None:
        with atomic(images_path) as tmp:
            save_file({"images": images.contiguous().cpu()}, str(tmp))
    write_json(record_path, {"cell": cell.id, "method": cell.method, "budget": cell.budget,
                             "verifier": cell.verifier, **record}, fsync=True, indent=None)


def read_cell(out: Path, cell: Cell) -> dict[str, Any]:
    return read_json(cell_paths(out, cell)[0])


def read_images(out: Path, cell: Cell) -> torch.Tensor | None:
    path = cell_paths(out, cell)[1]
    return load_tensors(path)["images"] if path.exists() else None
