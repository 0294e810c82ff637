"""Whole trajectories: their noise keys, and running them in chunks with the ledger charged."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..ledger import Ledger
from ..noise import Key
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier


def trajectory_keys(process: DenoisingProcess, seed: int, problem: int, candidate: int) -> dict:
    """The keys of one candidate trajectory: its initial noise and, if stochastic, one per step."""
    keys: dict[str, list[Key]] = {"x_T": [(seed, problem, "x_T", candidate)]}
    if process.stochastic:
        keys["steps"] = [(seed, problem, "step", candidate, i) for i in range(process.steps)]
    return keys


def draw_noises(process: DenoisingProcess, keys: Sequence[dict]) -> dict[str, torch.Tensor]:
    """The noises of trajectories from their keys: x_T (B, ...) and, if stochastic, steps (B, T, ...)."""
    noises = {"x_T": process.prior([k["x_T"][0] for k in keys])}
    if process.stochastic:
        noises["steps"] = torch.stack([process.step_noise(k["steps"]) for k in keys])
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


def evaluate(process: DenoisingProcess, verifier: Verifier, noises: dict[str, torch.Tensor],
             cond: torch.Tensor, conditions: Sequence, problems: torch.Tensor,
             ledger: Ledger) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate and score whole trajectories; (images, scores), with every call charged."""
    with ledger.timed(problems):
        images = sample(process, noises["x_T"], cond, noises.get("steps"), ledger, problems)
        scores = verifier.score(images, conditions)
        ledger.charge_verifier(problems)
    return images, scores
