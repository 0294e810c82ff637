"""FLUX and Stable Diffusion 3 from diffusers pipelines as velocity denoisers on a flow
schedule: ``--model flux:<hub id or folder>`` and ``sd3:<hub id or folder>``.

The pipeline's components do the work: its text encoders (``encode_prompt``: T5 token
embeddings and pooled CLIP embeddings), its transformer (a velocity model), its
scheduler's sigmas (``FlowMatchEulerDiscreteScheduler``, shifted, with the pipeline's
resolution-dependent ``mu`` when the scheduler uses dynamic shifting) and its VAE
(latents / scaling + shift). Sampling is ``sampler.py``'s DDIM on the flow schedule: ``ode``
is the pipeline's Euler sampler (``pipe(..., latents=x_T)``), ``sde`` the flow posterior sampler with the same
marginals. Steps and guidance default to the pipeline's.

- FLUX: the transformer is given the distilled guidance scale as an input (no second,
  unconditional branch: 1 NFE per step) and time t in [0, 1]; states are the *packed*
  latents, (H/16 * W/16) tokens of 4 x the VAE's latent channels. Defaults: 28 steps,
  guidance 3.5.
- SD3: classifier-free guidance (``guided.py``; the empty prompt is the unconditional
  branch), time in [0, 1000], latents (C, H/8, W/8). Defaults: 28 steps, guidance 7.0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from .base import DenoisingProcess
from .guided import classifier_free_guidance, guidance_nfe
from .pipelines import PipelineDenoiser, call_default, pack, pipeline_steps, unpack
from .sampler import Sampler, Schedule, flow_schedule


class FlowPipelineDenoiser(PipelineDenoiser):
    """What the flow-matching pipelines share; subclasses say how to condition and call the model."""

    denoiser_name = "transformer"
    prediction_type = "velocity"
    max_shift: float = 1.15  # the pipeline's default for calculate_shift

    def __init__(self, source: Any, guidance: float | None = None, height: int | None = None,
                 width: int | None = None, max_sequence_length: int | None = None, micro_batch: int = 4,
                 device: str = "cpu", dtype: str = "fp32", offload: bool = False) -> None:
        pipe = self.open_pipeline(source, device, dtype, offload)
        self.transformer, self.vae, self.scheduler = pipe.transformer, pipe.vae, pipe.scheduler
        self.height = height or pipe.default_sample_size * pipe.vae_scale_factor
        self.width = width or pipe.default_sample_size * pipe.vae_scale_factor
        self.sample_shape = self.latent_shape()
        if max_sequence_length is None:
            max_sequence_length = call_default(pipe, "max_sequence_length")
        self.max_sequence_length = int(max_sequence_length)
        self.guidance = float(call_default(pipe, "guidance_scale") if guidance is None else guidance)
        self.micro_batch = micro_batch
        self.null = self.conditions_and_null([""])[1]  # the unconditional branch, one row

    def options(self) -> dict[str, Any]:
        return {"guidance": self.guidance, "height": self.height, "width": self.width,
                "max_sequence_length": self.max_sequence_length, "dtype": self.dtype_name,
                "offload": self.offload}

    def check_size(self, multiple: int) -> None:
        if self.height % multiple or self.width % multiple:
            raise InputError(f"height and width must be multiples of {multiple}, "
                             f"got {self.height}x{self.width}")

    def latent_shape(self) -> tuple[int, ...]:
        """The shape of one state, after checking the image size."""
        raise NotImplementedError

    def image_seq_len(self) -> int:
        """Image tokens the transformer sees (what the resolution-dependent shift depends on)."""
        raise NotImplementedError

    def scheduler_sigmas(self, steps: int) -> np.ndarray | None:
        """Sigmas the pipeline hands its scheduler (None: the scheduler's own spacing)."""
        return None

    def schedule_for(self, steps: int) -> Schedule:
        """The flow schedule at the pipeline's sigmas for ``steps`` steps, shifted as its scheduler
        does, then 0; the transformer is given the scheduler's timesteps (1000 t)."""
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        config = self.scheduler.config
        kwargs: dict[str, Any] = {}
        if config.get("use_dynamic_shifting", False):
            kwargs["mu"] = calculate_shift(self.image_seq_len(), config.get("base_image_seq_len", 256),
                                           config.get("max_image_seq_len", 4096),
                                           config.get("base_shift", 0.5),
                                           config.get("max_shift", self.max_shift))
        sigmas = self.scheduler_sigmas(steps)
        if sigmas is None:
            self.scheduler.set_timesteps(steps, device="cpu", **kwargs)
        else:
            self.scheduler.set_timesteps(sigmas=sigmas, device="cpu", **kwargs)
        return flow_schedule(self.scheduler.sigmas.clone(), self.scheduler.timesteps.clone())

    def latents(self, x0: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """A clean state as latents (B, C, h, w) (``inverse``: latents as a state)."""
        return x0

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        config = self.vae.config
        latents = (self.vae_encode(images) - config.shift_factor) * config.scaling_factor
        return self.latents(latents, inverse=True)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        config = self.vae.config
        latents = self.latents(x0.to(self.net_dtype))
        return self.vae_decode(latents / config.scaling_factor + config.shift_factor)


class FluxDenoiser(FlowPipelineDenoiser):
    """Text-to-image flow matching with a ``FluxPipeline``'s components."""

    name = "flux"
    pipeline_class = "FluxPipeline"

    def latent_shape(self):
        scale = self.pipe.vae_scale_factor
        self.check_size(2 * scale)
        self.rows, self.cols = self.height // (2 * scale), self.width // (2 * scale)  # packed 2x2 patches
        self.image_ids = self.pipe._prepare_latent_image_ids(1, self.rows, self.cols, self.device,
                                                             self.net_dtype)
        return (self.rows * self.cols, self.pipe.transformer.config.in_channels)

    def image_seq_len(self):
        return self.sample_shape[0]

    def scheduler_sigmas(self, steps):
        return np.linspace(1.0, 1 / steps, steps)

    def conditioning(self, prompts):
        embeds, pooled, self.text_ids = self.pipe.encode_prompt(prompts, None, self.device,
                                                                max_sequence_length=self.max_sequence_length)
        self.cond_shapes = (tuple(embeds.shape[1:]), tuple(pooled.shape[1:]))
        return pack(embeds, pooled), pack(embeds, pooled)  # no unconditional branch: the same

    def net(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        embeds, pooled = unpack(cond, self.cond_shapes)
        guidance = None
        if self.transformer.config.guidance_embeds:  # guidance distilled into the model: one branch
            guidance = torch.full((len(x),), self.guidance, dtype=torch.float32, device=self.device)
        return self.transformer(hidden_states=x, timestep=t, guidance=guidance, pooled_projections=pooled,
                                encoder_hidden_states=embeds, txt_ids=self.text_ids, img_ids=self.image_ids,
                                return_dict=False)[0]

    def prediction(self, x, at, cond):
        t = (at.timestep.to(self.device, self.net_dtype) / 1000).expand(len(x))
        return fixed_shape_map(self.net, x.to(self.net_dtype), t, cond, size=self.micro_batch).to(self.dtype)

    def latents(self, x0, inverse=False):
        if inverse:
            return self.pipe._pack_latents(x0, len(x0), x0.shape[1], x0.shape[2], x0.shape[3])
        return self.pipe._unpack_latents(x0, self.height, self.width, self.pipe.vae_scale_factor)


class StableDiffusion3Denoiser(FlowPipelineDenoiser):
    """Text-to-image flow matching with a ``StableDiffusion3Pipeline``'s components."""

    name = "sd3"
    pipeline_class = "StableDiffusion3Pipeline"
    max_shift = 1.16

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nfe_per_call = guidance_nfe(self.guidance)

    def latent_shape(self):
        scale = self.pipe.vae_scale_factor
        self.check_size(scale * self.pipe.transformer.config.patch_size)
        return (self.pipe.transformer.config.in_channels, self.height // scale, self.width // scale)

    def image_seq_len(self):
        patch = self.pipe.transformer.config.patch_size
        return (self.sample_shape[1] // patch) * (self.sample_shape[2] // patch)

    def conditioning(self, prompts):
        embeds, negative, pooled, negative_pooled = self.pipe.encode_prompt(
            prompts, None, None, device=self.device, do_classifier_free_guidance=True,
            max_sequence_length=self.max_sequence_length)
        self.cond_shapes = (tuple(embeds.shape[1:]), tuple(pooled.shape[1:]))
        return pack(embeds, pooled), pack(negative, negative_pooled)

    def net(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        embeds, pooled = unpack(cond, self.cond_shapes)
        return self.transformer(hidden_states=x, timestep=t, encoder_hidden_states=embeds,
                                pooled_projections=pooled, return_dict=False)[0]

    def prediction(self, x, at, cond):
        t = at.timestep.to(self.device, self.net_dtype).expand(len(x))
        null = self.null.expand(len(x), -1)
        return classifier_free_guidance(self.net, x.to(self.net_dtype), t, cond, null, self.guidance,
                                        self.micro_batch).to(self.dtype)


def flow_process(denoiser: FlowPipelineDenoiser, steps: int | None, sampler: str) -> DenoisingProcess:
    """The denoiser under DDIM on its scheduler's flow schedule (``steps`` default to the pipeline's)."""
    sampling = Sampler(sampler, denoiser.schedule_for, pipeline_steps(denoiser.pipe, steps))
    return DenoisingProcess(denoiser, sampling)


def flux_process(source: Any, steps: int | None = None, sampler: str = "ode",
                 guidance: float | None = None, height: int | None = None, width: int | None = None,
                 max_sequence_length: int | None = None, micro_batch: int = 4, device: str = "cpu",
                 dtype: str = "fp32", offload: bool = False) -> DenoisingProcess:
    """FLUX from a ``FluxPipeline`` (a folder, a hub id or the pipeline)."""
    denoiser = FluxDenoiser(source, guidance, height, width, max_sequence_length, micro_batch, device, dtype,
                            offload)
    return flow_process(denoiser, steps, sampler)


def sd3_process(source: Any, steps: int | None = None, sampler: str = "ode",
                guidance: float | None = None, height: int | None = None, width: int | None = None,
                max_sequence_length: int | None = None, micro_batch: int = 4, device: str = "cpu",
                dtype: str = "fp32", offload: bool = False) -> DenoisingProcess:
    """Stable Diffusion 3 from a ``StableDiffusion3Pipeline`` (a folder, a hub id or the pipeline)."""
    denoiser = StableDiffusion3Denoiser(source, guidance, height, width, max_sequence_length, micro_batch,
                                        device, dtype, offload)
    return flow_process(denoiser, steps, sampler)
