"""Stable Diffusion (1.x, 2.x) from a diffusers pipeline as a process: ``--model sd:<hub id or folder>``.

The pipeline's own components do the work: its text encoder (``encode_prompt``), its UNet
with classifier-free guidance (Ho & Salimans 2022, Eq. 6; the empty prompt is the
unconditional branch, as in the pipeline), its VAE decoder, and its scheduler's training
schedule and timesteps. Sampling is the DDIM loop of ``vp.py`` (Song et al. 2021, Eq. 12)
over the latents: ``ode`` is eta = 0, which equals the pipeline with a ``DDIMScheduler``
(``pipe(..., latents=x_T)``), ``sde`` is eta = 1, which equals ``DDIMScheduler.step(...,
eta=1, variance_noise=z)`` with our keyed z. x0_hat at every step comes from the UNet's
output (epsilon or v prediction). Steps and guidance default to the pipeline's
(``num_inference_steps`` and ``guidance_scale`` of its ``__call__``).

Deviation: the states' noise levels are the scheduler's timesteps, then its final alpha
(``set_alpha_to_one``); DDIM steps to ``t - T / steps``, which is the next timestep for
the evenly spaced ``leading`` and ``linspace`` spacings that SD checkpoints use. With
``trailing`` spacing our chain uses the next timestep, which DDIM does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from .pipelines import call_default, load_pipeline, torch_dtype
from .vp import VPProcess


class StableDiffusionProcess(VPProcess):
    """Text-to-image latent diffusion with a ``StableDiffusionPipeline``'s components."""

    name = "sd"

    def __init__(self, source: Any, steps: int | None = None, sampler: str = "ode",
                 guidance: float | None = None, height: int | None = None, width: int | None = None,
                 micro_batch: int = 8, device: str = "cpu", dtype: str = "fp32") -> None:
        self.source = source if isinstance(source, str | Path) else None
        self.dtype = torch_dtype(dtype)
        self.dtype_name = dtype
        if isinstance(source, str | Path):
            pipe = load_pipeline("StableDiffusionPipeline", source, self.dtype, safety_checker=None,
                                 requires_safety_checker=False)
        else:  # an already loaded pipeline object
            pipe = source
        self.pipe = pipe.to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.device = torch.device(device)
        self.unet, self.vae = pipe.unet, pipe.vae
        self.train_schedule = pipe.scheduler.config
        scale = pipe.vae_scale_factor
        self.height = height or pipe.unet.config.sample_size * scale
        self.width = width or pipe.unet.config.sample_size * scale
        if self.height % scale or self.width % scale:
            raise InputError(f"height and width must be multiples of {scale}, got {self.height}x{self.width}")
        self.sample_shape = (pipe.unet.config.in_channels, self.height // scale, self.width // scale)
        self.prediction_type = pipe.scheduler.config.get("prediction_type", "epsilon")
        self.guidance = float(call_default(pipe, "guidance_scale") if guidance is None else guidance)
        self.nfe_per_step = 1 if self.guidance in (0.0, 1.0) else 2
        self.micro_batch = micro_batch
        steps = int(call_default(pipe, "num_inference_steps") if steps is None else steps)
        from diffusers import DDIMScheduler

        self.scheduler = DDIMScheduler.from_config(self.train_schedule)
        super().__init__(self.scheduler.alphas_cumprod, steps, sampler)
        with torch.no_grad():
            self.empty = self.embed([""])

    def options(self) -> dict[str, Any]:
        return {"steps": self.steps, "sampler": self.sampler, "guidance": self.guidance,
                "height": self.height, "width": self.width, "dtype": self.dtype_name}

    def set_steps(self, steps: int) -> None:
        """The DDIM scheduler's timesteps for ``steps`` steps, then its final alpha."""
        self.steps = steps
        self.scheduler.set_timesteps(steps)
        self.timesteps = self.scheduler.timesteps.clone()
        final = self.scheduler.final_alpha_cumprod.to(torch.float64).reshape(1)
        self.alphas = torch.cat([self.alphas_cumprod[self.timesteps], final])

    def parse_condition(self, value: Any) -> str:
        if not isinstance(value, str):
            raise InputError(f"{self.name} conditions are prompts, got {value!r}")
        return value

    def embed(self, prompts: list[str]) -> torch.Tensor:
        embeds, _ = self.pipe.encode_prompt(prompts, self.device, 1, False)
        return embeds

    @torch.no_grad()
    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        return self.embed([self.parse_condition(c) for c in conditions])

    def net(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, encoder_hidden_states=cond, return_dict=False)[0]

    def eps(self, x, i, cond):
        t = self.timesteps[i].to(self.device).expand(len(x))
        x = x.to(self.dtype)
        if self.nfe_per_step == 1:
            chosen = cond if self.guidance == 1.0 else self.empty.expand(len(x), -1, -1)
            out = fixed_shape_map(self.net, x, t, chosen, size=self.micro_batch)
        else:  # the pipeline's batch order: unconditional, then conditional
            null = self.empty.expand(len(x), -1, -1)
            both = fixed_shape_map(self.net, torch.cat([x, x]), torch.cat([t, t]), torch.cat([null, cond]),
                                   size=self.micro_batch)
            out_u, out_c = both.chunk(2)
            out = out_u + self.guidance * (out_c - out_u)
        if self.prediction_type == "v_prediction":  # eps = sqrt(a) v + sqrt(1 - a) x
            a_t = float(self.alphas[i])
            out = a_t**0.5 * out + (1 - a_t) ** 0.5 * x
        return out

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        latents = x0.to(self.dtype) / self.vae.config.scaling_factor
        images = fixed_shape_map(lambda z: self.vae.decode(z, return_dict=False)[0], latents,
                                 size=self.micro_batch)
        return (images.float() / 2 + 0.5).clamp(0, 1)
