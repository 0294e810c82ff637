"""DenoisingProcess: a denoiser and a sampler, with every random input explicit."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from ..noise import NOISE_SCHEME, Key, keyed_normal
from .denoiser import Denoiser
from .sampler import Sampler, Schedule


class DenoisingProcess:
    """A sampler over a denoiser. States run x_0 = x_T (noise) ... x_steps (clean).

    ``step(x, i, cond, noise)`` maps the state at index ``i`` to index ``i + 1`` and
    returns the model's clean prediction from ``x`` as well; it is ``predict`` (the model
    call) then ``update`` (no call). ``noise_levels()[i]`` is the noise level of state ``i``
    on one normalised scale: 1 is pure noise, 0 is clean.
    """

    def __init__(self, denoiser: Denoiser, sampling: Sampler) -> None:
        if (denoiser.prediction_type == "velocity") != sampling.schedule.is_flow:
            raise ValueError(f"a {denoiser.prediction_type} denoiser needs a "
                             f"{'flow' if denoiser.prediction_type == 'velocity' else 'VP'} schedule")
        self.denoiser = denoiser
        self.sampling = sampling

    # the model
    @property
    def name(self) -> str:
        return self.denoiser.name

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.denoiser.sample_shape

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """Shape of the noise one step consumes, per sample."""
        return self.sample_shape

    @property
    def device(self) -> torch.device:
        return self.denoiser.device

    @property
    def dtype(self) -> torch.dtype:
        return self.denoiser.dtype

    @property
    def differentiable(self) -> bool:
        """Whether gradients flow from the output back to the noises."""
        return self.denoiser.differentiable

    @property
    def nfe_per_step(self) -> int:
        """NFEs of one step of one sample (2 with classifier-free guidance)."""
        return self.denoiser.nfe_per_call

    def parse_condition(self, value: Any) -> Any:
        return self.denoiser.parse_condition(value)

    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        return self.denoiser.encode(conditions)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return self.denoiser.decode(x0)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.denoiser.encode_image(images)

    # the sampler
    @property
    def sampler(self) -> str:
        """The sampler's name: ``ode`` or ``sde``."""
        return self.sampling.name

    @property
    def schedule(self) -> Schedule:
        return self.sampling.schedule

    @property
    def steps(self) -> int:
        return self.sampling.steps

    @property
    def stochastic(self) -> bool:
        """Whether ``step`` consumes a noise tensor."""
        return self.sampling.stochastic

    @property
    def generation_nfe(self) -> int:
        """NFEs of one full generation (all steps) of one sample."""
        return self.steps * self.nfe_per_step

    def options(self) -> dict[str, Any]:
        """The resolved options that rebuild this process with ``load_process``."""
        compiled = {"compile": True} if self.denoiser.compiled else {}
        return {"steps": self.steps, "sampler": self.sampler, **self.denoiser.options(), **compiled}

    def with_steps(self, steps: int) -> DenoisingProcess:
        """The same denoiser and sampler on ``steps`` steps (shares the network)."""
        other = copy.copy(self)
        other.sampling = self.sampling.with_steps(steps)
        return other

    def noise_levels(self) -> torch.Tensor:
        """Normalised noise level of every state, shape (steps + 1,), from ~1 down to 0."""
        return self.sampling.noise_levels()

    def injects_noise(self, i: int) -> bool:
        """Whether step ``i`` adds any of its noise to the state."""
        return self.sampling.injects_noise(i)

    def prior(self, keys: Sequence[Key], scheme: int = NOISE_SCHEME) -> torch.Tensor:
        """Initial states x_T drawn from the prior, one row per key (``scheme``: ``noise.py``)."""
        return keyed_normal(keys, self.sample_shape, self.device, self.dtype, scheme)

    def step_noise(self, keys: Sequence[Key], scheme: int = NOISE_SCHEME) -> torch.Tensor:
        """Per-step injected noise, one row per key (``scheme``: ``noise.py``)."""
        return keyed_normal(keys, self.noise_shape, self.device, self.dtype, scheme)

    def step(self, x: torch.Tensor, i: int, cond: torch.Tensor,
             noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_{i+1}, x0_hat(x_i)). ``noise`` is required when ``stochastic``."""
        if self.stochastic and noise is None:
            raise ValueError(f"the {self.sampler} sampler needs a noise tensor at every step")
        x0, eps = self.predict(x, i, cond)
        return self.update(x, i, x0, eps, noise), x0

    def predict(self, x: torch.Tensor, i: int, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) at state ``i``: one model call (at ``i == steps`` the state itself,
        without a call)."""
        return self.sampling.predict(self.denoiser, x, i, cond)

    def update(self, x: torch.Tensor, i: int, x0: torch.Tensor, eps: torch.Tensor,
               noise: torch.Tensor | None = None, deterministic: bool = False) -> torch.Tensor:
        """x_{i+1} from x_i and its prediction, without a model call. ``deterministic``: the
        noise-free (ODE) update, whatever the sampler."""
        return self.sampling.update(x, i, x0, eps, noise, deterministic)

    def renoise(self, x: torch.Tensor, i_from: int, i_to: int, noise: torch.Tensor) -> torch.Tensor:
        """Exact forward process from state index ``i_from`` back to the noisier ``i_to``."""
        return self.sampling.renoise(x, i_from, i_to, noise)
