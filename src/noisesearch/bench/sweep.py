"""``noisesearch bench``: algorithms x budgets x verifiers over a suite, judged, resumable."""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import torch

from ..algorithms import load_algorithm
from ..batching import chunks
from ..catalogue import bind, load_judge, load_process, load_suite, load_verifier
from ..driver import check_sizes, drive
from ..errors import InputError
from ..images import is_image_batch
from ..judges import SetJudge
from ..judging import set_metrics
from ..spec import BenchSpec, check_device, method_parts
from ..store import open_folder
from ..verifiers import Verifier
from .cells import BASELINES, Cell, is_done, plan_cells, read_cell, write_cell


class BenchWorker:
    """A bench's process, verifiers and per-sample judges, loaded once; computes cells."""

    def __init__(self, spec: BenchSpec, max_batch: int, device: str = "cpu") -> None:
        self.spec, self.max_batch, self.device = spec, max_batch, device
        self.process = load_process(load_suite(spec.suite).model, device=device, **spec.process)
        self.verifiers = {name: bind(load_verifier(name, device=device), self.process)
                          for name in spec.verifiers}
        self.judges = [j for j in map(load_judge, spec.judges) if not isinstance(j, SetJudge)]

    def run(self, cells: list[Cell]) -> list[tuple[dict, torch.Tensor | None]]:
        return [self.run_cell(cell) for cell in cells]

    def run_cell(self, cell: Cell) -> tuple[dict, torch.Tensor | None]:
        """Search every condition for one cell; (its record, the winners). The record's
        ``set_metrics`` are left for the driver to fill."""
        process, conditions, max_batch = self.process, self.spec.conditions(), self.max_batch
        verifier = cell.verifier or self.spec.verifiers[0]
        parts = {"verifier": self.verifiers[verifier], "judges": self.judges}
        if cell.method in BASELINES:  # one sample, at the process's steps or budget times as many
            searched = (process if cell.method == "no-search"
                        else process.with_steps(process.steps * cell.budget))
            spec = self.spec.run_spec(verifier, "random", {"n": 1, "max_batch": max_batch}, None, self.device)
            run = spec.resolve(process=searched, **parts)
        else:
            budget = cell.budget * process.generation_nfe
            name, options = method_parts(cell.method)
            options["max_batch"] = max_batch
            spec = self.spec.run_spec(verifier, name, options, budget, self.device)
            try:
                algorithm = load_algorithm(name, **self.spec.options(name, options))
                algorithm = algorithm.at_budget(process, budget)
                run = spec.resolve(process=process, algorithm=algorithm, **parts)
            except InputError as exc:  # e.g. a budget below what the algorithm needs: recorded, not retried
                return {"status": "skipped", "reason": str(exc)}, None
        start = time.perf_counter()
        result = run.search(conditions)
        wall = time.perf_counter() - start
        images = torch.stack([p.best_image for p in result])
        cross = {name: cross_score(v, images, conditions, max_batch) for name, v in self.verifiers.items()}
        rows = []
        for i, p in enumerate(result):
            rows.append({
                "condition": p.condition, "problem": p.problem, "nfe": p.nfe,
                "verifier_calls": p.verifier_calls, "wall_s": p.wall_s, "verifier_score": p.best_score,
                "metrics": {**{f"{j}:{m}": v for j, ms in p.judges.items() for m, v in ms.items()},
                            **{f"score:{name}": scores[i] for name, scores in cross.items()}},
            })
        sized = None if cell.method in BASELINES else cell.budget * process.generation_nfe
        record = {"status": "done", "options": run.algorithm.options(), "steps": run.process.steps,
                  "budget_nfe": sized,  # the NFEs per condition the cell's algorithm was sized to
                  "wall_s": wall, "totals": result.totals, "rows": rows, "set_metrics": {},
                  "images": is_image_batch(images)}
        return record, images


def run_bench(spec: BenchSpec, out: Path, max_batch: int = 512, progress: bool = True,
              executor: str = "local", workers: int | None = None, address: str | None = None,
              device: str = "cpu", cpus_per_worker: float | None = None) -> list[dict]:
    """Run every cell of a resolved spec not yet done in ``out``, then write the tables, plot and
    report; returns the cell records.

    A cell is one task: on Ray, workers take cells (the most expensive first) as they free up.
    A cell that fails every attempt is recorded as failed with its error. Judges of the whole
    set of winners (e.g. the Frechet distance) are computed here, by the driver, so that their
    linear algebra runs with the same threads whatever the executor.
    """
    from .report import write_outputs

    check_sizes(workers=workers, max_batch=max_batch)
    check_device(device)
    open_folder(out, "bench.json", asdict(spec), spec.differences, resume=True, kind="bench")
    cells = plan_cells(spec.algorithms, spec.budgets, spec.verifiers)
    todo = [c for c in cells if not is_done(out, c)]
    if executor != "local":  # longest first, so that no worker is left with a big cell at the end
        todo.sort(key=lambda c: -c.budget)
    set_judges = [j for j in map(load_judge, spec.judges) if isinstance(j, SetJudge)]
    conditions = spec.conditions()

    def write(cell: Cell, output: tuple[dict, torch.Tensor | None]) -> None:
        record, images = output
        if record["status"] == "done":
            metrics = set_metrics(images, conditions, set_judges)
            record["set_metrics"] = {f"{j}:{m}": v for j, ms in metrics.items() for m, v in ms.items()}
        write_cell(out, cell, record, images)

    drive([[c] for c in todo], partial(BenchWorker, spec, max_batch, device), write,
          lambda cell, error: write_cell(out, cell, {"status": "failed", "reason": error}, None),
          total=len(cells), finished=len(cells) - len(todo), desc="bench", unit="cell", progress=progress,
          postfix=lambda cell: cell.id, executor=executor, workers=workers, address=address,
          cpus_per_worker=cpus_per_worker)
    records = [read_cell(out, c) for c in cells]
    write_outputs(out, spec, cells, records)
    return records


def cross_score(verifier: Verifier, images: torch.Tensor, conditions: list, max_batch: int) -> list[float]:
    """Every winner scored by a verifier (for the verifier-hacking matrix); not charged to any search."""
    scores = [verifier.score(images[part], conditions[part]) for part in chunks(len(images), max_batch)]
    return [float(s) for s in torch.cat(scores)]
