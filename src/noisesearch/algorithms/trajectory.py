"""Trajectories: their noise keys, running them along a path of states, scoring them in chunks.

A trajectory is its initial noise x_T, the noise each stochastic step consumes, and (for
search over paths) the noise of each forward re-noising. Its *path* is the sequence of
state indices it visits: ``0, 1, ..., steps`` for a plain generation; a decrease is a
forward re-noising (``process.renoise``), an increase by one a denoising step. Noises are
stored per trajectory as ``{"x_T": (B, ...), "steps": (B, V, ...), "renoise": (B, R, ...)}``
with V the steps taken and R the re-noisings, in path order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..ledger import Ledger
from ..noise import Key
from ..processes.base import DenoisingProcess
from ..verifiers.base import Verifier

Noises = dict[str, torch.Tensor]


def trajectory_keys(process: DenoisingProcess, seed: int, problem: int, *index: int | str) -> dict:
    """The keys of one trajectory: its initial noise and, if stochastic, one per step."""
    keys: dict[str, list[Key]] = {"x_T": [(seed, problem, "x_T", *index)]}
    if process.stochastic:
        keys["steps"] = [(seed, problem, "step", *index, i) for i in range(process.steps)]
    return keys


def draw_noises(process: DenoisingProcess, keys: Sequence[dict]) -> Noises:
    """The noises of trajectories from their keys: x_T (B, ...) and, if stochastic, steps (B, T, ...)."""
    noises = {"x_T": process.prior([k["x_T"][0] for k in keys])}
    if process.stochastic:
        noises["steps"] = torch.stack([process.step_noise(k["steps"]) for k in keys])
    return noises


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


def replay_noises(process: DenoisingProcess, cond: torch.Tensor, noises: Noises,
                  path: Sequence[int] | None = None) -> torch.Tensor:
    """Regenerate samples from saved noises (and the recorded path, if not straight)."""
    return sample(process, noises, cond, path)


def score(verifier: Verifier, images: torch.Tensor, conditions: Sequence, problems: torch.Tensor,
          ledger: Ledger) -> torch.Tensor:
    """Verifier scores of ``images``, one verifier call charged per row.

    A candidate whose image or score holds NaN or Inf is failed: its score is -inf, so it is
    never chosen, and the ledger counts it. Failed images reach the verifier as zeros.
    """
    bad = ~torch.isfinite(images.detach()).flatten(1).all(1).cpu()
    if bad.any():
        images = torch.where(bad.to(images.device).view(-1, *[1] * (images.ndim - 1)),
                             torch.zeros_like(images), images)
    scores = verifier.score(images, conditions, finite=False).cpu()  # algorithms keep scores on the CPU
    ledger.charge_verifier(problems)
    bad = bad | ~torch.isfinite(scores.detach()).cpu()
    if bad.any():
        ledger.charge_failed(problems[bad])
        scores = scores.masked_fill(bad, -float("inf"))
    return scores


def evaluate(process: DenoisingProcess, verifier: Verifier, noises: Noises, cond: torch.Tensor,
             conditions: Sequence, problems: torch.Tensor, ledger: Ledger,
             max_batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate and score whole trajectories in chunks of ``max_batch`` rows; (images, scores).

    ``cond`` and ``conditions`` hold one entry per problem; ``problems`` (B,) maps rows to them.
    """
    def generate_and_score(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
        rows = problems[part]
        with ledger.timed(rows):
            batch = sample(process, {k: v[part] for k, v in noises.items()}, cond[rows], None, ledger, rows)
            return batch, score(verifier, batch, [conditions[p] for p in rows.tolist()], rows, ledger)

    return cat_pairs(ledger.map_chunks(generate_and_score, len(problems), max_batch))


def decode_and_score(process: DenoisingProcess, verifier: Verifier, x: torch.Tensor, conditions: Sequence,
                     problems: torch.Tensor, ledger: Ledger,
                     max_batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, scores) of clean states or predictions ``x``, decoded and scored in chunks."""
    def chunk(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
        rows = problems[part]
        with ledger.timed(rows), torch.no_grad():
            batch = process.decode(x[part])
            return batch, score(verifier, batch, [conditions[p] for p in rows.tolist()], rows, ledger)

    return cat_pairs(ledger.map_chunks(chunk, len(x), max_batch))


def cat_pairs(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunks' (a, b) outputs joined into (cat of a, cat of b)."""
    return torch.cat([a for a, _ in pairs]), torch.cat([b for _, b in pairs])


def select_rows(noises: Noises, rows: Sequence[int] | torch.Tensor) -> Noises:
    """The noises of the given rows."""
    index = torch.as_tensor(rows, dtype=torch.long)
    return {k: v[index] for k, v in noises.items()}


def concat_noises(parts: Sequence[Noises]) -> Noises:
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
