"""Variance-preserving diffusion with DDIM sampling (eta = 0: ODE, eta = 1: DDPM-like SDE).

Forward process x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps, a_t = alphas_cumprod[t]. The
sampler is DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", Eq. 12):

    x0_hat  = (x_t - sqrt(1 - a_t) eps_hat) / sqrt(a_t)
    sigma_t = eta * sqrt((1 - a_s) / (1 - a_t)) * sqrt(1 - a_t / a_s)
    x_s     = sqrt(a_s) x0_hat + sqrt(1 - a_s - sigma_t^2) eps_hat + sigma_t z

from t to the next timestep s < t, with z the injected noise (eta = 1 gives the DDPM
posterior variance). The normalised noise level of a state is sqrt(1 - a_t), in [0, 1].
"""

from __future__ import annotations

import copy
from abc import abstractmethod

import torch

from ..errors import InputError
from .base import DenoisingProcess

SAMPLERS = {"ode": 0.0, "sde": 1.0}


def spaced_timesteps(num_train_timesteps: int, steps: int) -> torch.Tensor:
    """``steps`` timesteps evenly spaced from the last training timestep down to 0."""
    return torch.linspace(num_train_timesteps - 1, 0, steps).round().long()


class VPProcess(DenoisingProcess):
    """A DDIM sampler over an epsilon-prediction model; subclasses supply ``eps``."""

    clip_x0: float | None = None  # clamp x0_hat to [-c, c] (pixel models), None for exact models
    clipped_eps: bool = True  # after clamping, re-derive eps_hat from x0_hat (GLIDE) or keep the model's

    def __init__(self, alphas_cumprod: torch.Tensor, steps: int, sampler: str) -> None:
        if sampler not in SAMPLERS:
            raise InputError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
        if steps < 1:
            raise InputError(f"steps must be >= 1, got {steps}")
        self.sampler = sampler
        self.eta = SAMPLERS[sampler]
        self.stochastic = self.eta > 0
        self.alphas_cumprod = alphas_cumprod.to(torch.float64)
        self.set_steps(steps)

    def set_steps(self, steps: int) -> None:
        """Space ``steps`` sampling steps over the training timesteps."""
        self.steps = steps
        self.timesteps = spaced_timesteps(len(self.alphas_cumprod), steps)
        # a_t of every state: the spaced timesteps, then a = 1 for the clean sample
        self.alphas = torch.cat([self.alphas_cumprod[self.timesteps], torch.ones(1, dtype=torch.float64)])

    def with_steps(self, steps: int) -> VPProcess:
        """The same model and sampler with ``steps`` steps (shares the network)."""
        if steps < 1:
            raise InputError(f"steps must be >= 1, got {steps}")
        other = copy.copy(self)
        other.set_steps(steps)
        other.timesteps = other.timesteps.to(self.timesteps.device)
        return other

    def noise_levels(self) -> torch.Tensor:
        return (1.0 - self.alphas).sqrt()

    @abstractmethod
    def eps(self, x: torch.Tensor, i: int, cond: torch.Tensor) -> torch.Tensor:
        """The model's noise prediction at state index ``i`` (with guidance, if any)."""

    def predict_x0(self, x: torch.Tensor, i: int, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) at state ``i``; eps_hat is re-derived when x0_hat is clipped."""
        a_t = float(self.alphas[i])
        eps = self.eps(x, i, cond)  # NaN/Inf flows into the sample, whose candidate then fails
        x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5
        if self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
            if self.clipped_eps:
                eps = (x - a_t**0.5 * x0) / (1 - a_t) ** 0.5
        return x0, eps

    def step(self, x, i, cond, noise=None):
        if self.stochastic and noise is None:
            raise ValueError(f"the {self.sampler} sampler needs a noise tensor at every step")
        x0, eps = self.predict(x, i, cond)
        return self.update(x, i, x0, eps, noise), x0

    def predict(self, x, i, cond):
        if i == self.steps:  # the clean sample is its own prediction
            return x, torch.zeros_like(x)
        return self.predict_x0(x, i, cond)

    def sigma(self, i: int, eta: float) -> float:
        """Standard deviation of the noise step ``i`` injects (Eq. 16 of Song et al.)."""
        a_t, a_s = float(self.alphas[i]), float(self.alphas[i + 1])
        return eta * ((1 - a_s) / (1 - a_t)) ** 0.5 * (1 - a_t / a_s) ** 0.5

    def injects_noise(self, i):
        return self.stochastic and self.sigma(i, self.eta) > 0

    def update(self, x, i, x0, eps, noise=None, deterministic=False):
        sigma = self.sigma(i, 0.0 if deterministic else self.eta)
        a_s = float(self.alphas[i + 1])
        x_next = a_s**0.5 * x0 + max(1 - a_s - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            x_next = x_next + sigma * noise
        return x_next

    def renoise(self, x, i_from, i_to, noise):
        if not 0 <= i_to <= i_from <= self.steps:
            raise ValueError(f"renoise goes from a state to a noisier one, got {i_from} -> {i_to}")
        ratio = float(self.alphas[i_to] / self.alphas[i_from])
        return ratio**0.5 * x + (1 - ratio) ** 0.5 * noise
