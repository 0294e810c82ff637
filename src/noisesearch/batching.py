"""Chunked evaluation, and fixed-shape micro-batches that make results batch-invariant.

CPU and GPU kernels pick their blocking by tensor shape, so a row's output can change in
the last bits with the batch it was computed in. A network called through
``fixed_shape_map`` only ever sees batches of exactly ``size`` rows (the last one padded
with zeros), and per-row outputs are then identical whichever rows share the batch and
however many rows the caller passed. This is what makes a search independent of
``max_batch`` and lets ``replay`` recompute a winner bit for bit on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .lazy import torch


def chunks(n: int, size: int) -> Iterator[slice]:
    """Consecutive slices of at most ``size`` covering ``range(n)``."""
    if size < 1:
        raise ValueError(f"max_batch must be >= 1, got {size}")
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def fixed_shape_map(
    fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, size: int
) -> torch.Tensor:
    """``fn(*tensors)`` computed in micro-batches of exactly ``size`` rows."""
    n = tensors[0].shape[0]
    outputs = []
    for part in chunks(n, size):
        rows = part.stop - part.start
        batch = [t[part] for t in tensors]
        if rows < size:
            batch = [torch.cat([t, t.new_zeros((size - rows, *t.shape[1:]))]) for t in batch]
        outputs.append(fn(*batch)[:rows])
    return torch.cat(outputs) if outputs else fn(*tensors)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocator's out-of-memory error (CUDA, MPS or CPU)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
