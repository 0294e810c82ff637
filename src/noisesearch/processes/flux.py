"""FLUX from a diffusers ``FluxPipeline`` as a process: ``--model flux:<hub id or folder>``.

The pipeline's components do the work: its two text encoders (``encode_prompt``: T5 token
embeddings and the pooled CLIP embedding), its transformer (a velocity model, given the
distilled guidance scale as an input when ``guidance_embeds``; no second, unconditional
branch), its scheduler's shifted sigmas (``FlowMatchEulerDiscreteScheduler`` with the
resolution-dependent shift ``mu`` of the pipeline) and its VAE. States are the pipeline's
*packed* latents, (H/16 * W/16) tokens of 4 x the VAE's latent channels, rescaled as
``flow.py`` says; ``ode`` is the pipeline's Euler sampler (``pipe(..., latents=x_T)``),
``sde`` the flow posterior sampler with the same marginals. Steps and guidance default to
the pipeline's (28 and 3.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from .flow import FlowProcess
from .pipelines import call_default, load_pipeline, pack, torch_dtype, unpack


class FluxProcess(FlowProcess):
    """Text-to-image flow matching with a ``FluxPipeline``'s components."""

    name = "flux"

    def __init__(self, source: Any, steps: int | None = None, sampler: str = "ode",
                 guidance: float | None = None, height: int | None = None, width: int | None = None,
                 max_sequence_length: int = 512, micro_batch: int = 4, device: str = "cpu",
                 dtype: str = "fp32") -> None:
        self.dtype, self.dtype_name = torch_dtype(dtype), dtype
        pipe = load_pipeline("FluxPipeline", source, self.dtype) if isinstance(source, str | Path) else source
        self.pipe = pipe.to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.device = torch.device(device)
        self.transformer, self.vae, self.scheduler = pipe.transformer, pipe.vae, pipe.scheduler
        scale = pipe.vae_scale_factor
        self.height = height or pipe.default_sample_size * scale
        self.width = width or pipe.default_sample_size * scale
        if self.height % (2 * scale) or self.width % (2 * scale):
            raise InputError(f"height and width must be multiples of {2 * scale}, "
                             f"got {self.height}x{self.width}")
        rows, cols = self.height // (2 * scale), self.width // (2 * scale)  # packed 2x2 latent patches
        self.sample_shape = (rows * cols, pipe.transformer.config.in_channels)
        self.image_ids = pipe._prepare_latent_image_ids(1, rows, cols, self.device, self.dtype)
        self.max_sequence_length = max_sequence_length
        self.guidance = float(call_default(pipe, "guidance_scale") if guidance is None else guidance)
        self.micro_batch = micro_batch
        steps = int(call_default(pipe, "num_inference_steps") if steps is None else steps)
        super().__init__(steps, sampler)
        with torch.no_grad():
            embeds, pooled, self.text_ids = pipe.encode_prompt([""], None, self.device,
                                                               max_sequence_length=max_sequence_length)
        self.cond_shapes = (tuple(embeds.shape[1:]), tuple(pooled.shape[1:]))

    def options(self) -> dict[str, Any]:
        return {"steps": self.steps, "sampler": self.sampler, "guidance": self.guidance,
                "height": self.height, "width": self.width, "max_sequence_length": self.max_sequence_length,
                "dtype": self.dtype_name}

    def flow_times(self, steps: int) -> torch.Tensor:
        """The pipeline's sigmas: linspace(1, 1/steps), shifted by mu for this image size, then 0."""
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        config = self.scheduler.config
        mu = calculate_shift(self.sample_shape[0], config.get("base_image_seq_len", 256),
                             config.get("max_image_seq_len", 4096), config.get("base_shift", 0.5),
                             config.get("max_shift", 1.15))
        self.scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu, device="cpu")
        self.model_timesteps = self.scheduler.timesteps.clone()  # what the transformer is given, x 1000
        return self.scheduler.sigmas.clone()

    def parse_condition(self, value: Any) -> str:
        if not isinstance(value, str):
            raise InputError(f"{self.name} conditions are prompts, got {value!r}")
        return value

    @torch.no_grad()
    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        """T5 token embeddings and the pooled CLIP embedding, packed into one row per prompt."""
        prompts = [self.parse_condition(c) for c in conditions]
        embeds, pooled, _ = self.pipe.encode_prompt(prompts, None, self.device,
                                                    max_sequence_length=self.max_sequence_length)
        return pack(embeds, pooled)

    def velocity(self, x, i, cond):
        t = self.model_timesteps[i].to(self.device, self.dtype)
        guidance = None
        if self.transformer.config.guidance_embeds:
            guidance = torch.tensor(self.guidance, dtype=torch.float32, device=self.device)

        def transformer(xb: torch.Tensor, cb: torch.Tensor) -> torch.Tensor:
            embeds, pooled = unpack(cb, self.cond_shapes)
            return self.transformer(hidden_states=xb.to(self.dtype), timestep=t.expand(len(xb)) / 1000,
                                    guidance=None if guidance is None else guidance.expand(len(xb)),
                                    pooled_projections=pooled, encoder_hidden_states=embeds,
                                    txt_ids=self.text_ids, img_ids=self.image_ids, return_dict=False)[0]

        return fixed_shape_map(transformer, x, cond, size=self.micro_batch)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        latents = self.pipe._unpack_latents(x0.to(self.dtype), self.height, self.width,
                                            self.pipe.vae_scale_factor)
        latents = latents / self.vae.config.scaling_factor + self.vae.config.shift_factor
        images = fixed_shape_map(lambda z: self.vae.decode(z, return_dict=False)[0], latents,
                                 size=self.micro_batch)
        return (images.float() / 2 + 0.5).clamp(0, 1)
