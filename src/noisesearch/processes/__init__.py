"""Denoising processes by name."""

from __future__ import annotations

from typing import Any

from ..errors import InputError, unknown
from . import shapes
from .base import DenoisingProcess
from .digits import DEFAULT_GUIDANCE, DEFAULT_STEPS, DigitsProcess
from .gmm import GMMProcess
from .shapes import ShapesProcess

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
    "gmm": {
        "factory": GMMProcess,
        "summary": "analytic Gaussian mixture with exact score; conditions: component index or 'any'",
        "options": {"dim": 2, "components": 3, "mixture_seed": 0, "steps": 50, "sampler": "sde (ode|sde)"},
        "verifier": "brightness",
    },
}


def load_process(name: str, **options: Any) -> DenoisingProcess:
    """A process by name; ``options`` go to its constructor (None values are dropped)."""
    if name not in PROCESSES:
        raise unknown("model", name, PROCESSES)
    options = {k: v for k, v in options.items() if v is not None}
    valid = set(PROCESSES[name]["options"]) | {"micro_batch", "device"}
    bad = sorted(set(options) - valid)
    if bad:
        raise InputError(f"model {name!r} has no option {bad[0]!r}; valid: {', '.join(sorted(valid))}")
    return PROCESSES[name]["factory"](**options)


__all__ = ["DenoisingProcess", "DigitsProcess", "GMMProcess", "ShapesProcess", "PROCESSES", "load_process"]
