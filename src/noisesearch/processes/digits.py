"""The embedded digits model as a process: class-conditional DDIM with classifier-free guidance.

Guidance (Ho & Salimans 2022): eps = eps(x, null) + w (eps(x, c) - eps(x, null)). w = 1 is
the plain conditional model and w = 0 the unconditional one, each at 1 NFE per step; any
other w costs 2 NFEs per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from .digits_unet import NULL_CLASS, build_scheduler, load_unet
from .vp import VPProcess

DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 1.0


class DigitsProcess(VPProcess):
    """16x16 class-conditional digits; conditions are the classes 0-9."""

    name = "digits"
    clip_x0 = 1.0
    sample_shape = (1, 16, 16)

    def __init__(self, steps: int = DEFAULT_STEPS, sampler: str = "sde",
                 guidance: float = DEFAULT_GUIDANCE, micro_batch: int = 64,
                 device: str = "cpu", unet=None) -> None:
        super().__init__(build_scheduler().alphas_cumprod, steps, sampler)
        self.guidance = float(guidance)
        self.nfe_per_step = 1 if self.guidance in (0.0, 1.0) else 2
        self.micro_batch = micro_batch
        self.device = torch.device(device)
        self.unet = (unet if unet is not None else load_unet()).to(self.device)
        self.timesteps = self.timesteps.to(self.device)

    def options(self) -> dict[str, Any]:
        return {"steps": self.steps, "sampler": self.sampler, "guidance": self.guidance}

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

    def _unet(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, class_labels=labels).sample

    def eps(self, x, i, cond):
        t = self.timesteps[i].expand(len(x))
        null = torch.full_like(cond, NULL_CLASS)
        if self.nfe_per_step == 1:
            labels = cond if self.guidance == 1.0 else null
            return fixed_shape_map(self._unet, x, t, labels, size=self.micro_batch)
        both = fixed_shape_map(self._unet, torch.cat([x, x]), torch.cat([t, t]),
                               torch.cat([cond, null]), size=self.micro_batch)
        eps_c, eps_u = both.chunk(2)
        return eps_u + self.guidance * (eps_c - eps_u)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return ((x0 + 1) / 2).clamp(0, 1)
