"""A search run into a folder: conditions sharded over an executor, every result written as it
arrives, and a killed run resumed without redoing or repeating a condition.

The driver alone writes the folder (``runs.py``): a condition's noises and images first,
each by write-and-rename, then its results.jsonl line in one flushed write. A condition is
finished exactly when its line is there, as ``done`` or, after every attempt failed, as
``failed`` with its error. Resuming reads the lines, drops a last line cut short, and
computes the conditions that have none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .algorithms import Algorithm, ProblemResult, load_algorithm
from .catalogue import load_judge, load_process, load_verifier
from .errors import InputError
from .executors import execute
from .judges import Judge, SetJudge
from .processes import DenoisingProcess
from .runs import (
    drop_partial_line,
    load_winner,
    prepare_folder,
    read_results,
    write_config,
    write_failure,
    write_overview,
    write_problem,
)
from .search import search, set_metrics
from .verifiers import Verifier

# what decides a run's results: a folder is resumed only when these agree
RESUMED_KEYS = ("model", "process", "verifier", "algorithm", "options", "budget", "seed", "conditions",
                "judges")
LOCAL_BLOCK = 64  # conditions per shard on the local executor


class SearchWorker:
    """A run's process, verifier, algorithm and judges, loaded once; searches shards of
    (problem, condition) pairs."""

    def __init__(self, config: dict[str, Any], process: DenoisingProcess | None = None,
                 verifier: Verifier | None = None, algorithm: Algorithm | None = None,
                 judges: list[Judge] | None = None, progress: bool = False) -> None:
        self.config, self.progress = config, progress
        device = config.get("device", "cpu")
        self.process = process or load_process(config["model"], device=device, **config["process"])
        self.verifier = verifier or load_verifier(config["verifier"], device=device)
        self.algorithm = algorithm or load_algorithm(config["algorithm"], **config["options"])
        if judges is None:
            judges = [j for j in map(load_judge, config["judges"]) if not isinstance(j, SetJudge)]
        self.judges = judges

    def run(self, shard: list[tuple[int, Any]]) -> list[ProblemResult]:
        ids = [i for i, _ in shard]
        result = search(self.process, self.verifier, [c for _, c in shard], algorithm=self.algorithm,
                        budget=self.config["budget"], seed=self.config["seed"], judges=self.judges,
                        problem_ids=ids, progress=self.progress)
        return result.problems


def comparable(config: dict[str, Any], key: str) -> Any:
    value = json.loads(json.dumps(config.get(key)))
    if key == "options" and isinstance(value, dict):
        value.pop("max_batch", None)  # memory only: results do not depend on it
    return value


def open_run(out: Path, config: dict[str, Any], resume: bool) -> set[int]:
    """Create the run folder, or with ``resume`` reopen one holding the same run; returns the
    problems already finished there."""
    if resume and (out / "config.json").exists():
        held = json.loads((out / "config.json").read_text())
        differs = [k for k in RESUMED_KEYS if comparable(held, k) != comparable(config, k)]
        if differs:
            raise InputError(f"output folder {out} holds another run (it differs in {', '.join(differs)}); "
                             "resume it with its own arguments, or choose a new --out")
        drop_partial_line(out)
        for leftover in [*out.glob("noises/*.tmp"), *out.glob("images/*.tmp")]:  # cut short by a kill
            leftover.unlink()
        return {r["problem"] for r in read_results(out)}
    prepare_folder(out)
    write_config(out, config)
    return set()


def default_block(n: int, executor: str, workers: int | None) -> int:
    """Conditions per shard: 64 locally; on Ray about four shards per worker, at most 64."""
    if executor == "local":
        return LOCAL_BLOCK
    return max(1, min(LOCAL_BLOCK, math.ceil(n / (4 * (workers or 4)))))


def search_to_folder(out: Path, config: dict[str, Any], executor: str = "local", workers: int | None = None,
                     address: str | None = None, block: int | None = None, resume: bool = False,
                     progress: bool = True, local_worker: SearchWorker | None = None,
                     on_started: Callable[[list[Any]], None] | None = None) -> list[dict[str, Any]]:
    """Search every condition of ``config`` not yet finished in ``out``; returns all its records.

    ``config`` is what config.json holds (model, process, verifier, algorithm, options,
    budget, seed, conditions, judges, and optionally device). Then writes scaling.png,
    best.png and top.png.
    """
    finished = open_run(out, config, resume)
    conditions = config["conditions"]
    todo = [(i, c) for i, c in enumerate(conditions) if i not in finished]
    size = block or default_block(len(todo), executor, workers)
    if size < 1:
        raise InputError(f"--block must be >= 1, got {size}")
    shards = [todo[k:k + size] for k in range(0, len(todo), size)]
    written = set(finished)
    bar = tqdm(total=len(conditions), initial=len(finished), unit="condition", dynamic_ncols=True,
               desc="search (resumed)" if finished else "search", disable=not progress or executor == "local")

    def on_result(shard: list[tuple[int, Any]], problems: list[ProblemResult]) -> None:
        for problem in problems:
            if problem.problem not in written:  # a retried shard is never written twice
                write_problem(out, problem)
                written.add(problem.problem)
                bar.update()

    def on_failure(item: tuple[int, Any], error: str) -> None:
        problem, condition = item
        if problem not in written:
            write_failure(out, problem, condition, error)
            written.add(problem)
            bar.update()

    if local_worker is None and executor == "local":
        local_worker = SearchWorker(config, progress=progress)
    try:
        execute(shards, partial(SearchWorker, config), on_result, on_failure, executor=executor,
                workers=workers, address=address, worker=local_worker, on_started=on_started)
    finally:
        bar.close()
    records = read_results(out)
    title = f"{config['model']}, {config['algorithm']}, verifier {config['verifier']}"
    write_overview(out, records, title=title)
    return records


def judge_stored_set(out: Path, records: list[dict[str, Any]],
                     judges: list[SetJudge]) -> dict[str, dict[str, float]]:
    """Judges of the whole set on the stored winners of the finished conditions (set_judges.json)."""
    done = sorted((r for r in records if r["status"] == "done"), key=lambda r: r["problem"])
    if not judges or not done:
        return {}
    images = torch.stack([load_winner(out, r) for r in done])
    metrics = set_metrics(images, [r["condition"] for r in done], judges)
    (out / "set_judges.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
