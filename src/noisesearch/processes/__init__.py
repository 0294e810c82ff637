"""Denoising processes by name."""

from __future__ import annotations

from typing import Any

from ..errors import InputError, unknown
from . import shapes
from .base import DenoisingProcess
from .digits import DEFAULT_GUIDANCE, DEFAULT_STEPS, DigitsProcess
from .flux import FluxProcess
from .gmm import FlowGMMProcess, GMMProcess
from .shapes import ShapesProcess
from .stable_diffusion import StableDiffusionProcess

PROCESSES: dict[str, dict[str, Any]] = {
    "shapes": {
        "factory": ShapesProcess,
        "summary": "embedded text-to-image 32x32 shapes (diffusers UNet2DConditionModel + CLIPTextModel); "
                   "prompts like 'a red circle above a blue square'",
        "options": {"steps": shapes.DEFAULT_STEPS, "sampler": f"{shapes.DEFAULT_SAMPLER} (ode|sde)",
                    "guidance": shapes.DEFAULT_GUIDANCE},
        "verifier": "shapes-clip",
    },
    "digits": {
        "factory": DigitsProcess,
        "summary": "embedded class-conditional 16x16 digits (diffusers UNet2DModel); conditions 0-9",
        "options": {"steps": DEFAULT_STEPS, "sampler": "sde (ode|sde)", "guidance": DEFAULT_GUIDANCE},
        "verifier": "digits-classifier",
    },
    "flux": {
        "factory": FluxProcess,
        "argument": "a hub id or a folder of a FluxPipeline",
        "summary": "FLUX from a diffusers pipeline (flow matching, packed latents): --model "
                   "flux:<hub id or folder>; prompts",
        "options": {"steps": "the pipeline's", "sampler": "ode (ode|sde)", "guidance": "the pipeline's",
                    "height": "the pipeline's", "width": "the pipeline's", "max_sequence_length": 512,
                    "dtype": "fp32 (fp32|fp16|bf16)"},
        "verifier": "clip:openai/clip-vit-large-patch14",
    },
    "flow-gmm": {
        "factory": FlowGMMProcess,
        "summary": "the same mixture on the rectified-flow path with its exact velocity (flow-matching "
                   "sampler); conditions as gmm",
        "options": {"dim": 2, "components": 3, "mixture_seed": 0, "steps": 50, "sampler": "sde (ode|sde)"},
        "verifier": "brightness",
    },
    "sd": {
        "factory": StableDiffusionProcess,
        "argument": "a hub id or a folder of a StableDiffusionPipeline",
        "summary": "Stable Diffusion 1.x/2.x from a diffusers pipeline: --model sd:<hub id or folder>; "
                   "prompts",
        "options": {"steps": "the pipeline's", "sampler": "ode (ode|sde)", "guidance": "the pipeline's",
                    "height": "the UNet's", "width": "the UNet's", "dtype": "fp32 (fp32|fp16|bf16)"},
        "verifier": "clip:openai/clip-vit-large-patch14",
    },
    "gmm": {
        "factory": GMMProcess,
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


__all__ = ["DenoisingProcess", "DigitsProcess", "FlowGMMProcess", "GMMProcess", "ShapesProcess",
           "StableDiffusionProcess", "FluxProcess", "PROCESSES", "load_process", "model_entry"]
