"""Denoising processes by name."""

from __future__ import annotations

from typing import Any

from ..errors import InputError, unknown
from . import shapes
from .base import DenoisingProcess
from .ddim_pipelines import dit_process, sd_process, sdxl_process
from .denoiser import Denoiser
from .digits import DEFAULT_GUIDANCE, DEFAULT_STEPS, digits_process
from .flow_pipelines import flux_process, sd3_process
from .gmm import flow_gmm_process, gmm_process
from .sampler import Sampler, Schedule
from .shapes import shapes_process

PIPELINE_OPTIONS = {"steps": "the pipeline's", "sampler": "ode (ode|sde)", "guidance": "the pipeline's",
                    "height": "the pipeline's", "width": "the pipeline's", "dtype": "fp32 (fp32|fp16|bf16)",
                    "offload": False}


def pipeline_entry(factory, pipeline: str, summary: str, verifier: str, **options: Any) -> dict[str, Any]:
    return {"factory": factory, "argument": f"a hub id or a folder of a {pipeline}", "verifier": verifier,
            "summary": summary, "options": {**PIPELINE_OPTIONS, **options}}


CLIP_L = "clip:openai/clip-vit-large-patch14"


PROCESSES: dict[str, dict[str, Any]] = {
    "shapes": {
        "factory": shapes_process,
        "summary": "embedded text-to-image 32x32 shapes (diffusers UNet2DConditionModel + CLIPTextModel); "
                   "prompts like 'a red circle above a blue square'",
        "options": {"steps": shapes.DEFAULT_STEPS, "sampler": f"{shapes.DEFAULT_SAMPLER} (ode|sde)",
                    "guidance": shapes.DEFAULT_GUIDANCE},
        "verifier": "shapes-clip",
    },
    "digits": {
        "factory": digits_process,
        "summary": "embedded class-conditional 16x16 digits (diffusers UNet2DModel); conditions 0-9",
        "options": {"steps": DEFAULT_STEPS, "sampler": "sde (ode|sde)", "guidance": DEFAULT_GUIDANCE},
        "verifier": "digits-classifier",
    },
    "flow-gmm": {
        "factory": flow_gmm_process,
        "summary": "the same mixture on the rectified-flow path with its exact velocity (flow-matching "
                   "sampler); conditions as gmm",
        "options": {"dim": 2, "components": 3, "mixture_seed": 0, "steps": 50, "sampler": "sde (ode|sde)"},
        "verifier": "brightness",
    },
    "sd": pipeline_entry(sd_process, "StableDiffusionPipeline",
                         "Stable Diffusion 1.x/2.x (diffusers, DDIM on latents): sd:<hub id or folder>",
                         CLIP_L),
    "sdxl": pipeline_entry(sdxl_process, "StableDiffusionXLPipeline",
                           "SDXL (diffusers, DDIM on latents): sdxl:<hub id or folder>", CLIP_L),
    "dit": {"factory": dit_process, "argument": "a hub id or a folder of a DiTPipeline",
            "summary": "DiT, class-conditional (diffusers, DDIM on latents): dit:<hub id or folder>; "
                       "conditions: ImageNet class index or label",
            "options": {k: v for k, v in PIPELINE_OPTIONS.items() if k not in ("height", "width")},
            "verifier": "classifier:google/vit-base-patch16-224"},
    "sd3": pipeline_entry(sd3_process, "StableDiffusion3Pipeline",
                          "Stable Diffusion 3 (diffusers, flow matching): sd3:<hub id or folder>", CLIP_L,
                          max_sequence_length="the pipeline's"),
    "flux": pipeline_entry(flux_process, "FluxPipeline",
                           "FLUX (diffusers, flow matching, packed latents): flux:<hub id or folder>", CLIP_L,
                           max_sequence_length="the pipeline's"),
    "gmm": {
        "factory": gmm_process,
        "summary": "analytic Gaussian mixture with exact score; conditions: component index or 'any'",
        "options": {"dim": 2, "components": 3, "mixture_seed": 0, "steps": 50, "sampler": "sde (ode|sde)"},
        "verifier": "brightness",
    },
}


def model_entry(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """(name, argument, registry entry) of ``name`` or ``name:argument``; ``InputError`` if unknown."""
    name, _, argument = str(spec).partition(":")
    if name not in PROCESSES:
        raise unknown("model", spec, PROCESSES)
    entry = PROCESSES[name]
    if "argument" in entry and not argument:
        raise InputError(f"model {name!r} needs {entry['argument']}: --model {name}:<{entry['argument']}>")
    if "argument" not in entry and argument:
        raise InputError(f"model {name!r} takes no argument, got {spec!r}")
    return name, argument or None, entry


def load_process(spec: str, **options: Any) -> DenoisingProcess:
    """A process by name (``digits``) or name and argument (``sd:DIR``); ``options`` go to its
    constructor (None values are dropped)."""
    name, argument, entry = model_entry(spec)
    options = {k: v for k, v in options.items() if v is not None}
    valid = set(entry["options"]) | {"micro_batch", "device"}
    bad = sorted(set(options) - valid)
    if bad:
        raise InputError(f"model {name!r} has no option {bad[0]!r}; valid: {', '.join(sorted(valid))}")
    return entry["factory"](argument, **options) if argument else entry["factory"](**options)


__all__ = ["DenoisingProcess", "Denoiser", "Sampler", "Schedule", "digits_process", "dit_process",
           "flow_gmm_process", "flux_process", "gmm_process", "sd3_process", "sd_process", "sdxl_process",
           "shapes_process", "PROCESSES", "load_process", "model_entry"]
