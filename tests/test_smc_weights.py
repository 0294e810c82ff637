"""SMC / FK steering: the final weighted particle set targets p(x) exp(lambda r(x)) / Z.

On the 2-D Gaussian mixture with a linear reward r(x) = <A, x> the tilted target is again
a mixture in closed form: component N(mu_k, S_k) with weight w_k becomes
N(mu_k + lambda S_k A, S_k) with weight proportional to w_k exp(lambda <A, mu_k> +
lambda^2 A' S_k A / 2). 100 DDIM steps keep the sampler's own error (about 0.015 on the
untilted mean) well below the standard errors of 1000 particles.
"""

import pytest
import torch

import noisesearch as ns
from noisesearch.processes import gmm_process

A = torch.tensor([1.0, 0.5], dtype=torch.float64)
K, STEPS, LAM = 1000, 100, 1.0


def linear_reward(images, conditions):
    return (images * A).sum(1)


def tilted_mean(process, lam: float) -> torch.Tensor:
    mixture = process.denoiser
    means = mixture.means + lam * mixture.stds**2 * A
    log_w = mixture.weights.log() + lam * mixture.means @ A + 0.5 * lam**2 * (mixture.stds**2 * A**2).sum(1)
    return (torch.softmax(log_w, 0)[:, None] * means).sum(0)


def weighted_mean(particles: torch.Tensor, log_weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted mean and its standard error, sd / sqrt(ESS), per coordinate."""
    w = torch.softmax(log_weights, 0)
    mean = (w[:, None] * particles).sum(0)
    sd = (w[:, None] * (particles - mean) ** 2).sum(0).sqrt()
    return mean, sd * (w**2).sum().sqrt()


@pytest.fixture(scope="module")
def process():
    return gmm_process(steps=STEPS, sampler="sde", micro_batch=K)


def smc(process, **options):
    options = {"k": K, "lam": LAM, "seed": 0, "max_batch": K, **options}
    result = ns.search(process, linear_reward, ["any"], algorithm="smc", **options)
    return result[0]


def test_the_sampler_samples_the_untilted_mixture(process):
    found = smc(process, lam=0.0)
    mixture = process.denoiser
    mean, se = weighted_mean(found.extra["particles"], found.extra["log_weights"])
    assert ((mean - (mixture.weights[:, None] * mixture.means).sum(0)).abs() < 3 * se).all()


@pytest.mark.parametrize("potential", ["max", "sum", "difference"])
def test_the_weighted_final_set_has_the_tilted_mean(process, potential):
    """FK's default schedule (adaptive resampling every 20% of the steps, within [20%, 80%])."""
    found = smc(process, potential=potential)
    particles, log_w = found.extra["particles"], found.extra["log_weights"]
    assert particles.shape == (K, 2) and log_w.shape == (K,)
    assert torch.logsumexp(log_w, 0).abs() < 1e-9  # normalised
    assert int(found.extra["resamplings"]) >= 1
    mean, se = weighted_mean(particles, log_w)
    assert ((mean - tilted_mean(process, LAM)).abs() < 3 * se).all(), (potential, mean, se)
    # 4 resampling steps and the final one are scored, not every step
    assert found.verifier_calls == 5 * K
    assert found.best_score == max(s for _, s in found.history)


@pytest.mark.parametrize("adaptive", [True, False])
def test_without_the_final_weights_the_set_misses_the_tilted_mean(process, adaptive):
    """Uniform final weights (the weights dropped) are far from the target: the max potentials
    tilt the intermediate targets by a running maximum at every resampling step."""
    found = smc(process, potential="max", adaptive=adaptive)
    particles, log_w = found.extra["particles"], found.extra["log_weights"]
    target = tilted_mean(process, LAM)
    mean, se = weighted_mean(particles, log_w)
    assert ((mean - target).abs() < 3 * se).all()
    uniform_mean, uniform_se = weighted_mean(particles, torch.zeros(K, dtype=torch.float64))
    assert (uniform_mean - target).abs().max() > 10 * uniform_se.max(), (uniform_mean, target, uniform_se)


def test_legacy_weights_keep_the_potentials_of_version_0_1_0(process):
    """``weights="potential"`` scores every step and returns the last potentials unnormalised."""
    found = ns.search(process.with_steps(10), linear_reward, ["any"], algorithm="smc", k=8, lam=LAM, seed=0,
                      weights="potential")[0]
    assert found.verifier_calls == 8 * 10 + 8
    final = torch.tensor([s for _, s in found.history], dtype=torch.float64)  # one per particle, in order
    assert (found.extra["log_weights"] >= LAM * final - 1e-9).all()  # lambda * the lineage's maximum reward
    assert ns.load_algorithm("smc").legacy == {"weights": "potential"}


def test_legacy_weights_reproduce_the_smc_run_version_0_1_0_wrote(tmp_path):
    """The 0.1.0 digits smc folder (tests/data/runs_0.1.0) run again with ``weights="potential"``
    gives its records, winners' noises and final particles with their log-weights bit for bit."""
    import json
    from pathlib import Path

    from safetensors.torch import load_file
    from test_replay_earlier_runs import records

    from noisesearch.search_run import search_to_folder
    from noisesearch.spec import RunSpec

    old = Path(__file__).parent / "data" / "runs_0.1.0" / "digits-smc"
    spec = RunSpec.from_json(json.loads((old / "config.json").read_text()))
    assert spec.options["weights"] == "potential" and spec.noise == 1
    search_to_folder(tmp_path / "run", spec, progress=False)

    assert records(tmp_path / "run") == records(old)
    for path in sorted(old.glob("noises/*.safetensors")):
        saved, written = load_file(str(path)), load_file(str(tmp_path / "run" / "noises" / path.name))
        assert saved.keys() == written.keys() and all(torch.equal(saved[k], written[k]) for k in saved)


def test_systematic_resampling_gives_each_particle_exactly_k_times_its_weight_when_that_is_whole():
    """Systematic resampling puts positions (u + j) / k, j = 0 .. k - 1, on the weights' CDF and
    takes for each the first particle whose CDF exceeds it: a particle of weight w gets floor or
    ceil of k w children, exactly k w when that is a whole number, whatever u in [0, 1) (the
    largest float below 1 included: every index stays a particle's); ancestors come in order."""
    from noisesearch.algorithms.smc import systematic_resample

    weights = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.0, 0.5, 0.25, 0.25], [0.5, 0.0, 0.0, 0.5]],
                           dtype=torch.float64)
    for u in (0.0, 0.3, 0.75, 1 - 2**-24):  # the uniforms are float32 draws: the last is the largest below 1
        ancestors = systematic_resample(weights.log(), torch.full((3,), u, dtype=torch.float32))
        assert ancestors.tolist() == [[0, 1, 2, 3], [1, 1, 2, 3], [0, 0, 3, 3]], u
    # (u = 0 puts positions on CDF values: the first CDF value above them.) A float64 u just below 1
    # rounds the last position up to 1: still the last particle
    one, zero = torch.tensor([1.0], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)
    below_one = torch.nextafter(one, zero)
    assert systematic_resample(weights[:1].log(), below_one).tolist()[0][-1] == 3


