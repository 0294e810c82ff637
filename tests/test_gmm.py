"""The GMM sampler draws from the mixture it was given."""

import pytest
import torch

from noisesearch.algorithms.trajectory import sample
from noisesearch.noise import keyed_normal
from noisesearch.processes import gmm_process

MEANS = torch.tensor([[-2.0, 0.0, 1.0], [2.0, 1.0, -1.0], [0.0, -3.0, 0.0]])
STDS = torch.tensor([[0.5, 0.3, 0.4], [0.3, 0.6, 0.3], [0.4, 0.4, 0.5]])
WEIGHTS = torch.tensor([0.5, 0.3, 0.2])
N = 6000


def draw(sampler: str, steps: int = 100, cond: int = -1) -> torch.Tensor:
    process = gmm_process(MEANS, STDS, WEIGHTS, steps=steps, sampler=sampler)
    x = process.prior([(0, "x_T", i) for i in range(N)])
    noise = keyed_normal([(0, "step", i) for i in range(N)], (steps, 3), dtype=torch.float64)
    noises = {"x_T": x, "steps": noise} if sampler == "sde" else {"x_T": x}
    return sample(process, noises, torch.full((N,), cond))


def nearest_component(x: torch.Tensor) -> torch.Tensor:
    return torch.cdist(x, MEANS.double()).argmin(1)


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_samples_match_the_mixture(sampler):
    """Component weights within 0.02 (binomial s.e. <= 0.0065 at N = 6000, so ~3 s.e.);
    per-component means within 0.05 and standard deviations within 8%, where the
    sampling s.e. is under 0.015 and 2%: the rest is left for discretisation error."""
    x = draw(sampler)
    labels = nearest_component(x)
    weights = torch.bincount(labels, minlength=3).double() / N
    assert torch.allclose(weights, WEIGHTS.double(), atol=0.02), weights
    for k in range(3):
        xk = x[labels == k]
        assert torch.allclose(xk.mean(0), MEANS[k].double(), atol=0.05), (k, xk.mean(0))
        cov = torch.cov(xk.T)
        assert torch.allclose(cov.diagonal().sqrt(), STDS[k].double(), rtol=0.08), (k, cov)
        off_diagonal = cov - torch.diag(cov.diagonal())
        assert off_diagonal.abs().max() < 0.03


def test_condition_selects_one_component():
    x = draw("sde", steps=50, cond=1)
    assert (nearest_component(x) == 1).all()
    assert torch.allclose(x.mean(0), MEANS[1].double(), atol=0.05)


def test_tweedie_prediction_is_exact_at_low_noise():
    process = gmm_process(MEANS, STDS, WEIGHTS, steps=50, sampler="ode")
    x0 = MEANS[:1].double()
    x, x0_hat = process.step(x0.clone(), process.steps - 1, torch.tensor([-1]))
    assert torch.allclose(x, x0_hat)
    assert float(process.noise_levels()[0]) > 0.999 and float(process.noise_levels()[-1]) == 0.0


def test_renoise_follows_the_forward_process():
    """Clean samples renoised to state i have the marginal variance a_i s^2 + 1 - a_i."""
    process = gmm_process(MEANS[:1], STDS[:1], WEIGHTS[:1], steps=10, sampler="sde")
    x0 = MEANS[:1].double() + STDS[:1].double() * keyed_normal([(1, i) for i in range(N)], (3,),
                                                                dtype=torch.float64)
    noise = keyed_normal([(2, i) for i in range(N)], (3,), dtype=torch.float64)
    x = process.renoise(x0, 10, 4, noise)
    a = float(process.schedule.alphas[4])
    assert torch.allclose(x.var(0), a * STDS[0].double() ** 2 + 1 - a, rtol=0.06)
    assert torch.allclose(x.mean(0), a**0.5 * MEANS[0].double(), atol=0.05)
