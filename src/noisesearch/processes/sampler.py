"""The sampler: a schedule, and DDIM on it (eta = 0: ODE, eta = 1: DDPM-like SDE).

A schedule is the table the sampler walks: for every state i = 0 .. steps (x_T .. clean),
the signal level a_i of the variance-preserving path x = sqrt(a) x_0 + sqrt(1 - a) eps,
and the time the denoiser is given. Two families build it:

- VP (``vp_schedule``): a_i = alphas_cumprod[t_i] at the sampling timesteps t_i, then a
  final alpha (1) for the clean sample.
- Flow (``flow_schedule``): a rectified-flow model is trained on x_t = (1 - t) x_0 + t eps.
  With s_t = sqrt((1 - t)^2 + t^2) the states y_t = x_t / s_t follow the VP path with
  a_t = ((1 - t) / s_t)^2 and the same eps, so the sampler runs on y and hands the
  model x = s_t y. At t = 1 and t = 0, s_t = 1: x_T is the pipeline's initial latent and
  x0 the clean latent.

The sampler is DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", Eq. 12):

    x0_hat  = (x_t - sqrt(1 - a_t) eps_hat) / sqrt(a_t)
    sigma_t = eta * sqrt((1 - a_s) / (1 - a_t)) * sqrt(1 - a_t / a_s)
    x_s     = sqrt(a_s) x0_hat + sqrt(1 - a_s - sigma_t^2) eps_hat + sigma_t z

from state t to the next state s, with z the injected noise (eta = 1 gives the DDPM
posterior variance). The normalised noise level of a state is sqrt(1 - a_t), in [0, 1].
On a flow schedule ``ode`` is exactly the Euler step of the flow ODE,
x_s = x_t + (s - t) v (what ``FlowMatchEulerDiscreteScheduler`` does), and ``sde`` draws
x_s from the flow path's posterior q(x_s | x_t, x0_hat),

    x_s = (1 - s) x0_hat + sqrt(s^2 - c^2) eps_hat + c z,
    c = s * sqrt(1 - ((1 - t) s / ((1 - s) t))^2),

with the same marginals as the ODE.

The denoiser's output enters through one conversion per parameterisation (``predict``):
``epsilon`` (x0_hat from Eq. 12's first line, optionally clipped), ``v_prediction``
(eps = sqrt(a) v + sqrt(1 - a) x, Salimans & Ho 2022) and the flow's ``velocity``
v = eps - x_0 (x0_hat = x_t - t v, eps_hat = x_t + (1 - t) v).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..errors import InputError

if TYPE_CHECKING:
    from .denoiser import Denoiser

SAMPLERS = {"ode": 0.0, "sde": 1.0}  # the sampler's name and its eta


@dataclass(frozen=True)
class Entry:
    """A state's row of the schedule: what a denoiser may need at state ``index``."""

    index: int
    timestep: torch.Tensor  # the time the network is given (0-dim)
    alpha: float  # a_t of the VP path
    time: float | None = None  # flow time t (flow schedules)
    scale: float | None = None  # s_t, the path state is x = s_t y (flow schedules)


@dataclass(frozen=True)
class Schedule:
    """The table DDIM walks: ``alphas`` (steps + 1, float64) of every state and the
    ``timesteps`` the denoiser is given at each; flow schedules add ``times`` and ``scales``."""

    alphas: torch.Tensor
    timesteps: torch.Tensor
    times: torch.Tensor | None = None
    scales: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return len(self.alphas) - 1

    @property
    def is_flow(self) -> bool:
        return self.times is not None

    def at(self, i: int) -> Entry:
        """The schedule entry of state ``i`` (``i < steps``)."""
        if self.times is None:
            return Entry(i, self.timesteps[i], float(self.alphas[i]))
        return Entry(i, self.timesteps[i], float(self.alphas[i]), float(self.times[i]), float(self.scales[i]))

    def noise_levels(self) -> torch.Tensor:
        return (1.0 - self.alphas).sqrt()


def spaced_timesteps(num_train_timesteps: int, steps: int) -> torch.Tensor:
    """``steps`` timesteps evenly spaced from the last training timestep down to 0."""
    return torch.linspace(num_train_timesteps - 1, 0, steps).round().long()


def vp_schedule(alphas_cumprod: torch.Tensor, timesteps: torch.Tensor,
                final_alpha: torch.Tensor | None = None) -> Schedule:
    """The VP schedule at ``timesteps``: a_t = alphas_cumprod[t], then ``final_alpha`` (1 unless
    given) for the clean sample."""
    final = torch.ones(1) if final_alpha is None else final_alpha.reshape(1)
    final = final.to(torch.float64)
    return Schedule(torch.cat([alphas_cumprod.to(torch.float64)[timesteps], final]), timesteps)


def spaced_vp_schedule(alphas_cumprod: torch.Tensor, steps: int) -> Schedule:
    """The VP schedule on ``steps`` evenly spaced timesteps of the training ``alphas_cumprod``."""
    return vp_schedule(alphas_cumprod, spaced_timesteps(len(alphas_cumprod), steps))


