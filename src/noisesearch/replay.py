"""Regenerate a run's winners from their saved noises and check them against the record."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file

from .algorithms.trajectory import sample
from .errors import InputError
from .images import is_image_batch, png_bytes
from .runs import read_results
from .spec import RunSpec


@dataclass
class Replayed:
    problem: int
    condition: object
    recorded: float
    score: float
    image_identical: bool | None  # None when the process has no image output

    @property
    def ok(self) -> bool:
        return self.score == self.recorded and self.image_identical is not False


def replay(out: Path | str) -> list[Replayed]:
    """Each winner regenerated on its own from ``noises/`` and rescored by the run's verifier."""
    out = Path(out)
    config_path = out / "config.json"
    if not config_path.exists():
        raise InputError(f"{out} holds no config.json; valid: a folder written by 'noisesearch search'")
    config = json.loads(config_path.read_text())
    if config.get("verifier") is None:
        raise InputError(f"{out} was searched with a Python callable verifier; replay it from Python")
    run = RunSpec.from_json(config).build()  # on the run's device: another one rounds differently
    process, verifier = run.process, run.verifier
    replayed = []
    for rec in read_results(out):
        if rec.get("status", "done") != "done":  # a failed condition has no winner
            continue
        noises = load_file(str(out / rec["noises"]))
        cond = process.encode([rec["condition"]])
        images = sample(process, noises, cond, rec["recipe"].get("path"))
        score = float(verifier.score(images, [rec["condition"]])[0])
        identical = None
        if is_image_batch(images) and rec.get("image"):
            identical = png_bytes(images[0]) == (out / rec["image"]).read_bytes()
        replayed.append(Replayed(rec["problem"], rec["condition"], rec["best_score"], score, identical))
    return replayed
