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
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .processes.base import DenoisingProcess

Key = tuple[int | str, ...]
Noises = dict[str, torch.Tensor]  # a trajectory's noises: "x_T" (B, ...), "steps" (B, T, ...), "renoise"


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


class NoiseSource:
    """Every keyed draw of one search, and every key format.

    A key is ``(seed, problem id, purpose, indices...)``. A trajectory of index ``j`` has the
    initial noise ``(seed, id, "x_T", *j)`` and, on a stochastic sampler, the step noises
    ``(seed, id, "step", *j, i)`` for i = 0 .. steps - 1: random search's candidate ``c`` is
    the trajectory ``(c,)``, and every search that starts from random candidates starts from
    these. Other draws name their purpose (``"eg"``, ``"smc-resample"``, ...) and indices.
    States and step noises are drawn by the process (``prior``, ``step_noise``: its shapes,
    device and dtype), uniforms on the CPU.
    """

    def __init__(self, process: DenoisingProcess, seed: int, ids: Sequence[int]) -> None:
        self.process, self.seed, self.ids = process, seed, list(ids)

    def key(self, problem: int, *parts: int | str) -> Key:
        """The key of a draw for the problem at index ``problem`` of this search."""
        return (self.seed, self.ids[problem], *parts)

    def trajectory_keys(self, problem: int, *index: int | str) -> dict[str, list[Key]]:
        """The keys of one trajectory: its initial noise and, if stochastic, one per step."""
        keys = {"x_T": [self.key(problem, "x_T", *index)]}
        if self.process.stochastic:
            keys["steps"] = [self.key(problem, "step", *index, i) for i in range(self.process.steps)]
        return keys

    def trajectories(self, rows: Sequence[tuple[int, tuple]]) -> tuple[Noises, list[dict[str, list[Key]]]]:
        """The noises of trajectories ``(problem, index)``, one per row, and their keys."""
        keys = [self.trajectory_keys(p, *index) for p, index in rows]
        noises = {"x_T": self.process.prior([k["x_T"][0] for k in keys])}
        if self.process.stochastic:
            noises["steps"] = torch.stack([self.process.step_noise(k["steps"]) for k in keys])
        return noises, keys

    def initial(self, rows: Sequence[tuple[int, tuple]]) -> torch.Tensor:
        """The initial noises x_T of trajectories ``(problem, index)`` (no step noises)."""
        return self.process.prior([self.key(p, "x_T", *index) for p, index in rows])

    def steps(self, rows: Sequence[tuple[int, tuple]],
              process: DenoisingProcess | None = None) -> torch.Tensor:
        """One step noise per row ``(problem, (purpose, indices...))``, shaped for ``process``
        (default: the search's)."""
        return (process or self.process).step_noise([self.key(p, *parts) for p, parts in rows])

    def states(self, rows: Sequence[tuple[int, tuple]]) -> torch.Tensor:
        """One state-shaped noise per row ``(problem, (purpose, indices...))`` (re-noisings)."""
        return self.process.prior([self.key(p, *parts) for p, parts in rows])

    def uniform(self, rows: Sequence[tuple[int, tuple]]) -> torch.Tensor:
        """One uniform [0, 1) number per row ``(problem, (purpose, indices...))``, on the CPU."""
        return keyed_uniform([self.key(p, *parts) for p, parts in rows])


def sphere_neighbours(x: torch.Tensor, w: torch.Tensor, tau: float) -> torch.Tensor:
    """Points at cosine ``tau`` to each row of ``x`` with the row's norm (Ma et al. 2025, Sec. 3.2).

    y = ||x|| (tau x_hat + sqrt(1 - tau^2) w_hat), where w_hat is the normalised part of the
    Gaussian draw ``w`` orthogonal to x. Rows are flattened over their trailing dimensions.
    """
    flat_x, flat_w = x.flatten(1).double(), w.flatten(1).double()
    norm = flat_x.norm(dim=1, keepdim=True)
    x_hat = flat_x / norm
    ortho = flat_w - (flat_w * x_hat).sum(1, keepdim=True) * x_hat
    w_hat = ortho / ortho.norm(dim=1, keepdim=True)
    y = norm * (tau * x_hat + (1 - tau**2) ** 0.5 * w_hat)
    return y.to(x.dtype).reshape(x.shape)


def ball_neighbours(x: torch.Tensor, w: torch.Tensor, u: torch.Tensor, radius: float) -> torch.Tensor:
    """Points drawn uniformly in the ball of radius ``radius * sqrt(d)`` around each row of ``x``.

    Direction from the Gaussian draw ``w``, distance ``radius * sqrt(d) * u^(1/d)`` from the
    uniform draw ``u`` (B,); d is the row's dimension, so ``radius`` is relative to the
    typical norm sqrt(d) of a standard Gaussian noise.
    """
    flat_x, flat_w = x.flatten(1).double(), w.flatten(1).double()
    d = flat_x.shape[1]
    direction = flat_w / flat_w.norm(dim=1, keepdim=True)
    distance = radius * d**0.5 * u.double()[:, None] ** (1.0 / d)
    return (flat_x + distance * direction).to(x.dtype).reshape(x.shape)
