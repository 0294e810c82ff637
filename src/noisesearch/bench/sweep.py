"""``noisesearch bench``: algorithms x budgets x verifiers over a suite, judged, resumable."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..algorithms import load_algorithm
from ..batching import chunks
from ..catalogue import bind, load_judge, load_process, load_suite, load_verifier
from ..errors import InputError
from ..images import is_image_batch
from ..judges import Judge, SetJudge
from ..processes import DenoisingProcess
from ..search import search, set_metrics
from ..verifiers import Verifier
from .cells import Cell, is_done, plan_cells, read_cell, write_cell


@dataclass
class BenchConfig:
    """Everything that decides a bench's results; a folder is resumed only with the same config."""

    suite: str
    algorithms: list[str]
    budgets: list[int]  # in generations of the suite's process
    verifiers: list[str]
    judges: list[str]
    limit: int | None = None  # only the suite's first conditions
    seed: int = 0
    process: dict[str, Any] = field(default_factory=dict)  # the suite's process options, overridden

    def command(self, out: Path | str) -> str:
        """The ``noisesearch bench`` command line that runs (or resumes) this bench."""
        spec = load_suite(self.suite)
        parts = ["noisesearch bench", f"--suite {self.suite}", f"--algorithms {','.join(self.algorithms)}",
                 f"--budgets {','.join(map(str, self.budgets))}", f"--verifier {','.join(self.verifiers)}",
                 f"--judges {','.join(self.judges)}" if self.judges else "--judges ''"]
        if self.limit is not None:
            parts.append(f"--limit {self.limit}")
        parts += [f"--{k} {v}" for k, v in self.process.items() if k in ("steps", "sampler", "guidance")
                  and spec.process.get(k) != v]
        if self.seed:
            parts.append(f"--seed {self.seed}")
        return " ".join([*parts, f"--out {out}"])

    def conditions(self) -> list[Any]:
        conditions = load_suite(self.suite).conditions
        return conditions[:self.limit] if self.limit is not None else list(conditions)


def resolve(suite: str, algorithms: list[str], budgets: list[int], verifiers: list[str] | None,
            judges: list[str] | None, limit: int | None = None, seed: int = 0,
            process: dict[str, Any] | None = None) -> BenchConfig:
    """A validated config: every name known, budgets positive; ``InputError`` otherwise."""
    from ..algorithms import ALGORITHMS
    from ..errors import unknown

    spec = load_suite(suite)
    for name in algorithms:
        if name not in ALGORITHMS:
            raise unknown("algorithm", name, ALGORITHMS)
    if not algorithms:
        raise InputError(f"no algorithm given; valid: {', '.join(ALGORITHMS)}")
    if not budgets or any(b < 1 for b in budgets):
        raise InputError(f"budgets are whole generations >= 1, got {budgets}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    options = {**spec.process, **{k: v for k, v in (process or {}).items() if v is not None}}
    config = BenchConfig(suite, list(algorithms), sorted(set(budgets)), list(verifiers or [spec.verifier]),
                         list(spec.judges if judges is None else judges), limit, seed, options)
    for name in config.verifiers:
        load_verifier(name)
    for name in config.judges:
        load_judge(name)
    load_process(spec.model, **options)
    return config


def prepare_bench_folder(out: Path, config: BenchConfig) -> bool:
    """Create ``out`` with ``bench.json``, or accept it for resuming when it holds the same bench.

    Returns whether it resumes. A folder holding anything else is refused.
    """
    wanted = asdict(config)
    path = out / "bench.json"
    if path.exists():
        held = json.loads(path.read_text())
        if held != wanted:
            differs = sorted(k for k in wanted if held.get(k) != wanted[k])
            raise InputError(f"output folder {out} holds another bench (it differs in {', '.join(differs)}); "
                             "rerun with its arguments to resume, or choose a new --out")
        return True
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"output folder {out} already holds other files; choose a new --out or remove it")
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(wanted, indent=2) + "\n")
    tmp.replace(path)
    return False


class BenchWorker:
    """A bench's process, verifiers and per-sample judges, loaded once; computes cells."""

    def __init__(self, config: BenchConfig, max_batch: int, device: str = "cpu") -> None:
        self.config, self.max_batch = config, max_batch
        self.process = load_process(load_suite(config.suite).model, device=device, **config.process)
        self.verifiers = {name: bind(load_verifier(name, device=device), self.process)
                          for name in config.verifiers}
        self.judges = [j for j in map(load_judge, config.judges) if not isinstance(j, SetJudge)]

    def run(self, cells: list[Cell]) -> list[tuple[Cell, dict, torch.Tensor | None]]:
        done = []
        for cell in cells:
            record, images = run_cell(cell, self.process, self.config, self.verifiers, self.judges,
                                      self.max_batch)
            done.append((cell, record, images))
        return done


