"""Flow-matching (rectified-flow) models, sampled by the DDIM loop of ``vp.py``.

A flow model is trained on the path x_t = (1 - t) x_0 + t eps and predicts the velocity
v = eps - x_0 (FLUX, SD3). Its clean prediction and noise prediction are

    x0_hat = x_t - t v,    eps_hat = x_t + (1 - t) v.

The path is a variance-preserving path rescaled: with s_t = sqrt((1 - t)^2 + t^2) the
states y_t = x_t / s_t follow y_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps with
a_t = (1 - t)^2 / s_t^2, and eps is the same noise. The process's states are these y_t,
and DDIM (Song et al. 2021, Eq. 12) runs on them unchanged:

- ``ode`` (eta = 0) is exactly the Euler step of the flow ODE, x_s = x_t + (s - t) v (what
  ``FlowMatchEulerDiscreteScheduler`` does);
- ``sde`` (eta = 1) draws x_s from the posterior q(x_s | x_t, x0_hat) of the flow path,

      x_s = (1 - s) x0_hat + sqrt(s^2 - c^2) eps_hat + c z,
      c = s * sqrt(1 - ((1 - t) s / ((1 - s) t))^2),

  the DDPM-style sampler with the same marginals as the ODE (for an exact model every
  x_s is distributed as the path's marginal at s). It injects one noise z per step.

A process state y is turned into the model's input by x = s_t y; at t = 1 and at t = 0
s_t = 1, so x_T is the pipeline's initial latent and x0 is the clean latent.
"""

from __future__ import annotations

from abc import abstractmethod

import torch

from .vp import VPProcess


class FlowProcess(VPProcess):
    """DDIM over a flow-matching model on the rescaled path; subclasses supply ``velocity``."""

    def __init__(self, steps: int, sampler: str) -> None:
        # the VP table is unused: the schedule is the flow's times t (``flow_times``)
        super().__init__(torch.ones(1), steps, sampler)

    @abstractmethod
    def flow_times(self, steps: int) -> torch.Tensor:
        """The times t of the ``steps + 1`` states, from 1 (noise) down to 0 (clean)."""

    def set_steps(self, steps: int) -> None:
        self.steps = steps
        self.times = self.flow_times(steps).to(torch.float64)
        self.scales = ((1 - self.times) ** 2 + self.times**2).sqrt()
        self.alphas = ((1 - self.times) / self.scales) ** 2
        self.timesteps = self.times * 1000  # the time a diffusers flow model is given, in [0, 1000]

    @abstractmethod
    def velocity(self, x: torch.Tensor, i: int, cond: torch.Tensor) -> torch.Tensor:
        """The model's velocity v = eps - x_0 at the path state x = x_t of state index ``i``."""

    def eps(self, x, i, cond):
        raise NotImplementedError("flow processes predict with predict_x0")

    def predict_x0(self, y: torch.Tensor, i: int, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, s = float(self.times[i]), float(self.scales[i])
        x = s * y
        v = self.velocity(x, i, cond)
        return x - t * v, x + (1 - t) * v
