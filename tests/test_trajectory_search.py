"""Search over the noise trajectory: eps-greedy, zero-order-steps, beam, svdd, mcts, smc."""

from collections import Counter

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.trajectory import sample
from noisesearch.errors import InputError
from noisesearch.processes import DenoisingProcess, gmm_process
from noisesearch.processes.gmm import MixtureEps

STEPWISE = ["eps-greedy", "zero-order-steps", "beam", "svdd", "mcts", "smc"]
A = torch.tensor([1.0, 0.5], dtype=torch.float64)


class CountingMixture(MixtureEps):
    rows = 0

    def prediction(self, x, at, cond):
        self.rows += len(x)
        return super().prediction(x, at, cond)


def counting_gmm(steps: int, sampler: str) -> DenoisingProcess:
    return DenoisingProcess(CountingMixture(), gmm_process(steps=steps, sampler=sampler).sampling)


def linear_reward(images, conditions):
    return (images * A).sum(1)


SMALL = {"eps-greedy": {"k": 3}, "zero-order-steps": {"k": 3}, "mcts": {"s": 3}}


@pytest.mark.parametrize("algorithm", STEPWISE)
def test_ledger_counts_the_calls_and_results_do_not_depend_on_batching(algorithm):
    process = counting_gmm(steps=10, sampler="sde")
    calls = Counter()

    def reward(images, conditions):
        calls["images"] += len(images)
        return linear_reward(images, conditions)

    a = ns.search(process, reward, [0, 1, "any"], algorithm=algorithm, seed=0, max_batch=4,
                  **SMALL.get(algorithm, {}))
    assert a.totals["nfe"] == process.denoiser.rows * process.nfe_per_step
    assert a.totals["verifier_calls"] == calls["images"]
    planned = ns.load_algorithm(algorithm, **SMALL.get(algorithm, {})).plan(process, None).nfe
    assert all(p.nfe <= planned for p in a)
    if algorithm != "mcts":  # mcts's count depends on where the tree grows; the others are fixed
        assert all(p.nfe == planned for p in a)
    b = ns.search(process, reward, [0, 1, "any"], algorithm=algorithm, seed=0, max_batch=1000,
                  **SMALL.get(algorithm, {}))
    assert [p.best_score for p in a] == [p.best_score for p in b]
    assert [p.nfe for p in a] == [p.nfe for p in b]
    for p in a:  # the winner's committed noises regenerate it on the plain sampler
        regenerated = sample(process, p.noises, process.encode([p.condition]))
        assert torch.equal(regenerated[0], p.best_image)
        assert p.best_score == max(s for _, s in p.history)


@pytest.mark.parametrize("algorithm", ["eps-greedy", "zero-order-steps", "beam", "svdd", "mcts"])
def test_searches_raise_the_mean_reward_over_naive_sampling(algorithm):
    process = gmm_process(steps=12, sampler="sde")
    conditions = ["any"] * 24
    naive = ns.search(process, linear_reward, conditions, algorithm="random", n=1, seed=0)
    searched = ns.search(process, linear_reward, conditions, algorithm=algorithm, seed=0)  # defaults
    mean = sum(p.best_score for p in searched) / len(conditions)
    naive_mean = sum(p.best_score for p in naive) / len(conditions)
    assert mean > naive_mean + 1.0, (mean, naive_mean)


