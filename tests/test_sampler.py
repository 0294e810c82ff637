"""The sampler (``sampler.py``): the VP and flow schedules, and one conversion per parameterisation."""

import pickle
from functools import partial

import pytest
import torch

from noisesearch.errors import InputError
from noisesearch.processes import Denoiser, DenoisingProcess, Sampler, gmm_process
from noisesearch.processes.gmm import uniform_flow_schedule
from noisesearch.processes.sampler import flow_schedule, spaced_vp_schedule, vp_schedule

ALPHAS_CUMPROD = torch.linspace(0.9999, 0.01, 1000)


class Oracle(Denoiser):
    """Knows the clean sample and the noise, and predicts them exactly in its parameterisation."""

    sample_shape = (3,)
    dtype = torch.float64

    def __init__(self, prediction_type: str, x0: torch.Tensor, eps: torch.Tensor) -> None:
        self.prediction_type, self.x0, self.eps = prediction_type, x0, eps

    def prediction(self, x, at, cond):
        if self.prediction_type == "epsilon":
            return self.eps
        if self.prediction_type == "v_prediction":  # v = sqrt(a) eps - sqrt(1 - a) x0
            return at.alpha**0.5 * self.eps - (1 - at.alpha) ** 0.5 * self.x0
        return self.eps - self.x0  # the flow's velocity

    def parse_condition(self, value):
        return value

    def encode(self, conditions):
        return torch.zeros(len(conditions))

    def decode(self, x0):
        return x0


def test_vp_schedule_is_alphas_cumprod_at_evenly_spaced_timesteps_then_one():
    schedule = spaced_vp_schedule(ALPHAS_CUMPROD, 5)
    assert schedule.steps == 5 and not schedule.is_flow
    assert schedule.timesteps.tolist() == [999, 749, 500, 250, 0]
    assert schedule.alphas.dtype == torch.float64
    assert torch.equal(schedule.alphas[:5], ALPHAS_CUMPROD.double()[schedule.timesteps])
    assert float(schedule.alphas[5]) == 1.0
    assert torch.equal(schedule.noise_levels(), (1 - schedule.alphas).sqrt())
    final = vp_schedule(ALPHAS_CUMPROD, schedule.timesteps, torch.tensor(0.9999))
    assert float(final.alphas[-1]) == float(torch.tensor(0.9999).double())


def test_flow_schedule_is_the_rescaled_rectified_flow_path():
    times = torch.linspace(1, 0, 9, dtype=torch.float64)
    schedule = flow_schedule(times)
    t, s, a = schedule.times, schedule.scales, schedule.alphas
    assert schedule.is_flow and schedule.steps == 8
    assert torch.equal(s, ((1 - t) ** 2 + t**2).sqrt())
    assert float(s[0]) == float(s[-1]) == 1.0  # x_T and x0 are the flow's own states
    # x_t = (1 - t) x0 + t eps divided by s_t is the VP path sqrt(a) x0 + sqrt(1 - a) eps
    assert torch.allclose(a.sqrt(), (1 - t) / s, atol=1e-15)
    assert torch.allclose((1 - a).sqrt(), t / s, atol=1e-15)
    assert torch.equal(schedule.timesteps, 1000 * t)
    entry = schedule.at(3)
    assert (entry.index, entry.time, entry.scale, entry.alpha) == (3, float(t[3]), float(s[3]), float(a[3]))


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "velocity"])
def test_every_parameterisation_recovers_the_clean_sample_and_the_noise(prediction_type):
    generator = torch.Generator().manual_seed(0)
    x0, eps = (torch.randn(4, 3, dtype=torch.float64, generator=generator) for _ in range(2))
    flow = prediction_type == "velocity"
    schedule_for = uniform_flow_schedule if flow else partial(spaced_vp_schedule, ALPHAS_CUMPROD)
    process = DenoisingProcess(Oracle(prediction_type, x0, eps), Sampler("ode", schedule_for, 6))
    for i in range(1, process.steps):
        a = float(process.schedule.alphas[i])
        y = a**0.5 * x0 + (1 - a) ** 0.5 * eps  # the state, on the VP path
        x0_hat, eps_hat = process.predict(y, i, process.encode([0] * 4))
        assert torch.allclose(x0_hat, x0, atol=1e-12) and torch.allclose(eps_hat, eps, atol=1e-12)


def test_with_steps_rebuilds_the_schedule_and_a_denoiser_needs_its_family():
    process = gmm_process(steps=10)
    fewer = process.with_steps(4)
    assert (fewer.steps, process.steps) == (4, 10) and fewer.denoiser is process.denoiser
    assert fewer.options() == {**process.options(), "steps": 4}
    assert pickle.loads(pickle.dumps(fewer)).schedule.alphas.equal(fewer.schedule.alphas)  # no lambdas
    with pytest.raises(InputError, match="steps must be >= 1"):
        process.with_steps(0)
    velocity = Oracle("velocity", torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="needs a flow schedule"):
        DenoisingProcess(velocity, Sampler("sde", partial(spaced_vp_schedule, ALPHAS_CUMPROD), 4))
