"""The flow schedule (``sampler.py``) on the exact flow Gaussian mixture."""

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS
from noisesearch.processes import flow_gmm_process, gmm_process
from noisesearch.verifiers import CallableVerifier


def test_flow_velocity_agrees_with_the_vp_mixture_on_the_rescaled_path():
    # two independent closed forms: the flow velocity, and the VP score at a_t = (1 - t)^2 / s_t^2
    flow, vp = flow_gmm_process(steps=10), gmm_process()
    x = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    cond = torch.tensor([-1, 0, 1, 2] * 16)
    for i in range(1, 10):
        schedule = flow.schedule
        t, s, a = float(schedule.times[i]), float(schedule.scales[i]), float(schedule.alphas[i])
        v = flow.denoiser.prediction(x, flow.schedule.at(i), cond)
        eps_vp = -((1 - a) ** 0.5) * vp.denoiser.score(x / s, a, cond)
        assert torch.allclose(x + (1 - t) * v, eps_vp, atol=1e-10)


def test_ode_step_is_the_euler_step_of_the_flow():
    process = flow_gmm_process(steps=8, sampler="ode")
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cond = torch.zeros(16, dtype=torch.long)
    y = x / process.schedule.scales[2]
    y_next, _ = process.step(y, 2, cond)
    t, s = float(process.schedule.times[2]), float(process.schedule.times[3])
    euler = x + (s - t) * process.denoiser.prediction(x, process.schedule.at(2), cond)
    assert torch.allclose(y_next * process.schedule.scales[3], euler, atol=1e-12)


def test_sde_noise_is_the_flow_posterior_std():
    process = flow_gmm_process(steps=8, sampler="sde")
    for i in range(process.steps - 1):
        t, s = float(process.schedule.times[i]), float(process.schedule.times[i + 1])
        c = s * (1 - ((1 - t) * s / ((1 - s) * t)) ** 2) ** 0.5
        c_ours = process.sampling.sigma(i, 1.0) * float(process.schedule.scales[i + 1])
        assert c_ours == pytest.approx(c, rel=1e-12)
    assert process.sampling.sigma(process.steps - 1, 1.0) == 0.0  # the last step lands on x0_hat


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_samples_have_the_paths_marginals(sampler):
    process = flow_gmm_process(steps=100, sampler=sampler)
    n, component = 4000, 1
    cond = torch.full((n,), component, dtype=torch.long)
    y = process.prior([(0, "marginal", j) for j in range(n)])
    middle = process.steps // 2
    for i in range(process.steps):
        noise = process.step_noise([(0, "marginal", j, i) for j in range(n)]) if process.stochastic else None
        y, _ = process.step(y, i, cond, noise)
        if i + 1 == middle:  # on the path: x_s ~ N((1 - s) mu, (1 - s)^2 std^2 + s^2)
            s = float(process.schedule.times[middle])
            x = y * process.schedule.scales[middle]
            mean = (1 - s) * process.denoiser.means[component]
            std = ((1 - s) ** 2 * process.denoiser.stds[component] ** 2 + s**2).sqrt()
            assert torch.allclose(x.mean(0), mean, atol=4 * float(std.max()) / n**0.5)
            assert torch.allclose(x.std(0), std, rtol=0.05)
    mean, std = process.denoiser.means[component], process.denoiser.stds[component]
    assert torch.allclose(y.mean(0), mean, atol=4 * float(std.max()) / n**0.5 + 0.01)
    assert torch.allclose(y.std(0), std, rtol=0.05)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_runs_on_the_flow_process(algorithm):
    initial = algorithm in ("random", "zero-order", "ses", "paths", "noise-gradient")
    process = flow_gmm_process(steps=6, sampler="ode" if initial else "sde")
    reward = CallableVerifier(lambda im, c: im.sum(1), differentiable=True)
    budget = 6 * 8 if initial else None
    result = ns.search(process, reward, [0, 1], algorithm=algorithm, budget=budget, judges=[])
    again = ns.search(process, reward, [0, 1], algorithm=algorithm, budget=budget, judges=[])
    assert [p.best_score for p in result] == [p.best_score for p in again]
    assert all(p.nfe > 0 and torch.isfinite(p.best_image).all() for p in result)
