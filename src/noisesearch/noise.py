"""Keyed noise: every random tensor is drawn from a generator seeded by its own key.

A key is a tuple of ints and strings, e.g. ``(seed, problem, "x_T", candidate)``. It is
hashed with BLAKE2b (stable across processes, unlike Python's salted ``hash()``) into a
64-bit seed for a CPU ``torch.Generator``. Each row of a batch has its own key, so a
sample's noise never depends on which other samples share its batch, on the batch size,
or on the device; tensors are drawn on the CPU and then moved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import torch

Key = tuple[int | str, ...]


def key_seed(key: Key) -> int:
    """A stable 63-bit seed for ``key``."""
    for part in key:
        if not isinstance(part, int | str) or isinstance(part, bool):
            raise TypeError(f"noise key parts must be int or str, got {part!r} in {key!r}")
    payload = json.dumps(list(key), separators=(",", ":")).encode()
    digest = hashlib.blake2b(payload, digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def keyed_generator(key: Key) -> torch.Generator:
    """A fresh CPU generator seeded from ``key``."""
    return torch.Generator(device="cpu").manual_seed(key_seed(key))


def keyed_normal(
    keys: Sequence[Key],
    shape: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal tensor of shape ``(len(keys), *shape)``; row ``i`` depends on ``keys[i]`` only."""
    rows = [torch.randn(tuple(shape), generator=keyed_generator(k), dtype=torch.float32) for k in keys]
    if not rows:
        return torch.empty((0, *shape), device=device, dtype=dtype)
    return torch.stack(rows).to(device=device, dtype=dtype)


def keyed_uniform(keys: Sequence[Key], shape: Sequence[int] = ()) -> torch.Tensor:
    """Uniform [0, 1) tensor of shape ``(len(keys), *shape)`` on the CPU, row ``i`` from ``keys[i]``."""
    rows = [torch.rand(tuple(shape), generator=keyed_generator(k)) for k in keys]
    return torch.stack(rows) if rows else torch.empty((0, *shape))
