"""The embedded shapes model as a denoiser, and its process: text-to-image DDIM with guidance
(``processes/guided.py``; the empty prompt is the unconditional branch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ...errors import InputError
from ...processes.base import DenoisingProcess
from ...processes.guided import GuidedPixelDenoiser, pixel_sampler
from . import DEFAULT_GUIDANCE, DEFAULT_SAMPLER, DEFAULT_STEPS
from .model import build_scheduler, load_model
from .prompts import parse_prompt
from .tokenizer import check_vocabulary


class ShapesDenoiser(GuidedPixelDenoiser):
    """32x32 RGB scenes of coloured shapes from a prompt (see ``prompts.py`` for the templates)."""

    name = "shapes"
    sample_shape = (3, 32, 32)

    def __init__(self, guidance: float = DEFAULT_GUIDANCE, micro_batch: int = 64, device: str = "cpu",
                 model=None, dtype: str = "fp32") -> None:
        super().__init__(guidance, micro_batch, device, dtype)
        self.model = self.place(model if model is not None else load_model())
        with torch.no_grad():
            self.empty = self.model.embed([""])  # the unconditional branch's text embedding

    def parse_condition(self, value: Any) -> str:
        """The prompt in its canonical form; ``InputError`` for unknown words or templates."""
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"shapes condition {value!r} is not a prompt; "
                             "e.g. 'a red circle above a blue square'")
        check_vocabulary(value)
        return parse_prompt(value).text()

    @torch.no_grad()
    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        return self.model.embed([self.parse_condition(c) for c in conditions])

    def net(self, x, t, cond):
        return self.model.unet(x, t, cond).sample

    def null(self, cond):
        return self.empty.expand(len(cond), -1, -1)


def shapes_process(steps: int = DEFAULT_STEPS, sampler: str = DEFAULT_SAMPLER,
                   guidance: float = DEFAULT_GUIDANCE, micro_batch: int = 64, device: str = "cpu",
                   model=None, dtype: str = "fp32") -> DenoisingProcess:
    """The shapes denoiser under DDIM on its training schedule (its network in ``dtype``)."""
    sampling = pixel_sampler(sampler, build_scheduler().alphas_cumprod, steps)
    return DenoisingProcess(ShapesDenoiser(guidance, micro_batch, device, model, dtype), sampling)