def test_resampling_is_due_only_when_the_effective_sample_size_is_below_half_of_k():
    """With ``adaptive`` a problem resamples when its ESS = 1 / sum w^2 is below k / 2, strictly:
    k = 4 and weights (1/2, 1/2, 0, 0) have ESS 2 = k / 2 and keep their particles; (0.6, 0.4,
    0, 0), ESS 1 / 0.52 = 1.92, resample; uniform weights (ESS 4) never. Without ``adaptive``
    every problem resamples. The rows returned index the flat (problem, particle) set, each
    problem's within its own k rows; each problem's own uniform u is used."""
    from types import SimpleNamespace

    from noisesearch.algorithms.smc import SMC

    weights = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.6, 0.4, 0.0, 0.0], [0.25] * 4], dtype=torch.float64)
    asked = []

    def uniform(rows):
        asked.extend(rows)
        return torch.tensor([0.9, 0.9, 0.1])[: len(rows)]

    ctx = SimpleNamespace(n_problems=3, noise=SimpleNamespace(uniform=uniform))
    rows, due = SMC(k=4).resample(ctx, weights.log().flatten(), 7)
    assert due.tolist() == [False, True, False]
    # problem 1 at u = 0.9: positions 0.225, 0.475, 0.725, 0.975 on the CDF 0.6, 1, 1, 1
    assert rows.tolist() == [0, 1, 2, 3, 4, 4, 5, 5, 8, 9, 10, 11]
    assert [p for p, _ in asked] == [0, 1, 2] and all(7 in parts for _, parts in asked)  # per problem, step
    rows, due = SMC(k=4, adaptive=False).resample(ctx, weights.log().flatten(), 7)
    assert due.tolist() == [True, True, True]
    # problem 0 at u = 0.9: positions 0.225 .. 0.975 on the CDF 0.5, 1, 1, 1; problem 2 at u = 0.1: one each
    assert rows.tolist() == [0, 0, 1, 1, 4, 4, 5, 5, 8, 9, 10, 11]


def test_resampling_steps_follow_the_schedule_and_never_the_last():
    """A resampling step is every ``every`` steps (by default 20% of the steps, at least 1) with
    (i + 1) / steps in [start, end], never after the last step."""
    from noisesearch.algorithms.smc import SMC

    assert [SMC().resampling_step(i, 5) for i in range(5)] == [True, True, True, True, False]  # every 1
    assert [i for i in range(100) if SMC().resampling_step(i, 100)] == [19, 39, 59, 79]
    assert [SMC(end=1.0).resampling_step(i, 5) for i in range(5)] == [True, True, True, True, False]
    assert [i for i in range(10) if SMC(every=1, start=0.0, end=1.0).resampling_step(i, 10)] == list(range(9))
    assert [i for i in range(10) if SMC(every=3, start=0.0, end=1.0).resampling_step(i, 10)] == [2, 5, 8]