def tilted_mixture(process: DenoisingProcess, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and component weights of p(x) exp(lam <A, x>) / Z for the process's mixture:
    component k becomes N(mu_k + lam S_k A, S_k) with weight w_k exp(lam <A, mu_k> + lam^2 A S_k A / 2)."""
    mixture = process.denoiser
    means = mixture.means + lam * mixture.stds**2 * A
    log_w = mixture.weights.log() + lam * mixture.means @ A + 0.5 * lam**2 * (mixture.stds**2 * A**2).sum(1)
    weights = torch.softmax(log_w, 0)
    return (weights[:, None] * means).sum(0), weights


def test_smc_with_difference_potentials_samples_the_tilted_mixture():
    """k = 3000 weighted particles in 2-D, 100 steps (the sampler's own error at 30 steps is
    visible in the tilted tail). Tolerances: mean within 0.12 (about 3 standard errors for
    an effective sample of ~1500 with spread ~1.4), component weights within 0.05."""
    process = gmm_process(steps=100, sampler="sde")
    lam = 1.0
    result = ns.search(process, linear_reward, ["any"], algorithm="smc", k=3000, lam=lam,
                       potential="difference", every=5, start=0.0, end=1.0, adaptive=False, seed=0,
                       max_batch=4096)
    particles, log_w = result[0].extra["particles"], result[0].extra["log_weights"]
    assert particles.shape == (3000, 2) and int(result[0].extra["resamplings"]) == 19
    weights = torch.softmax(log_w, 0)
    mean, component_weights = tilted_mixture(process, lam)
    estimate = (weights[:, None] * particles).sum(0)
    nearest = torch.cdist(particles, process.denoiser.means).argmin(1)
    estimated_weights = torch.stack([weights[nearest == k].sum() for k in range(3)])
    assert (estimate - mean).abs().max() < 0.12, (estimate, mean)
    assert (estimated_weights - component_weights).abs().max() < 0.05
    # naive sampling (no tilt) is far from it
    naive = ns.search(process, linear_reward, ["any"], algorithm="smc", k=3000, lam=0.0, seed=0,
                      max_batch=4096)
    naive_mean = naive[0].extra["particles"].mean(0)
    assert (naive_mean - mean).abs().max() > 0.5


def test_trajectory_search_refuses_a_deterministic_sampler():
    process = gmm_process(steps=10, sampler="ode")
    for algorithm in STEPWISE:
        with pytest.raises(InputError, match="valid: `sampler=sde`"):
            ns.search(process, linear_reward, [0], algorithm=algorithm)


def test_eps_greedy_window_searches_only_inside_it():
    process = gmm_process(steps=10, sampler="sde")
    levels = process.noise_levels()
    algorithm = ns.load_algorithm("eps-greedy", k=5, unit="vp", window_lo=0.5, window_hi=1.0)
    inside = sum(1 for i in range(9) if 0.5 <= float(levels[i]) <= 1.0)
    assert 0 < inside < 9
    expected = 1 + 4 * (5 * inside + (9 - inside))  # the last DDIM step injects no noise
    result = ns.search(process, linear_reward, [0], algorithm=algorithm, seed=0)
    assert result[0].nfe == expected == algorithm.plan(process, None).nfe


def test_systematic_resampling_keeps_each_particle_floor_or_ceil_of_k_times_its_weight():
    from noisesearch.algorithms.smc import effective_sample_size, systematic_resample

    weights = torch.tensor([[0.5, 0.3, 0.15, 0.05], [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    for u in (0.0, 0.37, 0.99):
        ancestors = systematic_resample(weights.log(), torch.tensor([u, u]))
        counts = torch.stack([torch.bincount(a, minlength=4) for a in ancestors]).double()
        expected = 4 * weights
        assert ((counts - expected).abs() < 1).all(), (u, counts)
        assert (ancestors[1] == 0).all()
    assert torch.allclose(effective_sample_size(torch.zeros(1, 8)), torch.tensor([8.0]))
    assert torch.allclose(effective_sample_size(weights.log()[1:]), torch.tensor([1.0], dtype=torch.float64))


def test_different_seeds_give_different_trajectories_same_seed_the_same():
    process = gmm_process(steps=8, sampler="sde")
    runs = [ns.search(process, linear_reward, [0, 1], algorithm="eps-greedy", k=2, seed=s) for s in (0, 0, 1)]
    assert [p.best_score for p in runs[0]] == [p.best_score for p in runs[1]]
    assert torch.equal(runs[0][0].noises["steps"], runs[1][0].noises["steps"])
    assert [p.best_score for p in runs[0]] != [p.best_score for p in runs[2]]