def flow_schedule(times: torch.Tensor, timesteps: torch.Tensor | None = None) -> Schedule:
    """The flow schedule at ``times`` (steps + 1, from 1 down to 0): scales s_t = sqrt((1 - t)^2 + t^2),
    alphas ((1 - t) / s_t)^2; ``timesteps`` (the model's time input) default to 1000 t."""
    times = times.to(torch.float64)
    scales = ((1 - times) ** 2 + times**2).sqrt()
    alphas = ((1 - times) / scales) ** 2
    return Schedule(alphas, times * 1000 if timesteps is None else timesteps, times, scales)


class Sampler:
    """DDIM on a schedule; ``name`` is ``ode`` (eta = 0) or ``sde`` (eta = 1).

    ``schedule_for(steps)`` builds the schedule (``with_steps`` rebuilds it). ``clip_x0``:
    clamp x0_hat to [-c, c] (pixel models), None for exact models; ``clipped_eps``: after
    clamping, re-derive eps_hat from x0_hat (GLIDE) or keep the model's (diffusers' DDIM).
    """

    def __init__(self, name: str, schedule_for: Callable[[int], Schedule], steps: int,
                 clip_x0: float | None = None, clipped_eps: bool = True) -> None:
        if name not in SAMPLERS:
            raise InputError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
        if steps < 1:
            raise InputError(f"steps must be >= 1, got {steps}")
        self.name = name
        self.eta = SAMPLERS[name]
        self.stochastic = self.eta > 0
        self.schedule_for = schedule_for
        self.clip_x0, self.clipped_eps = clip_x0, clipped_eps
        self.schedule = schedule_for(steps)

    @property
    def steps(self) -> int:
        return self.schedule.steps

    def with_steps(self, steps: int) -> Sampler:
        """The same sampler on ``steps`` steps."""
        return Sampler(self.name, self.schedule_for, steps, self.clip_x0, self.clipped_eps)

    def noise_levels(self) -> torch.Tensor:
        return self.schedule.noise_levels()

    def predict(self, denoiser: Denoiser, x: torch.Tensor, i: int,
                cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0_hat, eps_hat) at state ``i`` from one denoiser call (the state itself at ``i == steps``)."""
        if i == self.steps:  # the clean sample is its own prediction
            return x, torch.zeros_like(x)
        at = self.schedule.at(i)
        if denoiser.prediction_type == "velocity":  # on the rescaled flow path
            t, s = at.time, at.scale
            x = s * x
            v = denoiser.prediction(x, at, cond)
            return x - t * v, x + (1 - t) * v
        a_t = at.alpha
        eps = denoiser.prediction(x, at, cond)  # NaN/Inf flows into the sample, whose candidate then fails
        if denoiser.prediction_type == "v_prediction":  # eps = sqrt(a) v + sqrt(1 - a) x
            eps = a_t**0.5 * eps + (1 - a_t) ** 0.5 * x.to(eps.dtype)
        x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5
        if self.clip_x0 is not None:
            x0 = x0.clamp(-self.clip_x0, self.clip_x0)
            if self.clipped_eps:
                eps = (x - a_t**0.5 * x0) / (1 - a_t) ** 0.5
        return x0, eps

    def sigma(self, i: int, eta: float) -> float:
        """Standard deviation of the noise step ``i`` injects (Eq. 16 of Song et al.)."""
        a_t, a_s = float(self.schedule.alphas[i]), float(self.schedule.alphas[i + 1])
        return eta * ((1 - a_s) / (1 - a_t)) ** 0.5 * (1 - a_t / a_s) ** 0.5

    def injects_noise(self, i: int) -> bool:
        return self.stochastic and self.sigma(i, self.eta) > 0

    def update(self, x: torch.Tensor, i: int, x0: torch.Tensor, eps: torch.Tensor,
               noise: torch.Tensor | None = None, deterministic: bool = False) -> torch.Tensor:
        """Eq. 12 from state ``i`` to ``i + 1``; ``deterministic``: eta = 0 whatever the sampler."""
        sigma = self.sigma(i, 0.0 if deterministic else self.eta)
        a_s = float(self.schedule.alphas[i + 1])
        x_next = a_s**0.5 * x0 + max(1 - a_s - sigma**2, 0.0) ** 0.5 * eps
        if sigma > 0:
            x_next = x_next + sigma * noise
        return x_next

    def renoise(self, x: torch.Tensor, i_from: int, i_to: int, noise: torch.Tensor) -> torch.Tensor:
        """The exact forward process from state ``i_from`` back to the noisier ``i_to``."""
        if not 0 <= i_to <= i_from <= self.steps:
            raise ValueError(f"renoise goes from a state to a noisier one, got {i_from} -> {i_to}")
        alphas = self.schedule.alphas
        ratio = float(alphas[i_to] / alphas[i_from])
        return ratio**0.5 * x + (1 - ratio) ** 0.5 * noise
