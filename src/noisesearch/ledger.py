"""The ledger: every denoiser and verifier call is charged, per problem, as it happens.

Costs are in NFEs: one denoiser evaluation of one sample (a guided step costs 2; a
backward pass through a step costs twice its forward pass). Wall time of each timed block
is split among the rows it computed, so per-problem times add up to the time spent.
Reported figures are these counts, never a formula.

The ledger also sizes the chunks rows are computed in (``map_chunks``): on an
out-of-memory error the chunk size is halved, the chunk's charges are undone and the
chunk is computed again, down to one row; results do not depend on the chunk size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from tqdm.auto import tqdm

from .batching import is_out_of_memory
from .errors import RunError

log = logging.getLogger("noisesearch")
T = TypeVar("T")


class Ledger:
    """Per-problem counters of NFEs, verifier calls and wall time, with an optional progress bar."""

    def __init__(self, n_problems: int, progress: bool = False, planned: int | None = None,
                 description: str = "search") -> None:
        """``planned``: the NFEs per problem the algorithm means to spend (the bar's total)."""
        self.n_problems = n_problems
        self.nfe = torch.zeros(n_problems, dtype=torch.long)
        self.verifier_calls = torch.zeros(n_problems, dtype=torch.long)
        self.wall_s = torch.zeros(n_problems, dtype=torch.float64)
        self.failed = torch.zeros(n_problems, dtype=torch.long)  # candidates lost to NaN/Inf
        self.usage: dict[str, torch.Tensor] = {}  # the verifier's own counters (``Verifier.take_usage``)
        self.chunk_cap: int | None = None  # the largest chunk that has not run out of memory
        self.backoffs: list[tuple[int, int]] = []  # (chunk size that ran out of memory, new size)
        total = planned * n_problems if planned is not None else None
        self._bar = tqdm(total=total, desc=description, unit="nfe", disable=not progress,
                         dynamic_ncols=True, leave=False)

    def charge_denoiser(self, problems: torch.Tensor, nfe_per_row: int) -> None:
        """Charge ``nfe_per_row`` NFEs to the problem of every row (``problems[b]``)."""
        self.nfe.index_add_(0, problems, torch.full_like(problems, nfe_per_row))
        self._bar.update(nfe_per_row * len(problems))

    def plan_more(self, nfe: int) -> None:
        """Add ``nfe`` (over all problems) to the progress bar's total."""
        if self._bar.total is not None:
            self._bar.total += nfe
            self._bar.refresh()

    def charge_verifier(self, problems: torch.Tensor) -> None:
        """Charge one verifier call to the problem of every scored row."""
        self.verifier_calls.index_add_(0, problems, torch.ones_like(problems))

    def charge_failed(self, problems: torch.Tensor) -> None:
        """Count one failed candidate (NaN or Inf from the model or the verifier) per row."""
        self.failed.index_add_(0, problems, torch.ones_like(problems))

    def charge_usage(self, problems: torch.Tensor, usage: dict[str, torch.Tensor]) -> None:
        """Add the verifier's per-row counters (cache hits, tokens, request seconds) to the rows' problems."""
        for key, values in usage.items():
            total = self.usage.setdefault(key, torch.zeros(self.n_problems, dtype=torch.float64))
            total.index_add_(0, problems, torch.as_tensor(values, dtype=torch.float64).cpu())

    def problem_usage(self, problem: int) -> dict[str, float]:
        """The verifier's counters of one problem (integers where they count)."""
        return {key: plain(float(values[problem])) for key, values in self.usage.items()}

    def map_chunks(self, fn: Callable[[slice], T], n: int, max_batch: int) -> list[T]:
        """``[fn(part) for part in chunks of range(n)]`` with chunks of at most ``max_batch`` rows.

        On an out-of-memory error the charges ``fn`` made for the chunk are undone, the chunk
        size is halved (for the rest of the search too) and the chunk is computed again;
        ``RunError`` if even one row does not fit.
        """
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        outputs, start = [], 0
        while start < n:
            size = min(max_batch, self.chunk_cap or max_batch)
            part = slice(start, min(n, start + size))
            saved = (self.nfe.clone(), self.verifier_calls.clone(), self.failed.clone(),
                     {k: v.clone() for k, v in self.usage.items()})
            try:
                outputs.append(fn(part))
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                rows = part.stop - part.start
                if rows == 1:
                    raise RunError(f"out of memory with a chunk of one row: {exc}") from exc
                self.nfe, self.verifier_calls, self.failed, self.usage = saved
                self.chunk_cap = rows // 2
                self.backoffs.append((rows, self.chunk_cap))
                log.warning("out of memory on a chunk of %d rows; retrying with chunks of %d",
                            rows, self.chunk_cap)
                continue
            start = part.stop
        return outputs

    @contextmanager
    def timed(self, problems: torch.Tensor) -> Iterator[None]:
        """Charge the block's wall time to the rows' problems, split evenly per row."""
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            share = torch.full((len(problems),), elapsed / max(1, len(problems)), dtype=torch.float64)
            self.wall_s.index_add_(0, problems, share)

    def close(self) -> None:
        self._bar.close()

    def totals(self) -> dict[str, float]:
        return {
            "nfe": int(self.nfe.sum()),
            "verifier_calls": int(self.verifier_calls.sum()),
            "wall_s": float(self.wall_s.sum()),
            "failed_candidates": int(self.failed.sum()),
            "oom_backoffs": len(self.backoffs),
            **{f"verifier_{key}": plain(float(values.sum())) for key, values in self.usage.items()},
        }


def plain(value: float) -> float | int:
    """``value`` as an int when it is whole (a count), else rounded to 4 decimals (seconds)."""
    return int(value) if value.is_integer() else round(value, 4)
