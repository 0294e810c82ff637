"""Trajectories: running noises along a path of states, and scoring what comes out.

A trajectory is its initial noise x_T, the noise each stochastic step consumes, and (for
search over paths) the noise of each forward re-noising. Its *path* is the sequence of
state indices it visits: ``0, 1, ..., steps`` for a plain generation; a decrease is a
forward re-noising (``process.renoise``), an increase by one a denoising step. Noises are
stored per trajectory as ``{"x_T": (B, ...), "steps": (B, V, ...), "renoise": (B, R, ...)}``
with V the steps taken and R the re-noisings, in path order. ``sample`` regenerates a
winner from its saved noises and path (``replay``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..lazy import torch

if TYPE_CHECKING:
    from ..ledger import Ledger
    from ..noise import Noises
    from ..processes.base import DenoisingProcess
    from ..verifiers.base import Verifier


def straight_path(process: DenoisingProcess) -> list[int]:
    return list(range(process.steps + 1))


def follow_path(process: DenoisingProcess, x: torch.Tensor, cond: torch.Tensor, path: Sequence[int],
                step_noises: torch.Tensor | None = None, renoise_noises: torch.Tensor | None = None,
                ledger: Ledger | None = None,
                problems: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Move states ``x`` (B, ...) from state ``path[0]`` along ``path``.

    Returns the last state and the clean prediction x0_hat of the last step (None if none).
    A step uses the next of ``step_noises`` (B, V, ...) on a stochastic process; a
    re-noising the next of ``renoise_noises`` (B, R, ...). Steps are charged to ``ledger``.
    """
    used_steps = used_renoise = 0
    x0 = None
    for a, b in zip(path, path[1:], strict=False):
        if b == a + 1:
            noise = None
            if process.stochastic:
                noise = step_noises[:, used_steps].to(process.device, process.dtype)
                used_steps += 1
            x, x0 = process.step(x, a, cond, noise)
            if ledger is not None:
                ledger.charge_denoiser(problems, process.nfe_per_step)
        elif b < a:
            x = process.renoise(x, a, b, renoise_noises[:, used_renoise].to(process.device, process.dtype))
            used_renoise += 1
        else:
            raise ValueError(f"a path moves one step down or re-noises up, got {a} -> {b}")
    return x, x0


def sample(process: DenoisingProcess, noises: Noises, cond: torch.Tensor, path: Sequence[int] | None = None,
           ledger: Ledger | None = None, problems: torch.Tensor | None = None) -> torch.Tensor:
    """Generate from trajectories' noises along ``path`` (default: straight) and decode."""
    path = straight_path(process) if path is None else path
    with torch.no_grad():
        x = noises["x_T"].to(process.device, process.dtype)
        x, _ = follow_path(process, x, cond, path, noises.get("steps"), noises.get("renoise"),
                           ledger, problems)
        return process.decode(x)


def score(verifier: Verifier, images: torch.Tensor, conditions: Sequence, problems: torch.Tensor,
          ledger: Ledger) -> torch.Tensor:
    """Verifier scores of ``images``, one verifier call charged per row, and the denoiser
    evaluations the verifier makes itself (``verifier.denoiser_nfe`` NFEs per row); the verifier's
    own counters (``take_usage``: cache hits, tokens) go to the ledger too.

    A candidate whose image or score holds NaN or Inf is failed: its score is -inf, so it is
    never chosen, and the ledger counts it. Failed images reach the verifier as zeros.
    """
    bad = ~torch.isfinite(images.detach()).flatten(1).all(1).cpu()
    if bad.any():
        images = torch.where(bad.to(images.device).view(-1, *[1] * (images.ndim - 1)),
                             torch.zeros_like(images), images)
    scores = verifier.score(images, conditions, finite=False).cpu()  # algorithms keep scores on the CPU
    ledger.charge_verifier(problems)
    ledger.charge_usage(problems, verifier.take_usage())
    if verifier.denoiser_nfe > 0:
        ledger.charge_denoiser(problems, verifier.denoiser_nfe)
    bad = bad | ~torch.isfinite(scores.detach()).cpu()
    if bad.any():
        ledger.charge_failed(problems[bad])
        scores = scores.masked_fill(bad, -float("inf"))
    return scores


def map_path(path: Sequence[int], from_levels: torch.Tensor, to_levels: torch.Tensor) -> list[int]:
    """A path on one schedule as a path on another, each state at the nearest noise level."""
    def nearest(i: int) -> int:
        return int((to_levels - from_levels[i]).abs().argmin())

    mapped = [nearest(path[0])]
    for a, b in zip(path, path[1:], strict=False):
        target = nearest(b)
        if b > a:
            mapped += list(range(mapped[-1] + 1, max(target, mapped[-1]) + 1))
        elif target < mapped[-1]:
            mapped.append(target)
    return mapped


def steps_taken(path: Sequence[int]) -> int:
    """Denoising steps along ``path`` (re-noisings are free)."""
    return sum(b == a + 1 for a, b in zip(path, path[1:], strict=False))


def select_rows(noises: Noises, rows: Sequence[int] | torch.Tensor) -> Noises:
    """The noises of the given rows."""
    index = torch.as_tensor(rows, dtype=torch.long)
    return {k: v[index] for k, v in noises.items()}


def concat_noises(parts: Sequence[Noises]) -> Noises:
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def best_per_problem(scores: torch.Tensor, n_problems: int, per_problem: int, keep: int = 1) -> torch.Tensor:
    """Row indices of the ``keep`` best of each problem's ``per_problem`` consecutive rows (ties: first)."""
    grouped = scores.reshape(n_problems, per_problem)
    order = torch.sort(-grouped, dim=1, stable=True).indices[:, :keep]
    return (order + torch.arange(n_problems)[:, None] * per_problem).flatten()
