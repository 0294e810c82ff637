"""A DDIM process over a conditional pixel network with classifier-free guidance.

Guidance (Ho & Salimans 2022, Eq. 6): eps = eps(x, null) + w (eps(x, c) - eps(x, null)).
w = 1 is the plain conditional model and w = 0 the unconditional one, each at 1 NFE per
step; any other w evaluates both branches in one batch, 2 NFEs per step.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch

from ..batching import fixed_shape_map
from .vp import VPProcess


class GuidedProcess(VPProcess):
    """Subclasses supply the network (``net``) and the unconditional condition (``null``)."""

    clip_x0 = 1.0  # pixels in [-1, 1]

    def __init__(self, alphas_cumprod: torch.Tensor, steps: int, sampler: str, guidance: float,
                 micro_batch: int, device: str) -> None:
        super().__init__(alphas_cumprod, steps, sampler)
        self.guidance = float(guidance)
        self.nfe_per_step = 1 if self.guidance in (0.0, 1.0) else 2
        self.micro_batch = micro_batch
        self.device = torch.device(device)
        self.timesteps = self.timesteps.to(self.device)

    def options(self) -> dict[str, Any]:
        return {"steps": self.steps, "sampler": self.sampler, "guidance": self.guidance}

    @abstractmethod
    def net(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The network's noise prediction for a batch of states, timesteps and conditions."""

    @abstractmethod
    def null(self, cond: torch.Tensor) -> torch.Tensor:
        """The unconditional condition, one row per row of ``cond``."""

    def eps(self, x, i, cond):
        t = self.timesteps[i].expand(len(x))
        null = self.null(cond)
        if self.nfe_per_step == 1:
            chosen = cond if self.guidance == 1.0 else null
            return fixed_shape_map(self.net, x, t, chosen, size=self.micro_batch)
        both = fixed_shape_map(self.net, torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, null]),
                               size=self.micro_batch)
        eps_c, eps_u = both.chunk(2)
        return eps_u + self.guidance * (eps_c - eps_u)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return ((x0 + 1) / 2).clamp(0, 1)
