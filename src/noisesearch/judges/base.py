"""The judge interfaces: per-sample (``Judge``) and of a whole set of samples (``SetJudge``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch


class Judge:
    """``evaluate(images, conditions) -> {metric: Tensor[B]}``; the mean of each is reported.
    ``metrics`` says what each metric it returns means."""

    name: str = "judge"
    metrics: ClassVar[dict[str, str]] = {}

    def evaluate(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class SetJudge:
    """A judge of a whole set of samples: ``evaluate_set(images, conditions) -> {metric: float}``;
    ``metrics`` says what each metric it returns means."""

    name: str = "set-judge"
    metrics: ClassVar[dict[str, str]] = {}

    def evaluate_set(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, float]:
        raise NotImplementedError
