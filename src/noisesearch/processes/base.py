"""DenoisingProcess: a model and its sampler, with every random input explicit."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch

from ..errors import InputError
from ..noise import Key, keyed_normal


class DenoisingProcess(ABC):
    """A sampler over a model. States run x_0 = x_T (noise) ... x_steps (clean).

    ``step(x, i, cond, noise)`` maps the state at index ``i`` to index ``i + 1`` and
    returns the model's clean prediction from ``x`` as well. ``noise_levels()[i]`` is the
    noise level of state ``i`` on one normalised scale: 1 is pure noise, 0 is clean.
    """

    name: str = "process"
    steps: int
    stochastic: bool  # whether step() consumes a noise tensor
    sample_shape: tuple[int, ...]
    nfe_per_step: int = 1  # 2 with classifier-free guidance
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """Shape of the noise one step consumes, per sample."""
        return self.sample_shape

    @property
    def generation_nfe(self) -> int:
        """NFEs of one full generation (all steps) of one sample."""
        return self.steps * self.nfe_per_step

    def options(self) -> dict[str, Any]:
        """The resolved options that rebuild this process with ``load_process``."""
        return {}

    differentiable: bool = True  # whether gradients flow from the output back to the noises

    def with_steps(self, steps: int) -> DenoisingProcess:
        """The same model and sampler with a different number of steps."""
        raise InputError(f"the {self.name} process cannot change its number of steps")

    @abstractmethod
    def parse_condition(self, value: Any) -> Any:
        """A validated condition, or ``InputError`` naming the valid ones."""

    @abstractmethod
    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        """Conditioning tensor with one row per condition, indexable on dim 0."""

    def prior(self, keys: Sequence[Key]) -> torch.Tensor:
        """Initial states x_T drawn from the prior, one row per key."""
        return keyed_normal(keys, self.sample_shape, self.device, self.dtype)

    def step_noise(self, keys: Sequence[Key]) -> torch.Tensor:
        """Per-step injected noise, one row per key."""
        return keyed_normal(keys, self.noise_shape, self.device, self.dtype)

    @abstractmethod
    def noise_levels(self) -> torch.Tensor:
        """Normalised noise level of every state, shape (steps + 1,), from ~1 down to 0."""

    @abstractmethod
    def step(self, x: torch.Tensor, i: int, cond: torch.Tensor,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_{i+1}, x0_hat(x_i)). ``noise`` is required when ``stochastic``."""

    def injects_noise(self, i: int) -> bool:
        """Whether step ``i`` adds any of its noise to the state."""
        return self.stochastic

    def predict(self, x: torch.Tensor, i: int, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's clean prediction at state ``i`` and what ``update`` needs with it (one model call;
        at ``i == steps`` the state itself, without a call)."""
        raise NotImplementedError(f"the {self.name} process cannot split a step into predict and update")

    def update(self, x: torch.Tensor, i: int, x0: torch.Tensor, eps: torch.Tensor,
               noise: torch.Tensor | None = None, deterministic: bool = False) -> torch.Tensor:
        """x_{i+1} from x_i and its prediction, without a model call. ``deterministic``: the
        noise-free (ODE) update, whatever the sampler."""
        raise NotImplementedError(f"the {self.name} process cannot split a step into predict and update")

    @abstractmethod
    def renoise(self, x: torch.Tensor, i_from: int, i_to: int, noise: torch.Tensor) -> torch.Tensor:
        """Exact forward process from state index ``i_from`` back to the noisier ``i_to``."""

    @abstractmethod
    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """Outputs for the verifier: images in [0, 1] (B, C, H, W), or raw samples."""

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Clean states x_steps whose ``decode`` is ``images``: the inverse of ``decode`` (exact for
        pixel models, the VAE encoder's mean for latent ones)."""
        raise InputError(f"the {self.name} process cannot encode images into states")
