"""Classifier-free guidance, and the denoiser of a conditional pixel network that uses it.

Guidance (Ho & Salimans 2022, Eq. 6): eps = eps(x, null) + w (eps(x, c) - eps(x, null)).
w = 1 is the plain conditional model and w = 0 the unconditional one, each at 1 NFE per
step; any other w evaluates both branches in one batch, 2 NFEs per step.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..hf import quiet
from .denoiser import Denoiser, torch_dtype
from .sampler import Sampler, spaced_vp_schedule


def guidance_nfe(guidance: float) -> int:
    """Network evaluations per step: 1 when one branch suffices (w = 0 or 1), else 2."""
    return 1 if guidance in (0.0, 1.0) else 2


def classifier_free_guidance(net: Callable[..., torch.Tensor], x: torch.Tensor, t: torch.Tensor,
                             cond: torch.Tensor, null: torch.Tensor, guidance: float,
                             micro_batch: int) -> torch.Tensor:
    """The guided prediction of ``net(x, t, c)`` with conditions ``cond`` and unconditional ``null``
    (one row each per row of ``x``), in micro-batches of ``micro_batch``; both branches share one
    batch, the unconditional first, as in diffusers pipelines."""
    if guidance_nfe(guidance) == 1:
        return fixed_shape_map(net, x, t, cond if guidance == 1.0 else null, size=micro_batch)
    both = fixed_shape_map(net, torch.cat([x, x]), torch.cat([t, t]), torch.cat([null, cond]),
                           size=micro_batch)
    out_u, out_c = both.chunk(2)
    return out_u + guidance * (out_c - out_u)


class GuidedPixelDenoiser(Denoiser):
    """An epsilon network on pixels in [-1, 1] with classifier-free guidance; subclasses supply the
    network (``net``, run in ``dtype``: fp32, bf16 or fp16) and the unconditional condition
    (``null``). States, noise and the sampler's update stay in float32."""

    def __init__(self, guidance: float, micro_batch: int, device: str, dtype: str = "fp32") -> None:
        self.guidance = float(guidance)
        self.nfe_per_call = guidance_nfe(self.guidance)
        self.micro_batch = micro_batch
        self.device = torch.device(device)
        self.net_dtype, self.dtype_name = torch_dtype(dtype), dtype

    def options(self) -> dict[str, Any]:
        dtype = {"dtype": self.dtype_name} if self.dtype_name != "fp32" else {}  # fp32 runs: as before
        return {"guidance": self.guidance, **dtype}

    def place(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` on this denoiser's device, in the network's dtype."""
        quiet()  # diffusers advises on every cast with .to(dtype); the whole network is cast on purpose
        return module.to(self.device, self.net_dtype)

    @abstractmethod
    def net(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The network's noise prediction for a batch of states, timesteps and conditions."""

    @abstractmethod
    def null(self, cond: torch.Tensor) -> torch.Tensor:
        """The unconditional condition, one row per row of ``cond``."""

    def prediction(self, x, at, cond):
        t = at.timestep.to(self.device).expand(len(x))
        return classifier_free_guidance(self.net, x.to(self.net_dtype), t, cond, self.null(cond),
                                        self.guidance, self.micro_batch).to(self.dtype)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return ((x0 + 1) / 2).clamp(0, 1)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device) * 2 - 1


def pixel_sampler(sampler: str, alphas_cumprod: torch.Tensor, steps: int) -> Sampler:
    """DDIM on evenly spaced timesteps of the training schedule, x0_hat clipped to the pixel range."""
    return Sampler(sampler, partial(spaced_vp_schedule, alphas_cumprod), steps, clip_x0=1.0)
