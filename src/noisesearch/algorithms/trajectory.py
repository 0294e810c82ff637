"""Whole trajectories: their noise keys, and running them in chunks with the ledger charged."""

from __future__ import annotations

import torch

from ..ledger import Ledger
from ..noise import Key
from ..processes.base import DenoisingProcess


def trajectory_keys(process: DenoisingProcess, seed: int, problem: int, candidate: int) -> dict:
    """The keys of one candidate trajectory: its initial noise and, if stochastic, one per step."""
    keys: dict[str, list[Key]] = {"x_T": [(seed, problem, "x_T", candidate)]}
    if process.stochastic:
        keys["steps"] = [(seed, problem, "step", candidate, i) for i in range(process.steps)]
    return keys


def draw_noises(process: DenoisingProcess, keys: dict) -> dict[str, torch.Tensor]:
    """The noise tensors of one trajectory from its keys: x_T (1, ...) and steps (1, T, ...)."""
    noises = {"x_T": process.prior(keys["x_T"])}
    if "steps" in keys:
        noises["steps"] = process.step_noise(keys["steps"])[None]
    return noises


def sample(process: DenoisingProcess, x: torch.Tensor, cond: torch.Tensor,
           step_noises: torch.Tensor | None, ledger: Ledger | None = None,
           problems: torch.Tensor | None = None) -> torch.Tensor:
    """Integrate states ``x`` (B, ...) from x_T to the clean sample and return it decoded.

    ``step_noises`` is (B, steps, *noise_shape) on a stochastic process (None on an ODE).
    Every step is charged to ``ledger`` for the rows' ``problems``.
    """
    with torch.no_grad():
        for i in range(process.steps):
            noise = step_noises[:, i].to(process.device, process.dtype) if process.stochastic else None
            x, _ = process.step(x, i, cond, noise)
            if ledger is not None:
                ledger.charge_denoiser(problems, process.nfe_per_step)
        return process.decode(x)


def replay_noises(process: DenoisingProcess, cond: torch.Tensor,
                  noises: dict[str, torch.Tensor]) -> torch.Tensor:
    """Regenerate samples from saved noises (x_T (B, ...), steps (B, T, ...))."""
    return sample(process, noises["x_T"].to(process.device, process.dtype), cond, noises.get("steps"))
