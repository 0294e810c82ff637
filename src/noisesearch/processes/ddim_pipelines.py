"""Stable Diffusion 1.x/2.x, SDXL and DiT from diffusers pipelines as denoisers on a VP
schedule: ``--model sd:<hub id or folder>``, ``sdxl:...`` and ``dit:...``.

The pipeline's own components do the work: its text encoders (``encode_prompt``, which
also gives the unconditional branch: the empty prompt, or zeros for SDXL's
``force_zeros_for_empty_prompt``), its UNet with classifier-free guidance (``guided.py``),
its VAE decoder, and its scheduler's training schedule and timesteps. Sampling is the DDIM
of ``sampler.py`` (Song et al. 2021, Eq. 12) over the latents: ``ode`` is eta = 0, which
equals the pipeline with a ``DDIMScheduler`` (``pipe(..., latents=x_T)``); ``sde`` is
eta = 1, which equals ``DDIMScheduler.step(..., eta=1, variance_noise=z)`` with our keyed
z. x0_hat at every step comes from the UNet's output (epsilon or v prediction; x0 is
clipped, keeping the model's eps, when the scheduler's ``clip_sample`` says so). Steps and
guidance default to the pipeline's (``num_inference_steps`` and ``guidance_scale`` of its
``__call__``: 50 and 7.5 for SD, 50 and 5.0 for SDXL, 50 and 4.0 for DiT).

DiT (Peebles & Xie 2023) is class-conditional: a condition is an ImageNet class index or
label name, the unconditional branch is the null class 1000, and of its learned-sigma
output only the noise half is used, as in ``DiTPipeline``. There, a guidance scale of 1 or
less means the conditional branch alone; here 1 does, and 0 to 1 mixes the branches as
Eq. 6 says.

Deviation: the states' noise levels are the scheduler's timesteps, then its final alpha
(``set_alpha_to_one``); DDIM steps to ``t - T / steps``, which is the next timestep for
the evenly spaced ``leading`` and ``linspace`` spacings that SD checkpoints use. With
``trailing`` spacing our chain uses the next timestep, which DDIM does not.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError
from .base import DenoisingProcess
from .guided import classifier_free_guidance, guidance_nfe
from .pipelines import PipelineDenoiser, call_default, pack, pipeline_steps, unpack
from .sampler import Sampler, Schedule, vp_schedule


class StableDiffusionDenoiser(PipelineDenoiser):
    """Text-to-image latent diffusion with a ``StableDiffusionPipeline``'s components."""

    name = "sd"
    pipeline_class = "StableDiffusionPipeline"

    def __init__(self, source: Any, guidance: float | None = None, height: int | None = None,
                 width: int | None = None, micro_batch: int = 8, device: str = "cpu", dtype: str = "fp32",
                 offload: bool = False) -> None:
        pipe = self.open_pipeline(source, device, dtype, offload, **self.load_options())
        self.requested_size = (height, width)
        self.setup(pipe)
        self.prediction_type = pipe.scheduler.config.get("prediction_type", "epsilon")
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise InputError(f"{self.name} models predicting {self.prediction_type!r} are not supported; "
                             "valid: epsilon, v_prediction")
        self.guidance = float(call_default(pipe, "guidance_scale") if guidance is None else guidance)
        self.nfe_per_call = guidance_nfe(self.guidance)
        self.micro_batch = micro_batch
        from diffusers import DDIMScheduler

        self.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
        self.null = self.conditions_and_null([""])[1]  # the unconditional branch, one row

    def load_options(self) -> dict[str, Any]:
        return {"safety_checker": None, "requires_safety_checker": False}

    def setup(self, pipe) -> None:
        """The model, the VAE and the shape of a state (from the requested image size)."""
        self.unet, self.vae = pipe.unet, pipe.vae
        scale = pipe.vae_scale_factor
        height, width = self.requested_size
        self.height = height or pipe.unet.config.sample_size * scale
        self.width = width or pipe.unet.config.sample_size * scale
        if self.height % scale or self.width % scale:
            raise InputError(f"height and width must be multiples of {scale}, got {self.height}x{self.width}")
        self.sample_shape = (pipe.unet.config.in_channels, self.height // scale, self.width // scale)

    def options(self) -> dict[str, Any]:
        return {"guidance": self.guidance, "height": self.height, "width": self.width,
                "dtype": self.dtype_name, "offload": self.offload}

    def schedule_for(self, steps: int) -> Schedule:
        """The DDIM scheduler's timesteps for ``steps`` steps, then its final alpha."""
        self.scheduler.set_timesteps(steps)
        return vp_schedule(self.scheduler.alphas_cumprod, self.scheduler.timesteps.clone(),
                           self.scheduler.final_alpha_cumprod)

    def conditioning(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        embeds, negative = self.pipe.encode_prompt(prompts, self.device, 1, True)
        return embeds, negative

    def net(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t, encoder_hidden_states=cond, return_dict=False)[0]

    def prediction(self, x, at, cond):
        t = at.timestep.to(self.device).expand(len(x))
        return classifier_free_guidance(self.net, x.to(self.net_dtype), t, cond,
                                        self.null.expand(len(x), *self.null.shape[1:]), self.guidance,
                                        self.micro_batch).to(self.dtype)

    def unscale(self, latents: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """Latents as the VAE decodes them (``inverse``: the VAE's latents as the model's)."""
        scale = self.vae.config.scaling_factor
        return latents * scale if inverse else latents / scale

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return self.vae_decode(self.unscale(x0.to(self.net_dtype)))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.unscale(self.vae_encode(images), inverse=True)


class StableDiffusionXLDenoiser(StableDiffusionDenoiser):
    """SDXL: two text encoders, the pooled embedding and the size/crop ids as added UNet inputs."""

    name = "sdxl"
    pipeline_class = "StableDiffusionXLPipeline"

    def load_options(self) -> dict[str, Any]:
        return {}

    def conditioning(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings, pooled embedding and time ids (size, crop, target size) packed per row."""
        embeds, negative, pooled, negative_pooled = self.pipe.encode_prompt(prompts, device=self.device,
                                                                            do_classifier_free_guidance=True)
        projection = (self.pipe.text_encoder_2.config.projection_dim if self.pipe.text_encoder_2 is not None
                      else int(pooled.shape[-1]))
        size = (self.height, self.width)
        time_ids = self.pipe._get_add_time_ids(size, (0, 0), size, dtype=embeds.dtype,
                                               text_encoder_projection_dim=projection).to(self.device)
        time_ids = time_ids.expand(len(prompts), -1)
        self.cond_shapes = (tuple(embeds.shape[1:]), tuple(pooled.shape[1:]), tuple(time_ids.shape[1:]))
        return pack(embeds, pooled, time_ids), pack(negative, negative_pooled, time_ids)

    def net(self, x, t, cond):
        embeds, pooled, time_ids = unpack(cond, self.cond_shapes)
        return self.unet(x, t, encoder_hidden_states=embeds, added_cond_kwargs={"text_embeds": pooled,
                                                                               "time_ids": time_ids},
                         return_dict=False)[0]

    def unscale(self, latents, inverse=False):
        config = self.vae.config
        mean, std = getattr(config, "latents_mean", None), getattr(config, "latents_std", None)
        if mean is None or std is None:
            return super().unscale(latents, inverse)
        mean, std = (torch.tensor(v).view(1, -1, 1, 1).to(latents) for v in (mean, std))
        if inverse:
            return (latents - mean) * config.scaling_factor / std
        return latents * std / config.scaling_factor + mean


class DiTDenoiser(StableDiffusionDenoiser):
    """Class-conditional latent diffusion with a ``DiTPipeline``'s transformer and VAE."""

    name = "dit"
    pipeline_class = "DiTPipeline"
    denoiser_name = "transformer"
    null_class = 1000  # the class DiTPipeline gives the unconditional branch

    def __init__(self, source: Any, guidance: float | None = None, micro_batch: int = 8,
                 device: str = "cpu", dtype: str = "fp32", offload: bool = False) -> None:
        super().__init__(source, guidance, micro_batch=micro_batch, device=device, dtype=dtype,
                         offload=offload)

    def load_options(self) -> dict[str, Any]:
        return {}

    def options(self) -> dict[str, Any]:
        return {"guidance": self.guidance, "dtype": self.dtype_name, "offload": self.offload}

    def setup(self, pipe) -> None:
        self.unet, self.vae = pipe.transformer, pipe.vae
        size, channels = pipe.transformer.config.sample_size, pipe.transformer.config.in_channels
        self.sample_shape = (channels, size, size)
        self.height = self.width = size
        self.classes = pipe.transformer.config.num_embeds_ada_norm

    def parse_condition(self, value: Any) -> int:
        """A class index, or a label name of the pipeline's ``id2label``."""
        text = str(value).strip()
        if text.lstrip("-").isdigit() and 0 <= int(text) < self.classes:
            return int(text)
        if text.lower() in self.labels:
            return self.labels[text.lower()]
        names = ", ".join(list(self.labels)[:5]) + (", ..." if len(self.labels) > 5 else "")
        raise InputError(f"dit condition {value!r} is not a class; valid: 0-{self.classes - 1}"
                         + (f" or a label ({names})" if self.labels else ""))

    @property
    def labels(self) -> dict[str, int]:
        return {name.lower(): i for name, i in self.pipe.labels.items()}

    def conditioning(self, labels: list) -> tuple[torch.Tensor, torch.Tensor]:
        classes = torch.tensor([self.null_class if c == "" else self.parse_condition(c) for c in labels],
                               device=self.device)
        return classes, torch.full_like(classes, self.null_class)

    def net(self, x, t, cond):
        out = self.unet(x, timestep=t, class_labels=cond).sample
        return out[:, :self.sample_shape[0]]  # the noise half of a learned-sigma output


def ddim_process(denoiser: StableDiffusionDenoiser, steps: int | None, sampler: str) -> DenoisingProcess:
    """The denoiser under DDIM on its scheduler's timesteps (``steps`` default to the pipeline's)."""
    config = denoiser.scheduler.config
    clip_x0 = float(config.clip_sample_range) if config.clip_sample else None  # keeping the model's eps
    steps = pipeline_steps(denoiser.pipe, steps)
    sampling = Sampler(sampler, denoiser.schedule_for, steps, clip_x0=clip_x0, clipped_eps=False)
    return DenoisingProcess(denoiser, sampling)


def sd_process(source: Any, steps: int | None = None, sampler: str = "ode",
               guidance: float | None = None, height: int | None = None, width: int | None = None,
               micro_batch: int = 8, device: str = "cpu", dtype: str = "fp32",
               offload: bool = False) -> DenoisingProcess:
    """Stable Diffusion 1.x/2.x from a ``StableDiffusionPipeline`` (a folder, a hub id or the pipeline)."""
    denoiser = StableDiffusionDenoiser(source, guidance, height, width, micro_batch, device, dtype, offload)
    return ddim_process(denoiser, steps, sampler)


def sdxl_process(source: Any, steps: int | None = None, sampler: str = "ode",
                 guidance: float | None = None, height: int | None = None, width: int | None = None,
                 micro_batch: int = 8, device: str = "cpu", dtype: str = "fp32",
                 offload: bool = False) -> DenoisingProcess:
    """SDXL from a ``StableDiffusionXLPipeline`` (a folder, a hub id or the pipeline)."""
    denoiser = StableDiffusionXLDenoiser(source, guidance, height, width, micro_batch, device, dtype, offload)
    return ddim_process(denoiser, steps, sampler)


def dit_process(source: Any, steps: int | None = None, sampler: str = "ode",
                guidance: float | None = None, micro_batch: int = 8, device: str = "cpu", dtype: str = "fp32",
                offload: bool = False) -> DenoisingProcess:
    """DiT from a ``DiTPipeline`` (a folder, a hub id or the pipeline)."""
    return ddim_process(DiTDenoiser(source, guidance, micro_batch, device, dtype, offload), steps, sampler)
