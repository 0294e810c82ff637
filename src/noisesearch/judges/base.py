"""The judge interfaces: per-sample (``Judge``) and of a whole set of samples (``SetJudge``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


class Judge:
    """``evaluate(images, conditions) -> {metric: Tensor[B]}``; the mean of each is reported."""

    name: str = "judge"

    def evaluate(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class SetJudge:
    """A judge of a whole set of samples: ``evaluate_set(images, conditions) -> {metric: float}``."""

    name: str = "set-judge"

    def evaluate_set(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        raise NotImplementedError
