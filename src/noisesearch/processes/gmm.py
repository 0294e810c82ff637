"""An analytic Gaussian mixture with its exact score: the exact model for tests.

Data p(x_0) = sum_k w_k N(mu_k, diag(s_k^2)) in any dimension d. Under the VP forward
process its marginal at time t is again a mixture,
p_t(x) = sum_k w_k N(sqrt(a_t) mu_k, diag(a_t s_k^2 + 1 - a_t)), so the score, the
optimal noise prediction eps = -sqrt(1 - a_t) grad log p_t and the Tweedie mean x0_hat
are closed-form. A condition ``k`` restricts the mixture to component k; ``None``
samples the whole mixture. Computed in float64. ``flow-gmm`` is the same mixture on the
rectified-flow path x_t = (1 - t) x_0 + t eps with its exact velocity (a flow schedule,
``sampler.py``), the flow model for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from diffusers import DDPMScheduler

from ..batching import fixed_shape_map
from ..errors import InputError
from ..noise import keyed_normal
from .base import DenoisingProcess
from .denoiser import Denoiser
from .sampler import Sampler, Schedule, flow_schedule, spaced_vp_schedule

UNCONDITIONAL = -1


def default_mixture(dim: int, components: int, mixture_seed: int) -> tuple[torch.Tensor, ...]:
    """Means on a ring of radius 2 (first two axes, plus keyed jitter), scales 0.3-0.6, weights ~ 1..K."""
    angles = torch.arange(components, dtype=torch.float64) * (2 * torch.pi / components)
    # noise scheme 1 (noise.py), as in 0.1.0: the means, and the tests and runs built on them, stay put
    means = 0.3 * keyed_normal([(mixture_seed, "gmm-means")], (components, dim), dtype=torch.float64,
                               scheme=1)[0]
    means[:, 0] += 2.0 * torch.cos(angles)
    if dim > 1:
        means[:, 1] += 2.0 * torch.sin(angles)
    stds = 0.3 + 0.3 * torch.linspace(0, 1, components, dtype=torch.float64)[:, None].expand(components, dim)
    weights = torch.arange(1, components + 1, dtype=torch.float64)
    return means, stds.clone(), weights / weights.sum()


class Mixture(Denoiser):
    """The data distribution sum_k w_k N(mu_k, diag(s_k^2)) and its conditions (a component
    index, or ``UNCONDITIONAL``); shared by the VP and the flow denoisers."""

    def __init__(self, means: torch.Tensor | None = None, stds: torch.Tensor | None = None,
                 weights: torch.Tensor | None = None, dim: int = 2, components: int = 3,
                 mixture_seed: int = 0, micro_batch: int = 256, device: str = "cpu") -> None:
        if torch.device(device).type != "cpu":
            raise InputError(f"model {self.name!r} is analytic and runs on the CPU only, got device "
                             f"{device!r}; valid: cpu")
        if means is None:
            means, stds, weights = default_mixture(dim, components, mixture_seed)
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.stds = torch.as_tensor(stds, dtype=torch.float64).expand_as(self.means).clone()
        w = torch.as_tensor(weights, dtype=torch.float64)
        if (w < 0).any() or self.means.ndim != 2 or len(w) != len(self.means):
            raise InputError("gmm needs means (K, d), stds (K, d) or (K, 1), and K non-negative weights")
        self.weights = w / w.sum()
        self.dim, self.components, self.mixture_seed = self.means.shape[1], len(w), mixture_seed
        self.sample_shape = (self.dim,)
        self.dtype = self.net_dtype = torch.float64
        self.micro_batch = micro_batch

    def options(self) -> dict[str, Any]:
        return {"dim": self.dim, "components": self.components, "mixture_seed": self.mixture_seed}

    def parse_condition(self, value: Any) -> int:
        if value is None or str(value).lower() in ("none", "any", "all", str(UNCONDITIONAL)):
            return UNCONDITIONAL
        try:
            k = int(value)
        except (TypeError, ValueError):
            k = -2
        if not 0 <= k < self.components:
            raise InputError(f"{self.name} condition {value!r} is not a component; "
                             f"valid: 0-{self.components - 1} or 'any'")
        return k

    def encode(self, conditions: Sequence[Any]) -> torch.Tensor:
        return torch.tensor([self.parse_condition(c) for c in conditions], dtype=torch.long)

    def log_weights(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, K) log mixture weights: the mixture's, or one-hot on the conditioned component."""
        logw = self.weights.log().expand(len(cond), -1)
        onehot = torch.where(torch.arange(self.components) == cond[:, None], 0.0, -torch.inf).to(logw)
        return torch.where((cond >= 0)[:, None], onehot, logw)  # no data-dependent shape: compiles whole

    def posterior(self, x: torch.Tensor, scale: float, signal_var: float, noise_var: float,
                  cond: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """For x = scale x_0 + noise, noise ~ N(0, noise_var), with scale^2 = signal_var: the
        posterior over components (B, K), x minus each component's mean (B, K, d) and each
        component's variance (K, d)."""
        mean = scale * self.means  # (K, d)
        var = signal_var * self.stds**2 + noise_var  # (K, d)
        diff = x[:, None, :] - mean[None]  # (B, K, d)
        log_comp = -0.5 * ((diff**2 / var).sum(-1) + var.log().sum(-1))  # (B, K), constants cancel
        return torch.softmax(self.log_weights(cond) + log_comp, dim=1), diff, var

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        return x0

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(torch.float64)


class MixtureEps(Mixture):
    """The mixture's exact noise prediction under VP diffusion."""

    name = "gmm"

    def score(self, x: torch.Tensor, a_t: float | torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Exact grad_x log p_t(x | cond) of the mixture at signal level a_t."""
        resp, diff, var = self.posterior(x, a_t**0.5, a_t, 1 - a_t, cond)
        return -(resp[..., None] * diff / var).sum(1)

    def net(self, x: torch.Tensor, a_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The exact noise prediction eps = -sqrt(1 - a_t) grad log p_t (``a_t`` a 0-d tensor)."""
        return -((1 - a_t) ** 0.5) * self.score(x, a_t, cond)

    def prediction(self, x, at, cond):
        a_t = torch.tensor(at.alpha, dtype=torch.float64, device=self.device)
        return fixed_shape_map(lambda xb, cb: self.net(xb, a_t, cb), x, cond, size=self.micro_batch)


class MixtureVelocity(Mixture):
    """The same mixture on the rectified-flow path x_t = (1 - t) x_0 + t eps, with its exact
    velocity: the flow model for tests."""

    name = "flow-gmm"
    prediction_type = "velocity"

    def prediction(self, x, at, cond):
        """v = E[eps - x_0 | x_t]: per component, E[eps | x, k] = t (x - m_k) / var_k and
        E[x_0 | x, k] = mu_k + (1 - t) s_k^2 (x - m_k) / var_k, m_k = (1 - t) mu_k,
        var_k = (1 - t)^2 s_k^2 + t^2."""
        t = torch.tensor(at.time, dtype=torch.float64, device=self.device)
        return fixed_shape_map(lambda xb, cb: self.net(xb, t, cb), x, cond, size=self.micro_batch)

    def net(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The exact velocity at time ``t`` (a 0-d tensor)."""
        resp, diff, var = self.posterior(x, 1 - t, (1 - t) ** 2, t**2, cond)
        per_component = (t - (1 - t) * self.stds**2) * diff / var - self.means  # (B, K, d)
        return (resp[..., None] * per_component).sum(1)


def gmm_process(means: torch.Tensor | None = None, stds: torch.Tensor | None = None,
                weights: torch.Tensor | None = None, dim: int = 2, components: int = 3,
                mixture_seed: int = 0, steps: int = 50, sampler: str = "sde",
                micro_batch: int = 256, device: str = "cpu") -> DenoisingProcess:
    """Exact-score Gaussian mixture under VP diffusion (cosine schedule), sampled with DDIM."""
    denoiser = MixtureEps(means, stds, weights, dim, components, mixture_seed, micro_batch, device)
    schedule = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    sampling = Sampler(sampler, partial(spaced_vp_schedule, schedule.alphas_cumprod), steps)
    return DenoisingProcess(denoiser, sampling)


def uniform_flow_schedule(steps: int) -> Schedule:
    """The flow schedule on ``steps + 1`` evenly spaced times from 1 to 0."""
    return flow_schedule(torch.linspace(1, 0, steps + 1, dtype=torch.float64))


def flow_gmm_process(means: torch.Tensor | None = None, stds: torch.Tensor | None = None,
                     weights: torch.Tensor | None = None, dim: int = 2, components: int = 3,
                     mixture_seed: int = 0, steps: int = 50, sampler: str = "sde",
                     micro_batch: int = 256, device: str = "cpu") -> DenoisingProcess:
    """The mixture's exact velocity on the rectified-flow path, sampled on uniform times."""
    denoiser = MixtureVelocity(means, stds, weights, dim, components, mixture_seed, micro_batch, device)
    return DenoisingProcess(denoiser, Sampler(sampler, uniform_flow_schedule, steps))
