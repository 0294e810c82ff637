"""The driver of a search run and of a bench: tasks over an executor, each item's result
written as it arrives, with a progress bar.

A task is a list of items (conditions of a search, cells of a bench); a worker computes a
task into one result per item, in order. The driver alone writes: ``write(item, result)``
for each result, ``write_failure(item, error)`` for an item that failed every attempt, each
item once even when its task is computed again. What to compute (the items not yet in the
folder) and how to store a result are the caller's.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from tqdm.auto import tqdm

from .errors import InputError
from .executors import Worker, execute


def check_sizes(block: int | None = None, workers: int | None = None, max_batch: int | None = None,
                threads: int | None = None) -> None:
    """``InputError`` for a size below one (checked before a folder is written)."""
    sizes = (("block", block), ("workers", workers), ("max_batch", max_batch), ("threads", threads))
    for name, value in sizes:
        if value is not None and value < 1:
            raise InputError(f"`{name}` must be >= 1, got {value}")


def drive(tasks: Sequence[list[Any]], factory: Callable[[], Worker], write: Callable[[Any, Any], None],
          write_failure: Callable[[Any, str], None], *, total: int, finished: int, desc: str, unit: str,
          progress: bool = True, key: Callable[[Any], Hashable] = lambda item: item,
          postfix: Callable[[Any], str] | None = None, executor: str = "local", workers: int | None = None,
          address: str | None = None, worker: Worker | None = None,
          on_started: Callable[[list[Any]], None] | None = None,
          cpus_per_worker: float | None = None) -> None:
    """Compute ``tasks`` with ``factory``'s workers on ``executor`` (see ``executors.execute``),
    writing each item's result as it arrives.

    ``total`` and ``finished`` are the items of the whole run and those already written (for
    the bar); ``key`` names an item, so that none is written twice.
    """
    written: set[Hashable] = set()
    bar = tqdm(total=total, initial=finished, unit=unit, dynamic_ncols=True,
               desc=f"{desc} (resumed)" if finished else desc, disable=not progress)

    def done(item: Any) -> None:
        written.add(key(item))
        if postfix is not None:
            bar.set_postfix_str(postfix(item))
        bar.update()

    def on_result(items: list[Any], results: list[Any]) -> None:
        for item, result in zip(items, results, strict=True):
            if key(item) not in written:
                write(item, result)
                done(item)

    def on_failure(item: Any, error: str) -> None:
        if key(item) not in written:
            write_failure(item, error)
            done(item)

    try:
        execute(tasks, factory, on_result, on_failure, executor=executor, workers=workers, address=address,
                worker=worker, on_started=on_started, cpus_per_worker=cpus_per_worker)
    finally:
        bar.close()
