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
import logging
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from .algorithms import ProblemResult
from .driver import check_sizes, drive
from .errors import InputError
from .judges import SetJudge
from .judging import set_metrics
from .runs import load_winner, read_results, stamped, write_failure, write_overview, write_problem
from .spec import Run, RunSpec
from .store import (
    atomic,
    check_tensors,
    drop_partial_line,
    open_folder,
    read_image,
    read_lines,
    readable,
    write_json,
)

log = logging.getLogger("noisesearch")
LOCAL_BLOCK = 4  # conditions per shard on the local executor: a kill loses at most this many
SHARD_LIMIT = 64  # the most conditions of a shard on Ray


class SearchWorker:
    """A run's process, verifier, algorithm and judges, loaded once; searches shards of
    (problem, condition) pairs."""

    def __init__(self, spec: RunSpec, run: Run | None = None, progress: bool = False) -> None:
        self.loaded, self.progress = run or spec.build(), progress

    def run(self, shard: list[tuple[int, Any]]) -> list[ProblemResult]:
        result = self.loaded.search([c for _, c in shard], problem_ids=[i for i, _ in shard],
                                  progress=self.progress, judge_set=False)  # the driver judges the set
        return result.problems


def open_run(out: Path, spec: RunSpec, resume: bool) -> set[int]:
    """Create the run folder, or with ``resume`` reopen one holding the same run; returns the
    problems already finished there.

    On resuming, a results line that is damaged, or whose noises or images do not read back
    whole, is dropped (with a warning naming it): its condition is computed again."""
    if not open_folder(out, "config.json", stamped(spec.to_json()), spec.differences, resume, kind="run"):
        return set()
    path = out / "results.jsonl"
    if not path.exists():  # killed before its first condition was written
        return set()
    drop_partial_line(path)
    damaged: list[int] = []
    kept, dropped = [], []
    for record in read_lines(path, damaged):
        (kept if intact(out, record) else dropped).append(record)
    if damaged or dropped:
        lost = [f"line {n}" for n in damaged] + [f"condition {r.get('condition')!r}" for r in dropped]
        log.warning("%s: %s damaged; computing again", path, ", ".join(lost))
        with atomic(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    return {r["problem"] for r in kept}


def intact(out: Path, record: dict[str, Any]) -> bool:
    """Whether a results line is whole and the files it names read back whole."""
    if not isinstance(record.get("problem"), int) or record.get("status") not in ("done", "failed"):
        return False
    if record["status"] == "failed":
        return True
    tensors = [out / name for name in (record.get("noises"), record.get("extra")) if name]
    image = record.get("image")
    images = [out / image] if image else [out / "images" / f"{record['problem']}-best.safetensors"]
    return readable(check_tensors, *tensors) and readable(read_image if image else check_tensors, *images)


def default_block(n: int, executor: str, workers: int | None) -> int:
    """Conditions per shard: 4 locally (searched in lockstep, written together); on Ray about four
    shards per worker, at most 64."""
    if executor == "local":
        return LOCAL_BLOCK
    return max(1, min(SHARD_LIMIT, math.ceil(n / (4 * (workers or 4)))))


def search_to_folder(out: Path, run: Run | RunSpec, executor: str = "local", workers: int | None = None,
                     address: str | None = None, block: int | None = None, resume: bool = False,
                     progress: bool = True,
                     on_started: Callable[[list[Any]], None] | None = None) -> list[dict[str, Any]]:
    """Search every condition of a run not yet finished in ``out``; returns all its records.

    ``run`` is resolved (``RunSpec.resolve``) or a spec to resolve; config.json holds its spec.
    Then writes scaling.png, best.png and top.png.
    """
    check_sizes(block=block, workers=workers)
    run = run if isinstance(run, Run) else run.resolve()
    spec = run.spec
    finished = open_run(out, spec, resume)
    todo = [(i, c) for i, c in enumerate(spec.conditions) if i not in finished]
    size = block or default_block(len(todo), executor, workers)
    if run.algorithm.allocate != "uniform":  # one budget for all conditions: they are searched together
        if finished and todo:
            raise InputError(f"{out} holds {len(finished)} of the run's {len(spec.conditions)} conditions; a "
                             "run-wide budget is allocated over all of them at once, so it cannot be "
                             "resumed part way; valid: a new --out")
        size = max(len(todo), 1)
    drive([todo[k:k + size] for k in range(0, len(todo), size)], partial(SearchWorker, spec),
          lambda _, problem: write_problem(out, problem),
          lambda item, error: write_failure(out, item[0], item[1], error),
          total=len(spec.conditions), finished=len(finished), desc="search", unit="condition",
          progress=progress,
          key=lambda item: item[0], executor=executor, workers=workers, address=address,
          worker=SearchWorker(spec, run, progress=progress) if executor == "local" else None,
          on_started=on_started)
    records = read_results(out)
    write_overview(out, records, title=f"{spec.model}, {spec.algorithm}, verifier {spec.verifier}")
    return records


def judge_stored_set(out: Path, records: list[dict[str, Any]],
                     judges: list[SetJudge]) -> dict[str, dict[str, float]]:
    """Judges of the whole set on the stored winners of the finished conditions (set_judges.json)."""
    done = sorted((r for r in records if r["status"] == "done"), key=lambda r: r["problem"])
    if not judges or not done:
        return {}
    images = torch.stack([load_winner(out, r) for r in done])
    metrics = set_metrics(images, [r["condition"] for r in done], judges)
    write_json(out / "set_judges.json", metrics)
    return metrics
