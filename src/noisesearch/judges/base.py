"""The per-sample judge interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


class Judge:
    """``evaluate(images, conditions) -> {metric: Tensor[B]}``; the mean of each is reported."""

    name: str = "judge"

    def evaluate(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, torch.Tensor]:
        raise NotImplementedError
