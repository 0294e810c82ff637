"""Keyed noise: every random tensor is drawn from a generator seeded by its own key.

A key is a tuple of ints and strings, e.g. ``(seed, problem, "x_T", candidate)``. It is
hashed with BLAKE2b (stable across processes, unlike Python's salted ``hash()``) into the
seed of a generator of its own. Each row of a batch has its own key, so a sample's noise
never depends on which other samples share its batch, on the batch size, or on the device;
rows are drawn in float32 on the CPU, then cast and moved.

Two schemes turn a key into draws; a run records its scheme (``RunSpec.noise``):

- **1** (noisesearch 0.1.0): a 63-bit seed for a CPU ``torch.Generator``. Its mt19937 keeps
  only the low 32 bits of a seed, so among n keys some pairs draw identical noise (about
  n² / 2**33 of them: some 30 in a search of half a million draws). Kept so that runs
  written by 0.1.0 resume and re-run bit for bit, and for draws that data and committed
  weights depend on (the Gaussian mixture's means).
- **2** (since 0.2.0): a numpy PCG64 (O'Neill 2014) whose whole 128-bit state and 128-bit
  stream are a 32-byte BLAKE2b digest of the key, so distinct keys get distinct streams.
  The digest is already uniformly mixed, so it is used as the state directly (what numpy's
  ``SeedSequence`` would otherwise do, at twice the cost per row).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from .lazy import torch

if TYPE_CHECKING:
    from .processes.base import DenoisingProcess

Key = tuple[int | str, ...]
# a trajectory's noises: "x_T" (B, ...), "steps" (B, T, ...), "renoise"
Noises: TypeAlias = "dict[str, torch.Tensor]"

SCHEMES = (1, 2)  # the keyed-noise schemes
NOISE_SCHEME = 2  # the scheme of new runs


def key_bytes(key: Key) -> bytes:
    """The canonical bytes of ``key`` (its JSON), which every scheme hashes."""
    for part in key:
        if not isinstance(part, int | str) or isinstance(part, bool):
            raise TypeError(f"noise key parts must be int or str, got {part!r} in {key!r}")
    return json.dumps(list(key), separators=(",", ":")).encode()


def key_seed(key: Key) -> int:
    """A stable 63-bit seed for ``key`` (scheme 1's)."""
    digest = hashlib.blake2b(key_bytes(key), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def keyed_generator(key: Key) -> torch.Generator:
    """A fresh CPU generator seeded from ``key`` (scheme 1: only 32 bits of its seed count)."""
    return torch.Generator(device="cpu").manual_seed(key_seed(key))


def check_scheme(scheme: int) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown noise scheme {scheme!r}; valid: {', '.join(map(str, SCHEMES))}")


def pcg_rows(keys: Sequence[Key], shape: tuple[int, ...],
             draw: Callable[[np.random.Generator, np.ndarray], None]) -> torch.Tensor:
    """Scheme 2: float32 rows ``(len(keys), *shape)``, row ``i`` filled by ``draw`` from a PCG64
    whose state and stream are the 32-byte BLAKE2b digest of ``keys[i]``."""
    out = np.empty((len(keys), *shape), dtype=np.float32)
    bits = np.random.PCG64()
    generator = np.random.Generator(bits)
    for row, key in zip(out.reshape(len(keys), -1), keys, strict=True):  # rows as flat views
        digest = hashlib.blake2b(key_bytes(key), digest_size=32).digest()
        state = {"state": int.from_bytes(digest[:16], "little"),
                 "inc": int.from_bytes(digest[16:], "little") | 1}  # a stream's increment is odd
        bits.state = {"bit_generator": "PCG64", "state": state, "has_uint32": 0, "uinteger": 0}
        draw(generator, row)
    return torch.from_numpy(out)


def keyed_normal(
    keys: Sequence[Key],
    shape: Sequence[int],
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    scheme: int = NOISE_SCHEME,
) -> torch.Tensor:
    """Standard normal tensor of shape ``(len(keys), *shape)``; row ``i`` depends on ``keys[i]`` only
    (``dtype`` None: float32)."""
    check_scheme(scheme)
    dtype = torch.float32 if dtype is None else dtype
    shape = tuple(shape)
    if not keys:
        return torch.empty((0, *shape), device=device, dtype=dtype)
    if scheme == 1:
        rows = torch.stack([torch.randn(shape, generator=keyed_generator(k), dtype=torch.float32)
                            for k in keys])
    else:
        rows = pcg_rows(keys, shape, lambda g, row: g.standard_normal(dtype=np.float32, out=row))
    return rows.to(device=device, dtype=dtype)


def keyed_uniform(keys: Sequence[Key], shape: Sequence[int] = (), scheme: int = NOISE_SCHEME) -> torch.Tensor:
    """Uniform [0, 1) float32 tensor ``(len(keys), *shape)`` on the CPU; row ``i`` from ``keys[i]``."""
    check_scheme(scheme)
    shape = tuple(shape)
    if not keys:
        return torch.empty((0, *shape))
    if scheme == 1:
        return torch.stack([torch.rand(shape, generator=keyed_generator(k)) for k in keys])
    return pcg_rows(keys, shape, lambda g, row: g.random(dtype=np.float32, out=row))


class NoiseSource:
    """Every keyed draw of one search, and every key format.

    A key is ``(seed, problem id, purpose, indices...)``. A trajectory of index ``j`` has the
    initial noise ``(seed, id, "x_T", *j)`` and, on a stochastic sampler, the step noises
    ``(seed, id, "step", *j, i)`` for i = 0 .. steps - 1: random search's candidate ``c`` is
    the trajectory ``(c,)``, and every search that starts from random candidates starts from
    these. Other draws name their purpose (``"eg"``, ``"smc-resample"``, ...) and indices.
    States and step noises are drawn by the process (``prior``, ``step_noise``: its shapes,
    device and dtype), uniforms on the CPU, all in the keyed-noise ``scheme`` of the run.
    """

    def __init__(self, process: DenoisingProcess, seed: int, ids: Sequence[int],
                 scheme: int = NOISE_SCHEME) -> None:
        check_scheme(scheme)
        self.process, self.seed, self.ids, self.scheme = process, seed, list(ids), scheme

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
        noises = {"x_T": self.process.prior([k["x_T"][0] for k in keys], self.scheme)}
        if self.process.stochastic:
            noises["steps"] = torch.stack([self.process.step_noise(k["steps"], self.scheme) for k in keys])
        return noises, keys

    def initial(self, rows: Sequence[tuple[int, tuple]]) -> torch.Tensor:
        """The initial noises x_T of trajectories ``(problem, index)`` (no step noises)."""
        return self.process.prior([self.key(p, "x_T", *index) for p, index in rows], self.scheme)

    def steps(self, rows: Sequence[tuple[int, tuple]],
              process: DenoisingProcess | None = None) -> torch.Tensor:
        """One step noise per row ``(problem, (purpose, indices...))``, shaped for ``process``
        (default: the search's)."""
        return (process or self.process).step_noise([self.key(p, *parts) for p, parts in rows], self.scheme)

    def states(self, rows: Sequence[tuple[int, tuple]]) -> torch.Tensor:
        """One state-shaped noise per row ``(problem, (purpose, indices...))`` (re-noisings)."""
        return self.process.prior([self.key(p, *parts) for p, parts in rows], self.scheme)

    def uniform(self, rows: Sequence[tuple[int, tuple]]) -> torch.Tensor:
        """One uniform [0, 1) number per row ``(problem, (purpose, indices...))``, on the CPU."""
        return keyed_uniform([self.key(p, *parts) for p, parts in rows], scheme=self.scheme)


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