def run_bench(config: BenchConfig, out: Path, max_batch: int = 512, progress: bool = True,
              executor: str = "local", workers: int | None = None, address: str | None = None,
              device: str = "cpu", cpus_per_worker: float | None = None) -> list[dict]:
    """Run every cell not yet done, then write the tables, plot and report; returns the cell records.

    A cell is one task: on Ray, workers take cells (the most expensive first) as they free up.
    A cell that fails every attempt is recorded as failed with its error. Judges of the whole
    set of winners (e.g. the Frechet distance) are computed here, by the driver, so that their
    linear algebra runs with the same threads whatever the executor.
    """
    from ..executors import execute
    from .report import write_outputs

    resumed = prepare_bench_folder(out, config)
    cells = plan_cells(config.algorithms, config.budgets, config.verifiers)
    todo = [c for c in cells if not is_done(out, c)]
    if executor != "local":  # longest first, so that no worker is left with a big cell at the end
        todo.sort(key=lambda c: -c.budget)
    bar = tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell", disable=not progress,
               desc="bench (resumed)" if resumed else "bench", dynamic_ncols=True)

    set_judges = [j for j in map(load_judge, config.judges) if isinstance(j, SetJudge)]
    conditions = config.conditions()

    def on_result(_: list[Cell], outputs: list[tuple[Cell, dict, torch.Tensor | None]]) -> None:
        for cell, record, images in outputs:
            if record["status"] == "done":
                metrics = set_metrics(images, conditions, set_judges)
                record["set_metrics"] = {f"{j}:{m}": v for j, ms in metrics.items() for m, v in ms.items()}
            write_cell(out, cell, record, images)
            bar.set_postfix_str(cell.id)
            bar.update()

    def on_failure(cell: Cell, error: str) -> None:
        write_cell(out, cell, {"status": "failed", "reason": error}, None)
        bar.update()

    try:
        execute([[c] for c in todo], partial(BenchWorker, config, max_batch, device), on_result, on_failure,
                executor=executor, workers=workers, address=address, cpus_per_worker=cpus_per_worker)
    finally:
        bar.close()
    records = [read_cell(out, c) for c in cells]
    write_outputs(out, config, cells, records)
    return records


def run_cell(cell: Cell, process: DenoisingProcess, config: BenchConfig, verifiers: dict[str, Verifier],
             judges: list[Judge], max_batch: int) -> tuple[dict, torch.Tensor | None]:
    """Search every condition for one cell; (its record, the winners). The record's
    ``set_metrics`` are left for the driver to fill."""
    conditions = config.conditions()
    budget = cell.budget * process.generation_nfe
    verifier = verifiers[cell.verifier or config.verifiers[0]]
    if cell.method in ("no-search", "more-steps"):
        searched = process if cell.method == "no-search" else process.with_steps(process.steps * cell.budget)
        algorithm, budget = load_algorithm("random", n=1, max_batch=max_batch), None
    else:
        searched = process
        try:
            algorithm = load_algorithm(cell.method, max_batch=max_batch).at_budget(process, budget)
            algorithm.check(process, verifier, budget)
        except InputError as exc:  # e.g. a budget below what the algorithm needs: recorded, not retried
            return {"status": "skipped", "reason": str(exc)}, None
    start = time.perf_counter()
    result = search(searched, verifier, conditions, algorithm=algorithm, budget=budget, seed=config.seed,
                    judges=judges)
    wall = time.perf_counter() - start
    images = torch.stack([p.best_image for p in result])
    cross = {name: cross_score(v, images, conditions, max_batch) for name, v in verifiers.items()}
    rows = []
    for i, p in enumerate(result):
        rows.append({
            "condition": p.condition, "problem": p.problem, "nfe": p.nfe, "verifier_calls": p.verifier_calls,
            "wall_s": p.wall_s, "verifier_score": p.best_score,
            "metrics": {**{f"{j}:{m}": v for j, ms in p.judges.items() for m, v in ms.items()},
                        **{f"score:{name}": scores[i] for name, scores in cross.items()}},
        })
    record = {"status": "done", "options": algorithm.options(), "steps": searched.steps, "wall_s": wall,
              "totals": result.totals, "rows": rows, "set_metrics": {},
              "images": is_image_batch(images)}
    return record, images


def cross_score(verifier: Verifier, images: torch.Tensor, conditions: list, max_batch: int) -> list[float]:
    """Every winner scored by a verifier (for the verifier-hacking matrix); not charged to any search."""
    scores = [verifier.score(images[part], conditions[part]) for part in chunks(len(images), max_batch)]
    return [float(s) for s in torch.cat(scores)]
