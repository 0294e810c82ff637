"""Executors: where the tasks of a run are computed. ``local`` runs them one after another in
this process; ``ray`` on Ray actors, each of which loads the models once.

A task is a list of items (conditions of a search, cells of a bench). A worker is built
from a picklable factory, ``factory()``, and computes a task with ``worker.run(items)``.
The driver, the process that called ``execute``, receives each task's output through
``on_result`` as it arrives and is the only one to write the run folder.

Faults, the same with either executor:

- a task that raises is split into one task per item, so one bad condition does not take
  its shard with it;
- an item whose task raises ``attempts`` times is given to ``on_failure`` with the error,
  and the run goes on.

On Ray, a worker that dies (killed, out of memory, its node lost) is restarted by Ray up to
``MAX_RESTARTS`` times and the task it was computing is resubmitted up to
``MAX_TASK_RETRIES`` times (``max_restarts`` and ``max_task_retries`` of the actor); these
retries do not count as attempts. A worker that cannot be restarted any more is replaced by
a new one, and its task counts one attempt.

Results do not depend on the executor, the number of workers or the sharding, because
every random tensor is keyed by the problem it belongs to.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import InputError, RunError

EXECUTORS = ("local", "ray")
MAX_RESTARTS = 4  # times Ray restarts a dead worker
MAX_TASK_RETRIES = 2  # times Ray resubmits the task of a worker that died
ATTEMPTS = 2  # times an item is computed before it is recorded as failed

log = logging.getLogger("noisesearch")


class Worker(Protocol):
    def run(self, items: list[Any]) -> Any: ...


@dataclass
class Task:
    items: list[Any]
    attempts: int = 0


def failure_text(exc: BaseException) -> str:
    """One line for an error, unwrapped from Ray's task error."""
    cause = getattr(exc, "cause", None)  # Ray's task error wraps the worker's exception
    if isinstance(cause, BaseException) and cause is not exc:
        return failure_text(cause)
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    return text if isinstance(exc, RunError | InputError) else f"{type(exc).__name__}: {text}"


def after_failure(task: Task, exc: BaseException, on_failure: Callable[[Any, str], None],
                  attempts: int) -> list[Task]:
    """The tasks to run next after ``task`` raised ``exc`` (see the module docstring)."""
    error = failure_text(exc)
    if len(task.items) > 1:
        log.warning("a task of %d items failed (%s); computing its items one by one", len(task.items), error)
        return [Task([item]) for item in task.items]
    task.attempts += 1
    if task.attempts < attempts:
        log.warning("an item failed (%s); attempt %d of %d", error, task.attempts + 1, attempts)
        return [task]
    on_failure(task.items[0], error)
    return []


def execute(tasks: Sequence[list[Any]], factory: Callable[[], Worker],
            on_result: Callable[[list[Any], Any], None], on_failure: Callable[[Any, str], None],
            executor: str = "local", workers: int | None = None, address: str | None = None,
            attempts: int = ATTEMPTS, worker: Worker | None = None,
            on_started: Callable[[list[Any]], None] | None = None,
            cpus_per_worker: float | None = None) -> None:
    """Compute every task, giving each output to ``on_result(items, output)`` as it arrives.

    ``worker`` is an already built local worker (the local executor then builds none).
    ``cpus_per_worker`` overrides the even share of a CPU-only cluster (see ``worker_resources``).
    ``on_started`` receives the Ray actors once they are created (for tests and monitoring).
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise InputError(f"`workers` must be >= 1, got {workers}")
    queue = deque(Task(list(items)) for items in tasks if items)
    if not queue:  # nothing to do (a resumed run that was complete): no worker is started
        return
    if executor == "local":
        worker = worker if worker is not None else factory()
        while queue:
            task = queue.popleft()
            try:
                output = worker.run(task.items)
            except Exception as exc:
                queue.extendleft(reversed(after_failure(task, exc, on_failure, attempts)))
                continue
            on_result(task.items, output)
        return
    run_on_ray(queue, factory, on_result, on_failure, workers, address, attempts, on_started, cpus_per_worker)


class RayWorker:
    """The body of a Ray actor: a worker built once, computing tasks."""

    def __init__(self, factory: Callable[[], Worker], threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.worker = factory()

    def run(self, items: list[Any]) -> Any:
        return self.worker.run(items)


def start_ray(address: str | None, **init: Any) -> bool:
    """Connect to Ray (``address``) or start a local one; returns whether this call started it."""
    try:
        import ray
    except ImportError:
        raise InputError("the ray executor needs Ray; install it with: pip install 'noisesearch[ray]' "
                         "(or pip install ray)") from None
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, **init)
    except ConnectionError as exc:
        raise InputError(f"cannot reach the Ray cluster at {address!r}: {exc}; valid: the address of a "
                         "running cluster (ray start --head, then --ray-address auto), or none to start "
                         "a local Ray") from None
    return True


def worker_resources(workers: int | None, cpus_per_worker: float | None = None) -> tuple[int, float, float]:
    """(workers, CPUs per worker, GPUs per worker): one GPU each when the cluster has GPUs
    (as many workers as GPUs by default), else the CPUs shared evenly (one worker per CPU)."""
    import ray

    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus:
        n = workers or gpus
        return n, cpus_per_worker or 1.0, 1.0
    n = workers or cpus
    return n, cpus_per_worker or max(1.0, float(cpus // n)), 0.0


def run_on_ray(queue: deque[Task], factory: Callable[[], Worker], on_result: Callable[[list[Any], Any], None],
               on_failure: Callable[[Any, str], None], workers: int | None, address: str | None,
               attempts: int, on_started: Callable[[list[Any]], None] | None,
               cpus_per_worker: float | None = None) -> None:
    started = start_ray(address)
    import ray
    from ray.exceptions import ActorDiedError, RayError

    try:
        n, cpus, gpus = worker_resources(workers, cpus_per_worker)
        actor_class = ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=MAX_RESTARTS,
                                 max_task_retries=MAX_TASK_RETRIES)(RayWorker)

        def new_actor():
            return actor_class.remote(factory, int(cpus))

        actors = [new_actor() for _ in range(min(n, len(queue)))]
        if on_started is not None:
            on_started(actors)
        idle = list(actors)
        pending: dict[Any, tuple[Task, Any]] = {}
        while queue or pending:
            while queue and idle:
                task, actor = queue.popleft(), idle.pop(0)
                pending[actor.run.remote(task.items)] = (task, actor)
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            task, actor = pending.pop(ref)
            try:
                output = ray.get(ref)
            except RayError as exc:  # the task raised, or its worker died (killed, out of memory)
                if isinstance(exc, ActorDiedError):  # restarts used up: a new worker takes its place
                    log.warning("a Ray worker died for good; starting a new one")
                    actor = new_actor()
                idle.append(actor)
                queue.extendleft(reversed(after_failure(task, exc, on_failure, attempts)))
                continue
            idle.append(actor)
            on_result(task.items, output)
    finally:
        if started:
            ray.shutdown()
