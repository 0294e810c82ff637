"""Regenerate a run's winners from their saved noises and check them against the record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .algorithms.trajectory import sample
from .errors import InputError
from .images import is_image_batch, png_bytes
from .runs import read_results
from .spec import Run, RunSpec
from .store import DamagedFile, load_tensors, read_json


@dataclass
class Replayed:
    """One condition's verdict: its winner regenerated and rescored, or why it could not be."""

    problem: int
    condition: object
    recorded: float
    score: float | None = None
    image_identical: bool | None = None  # None when the process has no image output
    error: str | None = None  # the winner could not be regenerated (a missing or damaged file)

    @property
    def ok(self) -> bool:
        return self.error is None and self.score == self.recorded and self.image_identical is not False


@dataclass
class ReplayReport:
    """Every condition of a run: replayed, failed in the search, or with no results line."""

    conditions: int  # in the run's config.json
    replayed: list[Replayed] = field(default_factory=list)
    failed: list[Any] = field(default_factory=list)  # conditions the search recorded as failed
    missing: list[int] = field(default_factory=list)  # problems with no results line

    @property
    def complete(self) -> bool:
        """Whether every condition of the run was replayed and reproduced."""
        return not self.failed and not self.missing and all(r.ok for r in self.replayed)


def replay(out: Path | str, on_result: Callable[[Replayed], None] | None = None) -> ReplayReport:
    """Each winner regenerated on its own from ``noises/`` and rescored by the run's verifier;
    ``on_result`` receives each verdict as it is reached."""
    out = Path(out)
    if not (out / "config.json").exists():
        raise InputError(f"{out} holds no config.json; valid: a folder written by 'noisesearch search'")
    config = read_json(out / "config.json")
    if config.get("verifier") is None:
        raise InputError(f"{out} was searched with a Python callable verifier; replay it from Python")
    spec = RunSpec.from_json(config)
    records = read_results(out)
    report = ReplayReport(len(spec.conditions))
    seen = {r["problem"] for r in records}
    report.missing = [p for p in range(len(spec.conditions)) if p not in seen]
    run: Run | None = None
    for rec in sorted(records, key=lambda r: r["problem"]):
        if rec.get("status", "done") != "done":  # a failed condition has no winner
            report.failed.append(rec["condition"])
            continue
        try:
            noises = load_tensors(out / rec["noises"])
        except DamagedFile as exc:
            verdict = Replayed(rec["problem"], rec["condition"], rec["best_score"], error=str(exc))
        else:
            run = run or spec.build()  # on the run's device: another one rounds differently
            verdict = regenerate(run, out, rec, noises)
        report.replayed.append(verdict)
        if on_result is not None:
            on_result(verdict)
    return report


def regenerate(run: Run, out: Path, rec: dict[str, Any], noises: dict) -> Replayed:
    """One winner sampled from its noises, rescored, and its image compared with the stored one."""
    process = run.process
    images = sample(process, noises, process.encode([rec["condition"]]), rec["recipe"].get("path"))
    score = float(run.verifier.score(images, [rec["condition"]])[0])
    identical = None
    if is_image_batch(images) and rec.get("image"):
        image = out / rec["image"]
        if not image.exists():
            return Replayed(rec["problem"], rec["condition"], rec["best_score"], score,
                            error=str(DamagedFile(image, "missing")))
        identical = png_bytes(images[0]) == image.read_bytes()
    return Replayed(rec["problem"], rec["condition"], rec["best_score"], score, identical)
