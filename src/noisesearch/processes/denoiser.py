"""Denoiser: the model half of a process (the sampler is the other half, ``sampler.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import InputError
from .sampler import Entry

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of ``fp32``, ``fp16`` or ``bf16``; ``InputError`` for any other name."""
    if name not in DTYPES:
        raise InputError(f"unknown dtype {name!r}; valid: {', '.join(DTYPES)}")
    return DTYPES[name]


class Denoiser(ABC):
    """A model that, at a state of its path, predicts in its own parameterisation
    (``prediction_type``): the noise (``epsilon``), the VP velocity (``v_prediction``) or the
    rectified-flow velocity eps - x_0 (``velocity``; it is given the path state x_t = s_t y).
    It also turns conditions into tensors and clean states into outputs."""

    name: str = "denoiser"
    prediction_type: str = "epsilon"
    sample_shape: tuple[int, ...]
    nfe_per_call: int = 1  # network evaluations per prediction: 2 with classifier-free guidance
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32  # the search state's: x_t, the keyed noise, the sampler's update
    net_dtype: torch.dtype = torch.float32  # the network's (``--dtype``); its outputs come back in ``dtype``
    differentiable: bool = True  # whether gradients flow from the output back to the input
    compiled: bool = False

    @abstractmethod
    def prediction(self, x: torch.Tensor, at: Entry, cond: torch.Tensor) -> torch.Tensor:
        """The model's prediction for states ``x`` at the schedule entry ``at`` (with guidance, if any)."""

    @abstractmethod
    def parse_condition(self, value: Any) -> Any:
        """A validated condition, or ``InputError`` naming the valid ones."""

    @abstractmethod
    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        """Conditioning tensor with one row per condition, indexable on dim 0."""

    @abstractmethod
    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """Outputs for the verifier: images in [0, 1] (B, C, H, W), or raw samples."""

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Clean states whose ``decode`` is ``images``: the inverse of ``decode`` (exact for pixel
        models, the VAE encoder's mean for latent ones)."""
        raise InputError(f"the {self.name} process cannot encode images into states")

    def options(self) -> dict[str, Any]:
        """The model's resolved options (the sampler adds ``steps`` and ``sampler``)."""
        return {}

    def compile(self) -> None:
        """Wrap the network's call (``net``) in ``torch.compile`` with static shapes.

        The network only sees fixed-shape micro-batches (``batching.fixed_shape_map``) and its
        time as a tensor, so each call site compiles once and later calls reuse the graph."""
        self.net = torch.compile(self.net, dynamic=False)
        self.compiled = True
