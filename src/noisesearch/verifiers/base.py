"""Verifier: a reward model. ``score(images, conditions) -> Tensor[B]``, higher is better."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..errors import RunError


class Verifier:
    """Base class; subclasses implement ``_score``. ``score`` checks the output."""

    name: str = "verifier"
    differentiable: bool = False
    scale: str = ""  # what a score means and its range, e.g. "log p(target class), <= 0"; "" if unknown

    @property
    def denoiser_nfe(self) -> int:
        """NFEs (denoiser evaluations) the verifier spends per scored image: 0 unless it runs
        the searched model itself. Searches charge them to the ledger on top of their own."""
        return 0

    def _score(self, images: torch.Tensor, conditions: Sequence[Any]) -> torch.Tensor:
        raise NotImplementedError

    def take_usage(self) -> dict[str, torch.Tensor]:
        """Per-row counters of the last ``score`` call (e.g. cache hits, tokens, request seconds of
        a remote grader), then forgotten; searches add them to the ledger per problem. None here."""
        return {}

    def score(self, images: torch.Tensor, conditions: Sequence[Any], finite: bool = True) -> torch.Tensor:
        """One score per image; ``RunError`` when the verifier fails, returns the wrong shape or
        (unless ``finite`` is False, as for searches, which mark such candidates failed) NaN/Inf."""
        try:
            scores = torch.as_tensor(self._score(images, conditions))
        except RunError:
            raise
        except Exception as exc:  # a failing reward model is reported, not swallowed
            raise RunError(f"verifier {self.name!r} failed: {type(exc).__name__}: {exc}") from exc
        if scores.shape != (len(images),):
            raise RunError(f"verifier {self.name!r} returned shape {tuple(scores.shape)}, "
                           f"expected ({len(images)},)")
        if finite and not torch.isfinite(scores).all():
            raise RunError(f"verifier {self.name!r} returned NaN/Inf scores")
        return scores


class CallableVerifier(Verifier):
    """Any Python callable ``fn(images, conditions) -> scores`` as a verifier."""

    def __init__(self, fn: Callable[[torch.Tensor, Sequence[Any]], Any],
                 name: str | None = None, differentiable: bool = False) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        self.differentiable = differentiable

    def _score(self, images, conditions):
        return self.fn(images, conditions)
