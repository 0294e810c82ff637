"""The embedded digits model as a denoiser, and its process: class-conditional DDIM with guidance
(``processes/guided.py``; the null class 10 is the unconditional branch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...errors import InputError
from ...processes.base import DenoisingProcess
from ...processes.guided import GuidedPixelDenoiser, pixel_sampler
from . import DEFAULT_GUIDANCE, DEFAULT_STEPS
from .model import NULL_CLASS, build_scheduler, load_unet


class DigitsDenoiser(GuidedPixelDenoiser):
    """16x16 class-conditional digits; conditions are the classes 0-9."""

    name = "digits"
    sample_shape = (1, 16, 16)

    def __init__(self, guidance: float = DEFAULT_GUIDANCE, micro_batch: int = 64, device: str = "cpu",
                 unet=None, dtype: str = "fp32") -> None:
        super().__init__(guidance, micro_batch, device, dtype)
        self.unet = self.place(unet if unet is not None else load_unet())

    def parse_condition(self, value: Any) -> int:
        try:
            c = int(str(value).strip())
        except ValueError:
            c = -1
        if not 0 <= c <= 9:
            raise InputError(f"digits condition {value!r} is not a digit class; valid: 0-9")
        return c

    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        return torch.tensor([self.parse_condition(c) for c in conditions], device=self.device)

    def net(self, x, t, cond):
        return self.unet(x, t, class_labels=cond).sample

    def null(self, cond):
        return torch.full_like(cond, NULL_CLASS)


def digits_process(steps: int = DEFAULT_STEPS, sampler: str = "sde", guidance: float = DEFAULT_GUIDANCE,
                   micro_batch: int = 64, device: str = "cpu", unet=None,
                   dtype: str = "fp32") -> DenoisingProcess:
    """The digits denoiser under DDIM on its training schedule (its network in ``dtype``)."""
    sampling = pixel_sampler(sampler, build_scheduler().alphas_cumprod, steps)
    return DenoisingProcess(DigitsDenoiser(guidance, micro_batch, device, unet, dtype), sampling)
