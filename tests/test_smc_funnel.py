"""SMC's funnel schedule and adaptive temperature (Su et al. 2025, arXiv 2508.12361) on the
2-D Gaussian mixture: the funnel spends exactly the flat schedule's NFEs, its particle count
follows the schedule and drops by resampling on the weights, and with both the final
weighted set still targets p(x) exp(lambda r(x)) / Z (``test_smc_weights.py``'s closed form)."""

from functools import cache

import pytest
import torch
from test_smc_weights import LAM, STEPS, K, linear_reward, tilted_mean, weighted_mean
from test_trajectory_search import counting_gmm

import noisesearch as ns
from noisesearch.algorithms.smc import SMC, systematic_resample
from noisesearch.algorithms.trajectory import sample
from noisesearch.errors import InputError
from noisesearch.processes import gmm_process

FUNNEL = {"schedule": "funnel", "temperature": "adaptive"}


@pytest.mark.parametrize("steps, k, options", [
    (10, 4, {}),  # FK's resampling every 20% of the steps: drops at resampling steps only
    (10, 2, {"funnel_end": 0.25, "every": 3}),  # no whole counts at resampling steps alone: one drop between
    (25, 5, {"every": 1, "start": 0.0, "end": 1.0, "adaptive": False}),
])
def test_the_funnel_spends_exactly_the_flat_schedules_nfes(steps, k, options):
    """Counted twice, by the ledger and by the rows the mixture's network saw, for 3 problems."""
    counts = {}
    for schedule in ("flat", "funnel"):
        process = counting_gmm(steps, "sde")
        found = ns.search(process, linear_reward, [0, 1, "any"], algorithm="smc", k=k, schedule=schedule,
                          seed=0, max_batch=5, **options)
        assert found.totals["nfe"] == process.denoiser.rows * process.nfe_per_step
        counts[schedule] = [p.nfe for p in found]
        planned = SMC(k=k, schedule=schedule, **options).plan(process, None).nfe
        assert counts[schedule] == [planned] * 3
    assert counts["funnel"] == counts["flat"] == [k * steps] * 3
    per_step = SMC(k=k, schedule="funnel", **options).particles(steps)
    assert per_step[0] > k > per_step[-1] and per_step == sorted(per_step, reverse=True)


def test_the_particle_count_follows_the_schedule():
    """k = 2 over 10 steps, resampling after steps 1, 3, 5, 7, k_end = 0.5 k = 1: segments of
    2 steps whose counts are charged for 3, 2, 2, 2, 1 predictions (state 0; no prediction
    at the clean end). Decreasing whole counts c with 3 c_0 + 2 (c_1 + c_2 + c_3) + 1 = 20:
    (3, 2, 2, 1, 1) and (3, 3, 1, 1, 1), and the first is nearer the line from 2.67 to 1.
    The drops are resamplings (all problems, ``adaptive`` or not); the rewards are scored
    for the particles there: 3 + 2 + 2 + 1 at the resampling steps and 1 at the end."""
    process = gmm_process(steps=10, sampler="sde")
    assert SMC(k=2, schedule="funnel", funnel_end=0.5).particles(10) == [3, 3, 2, 2, 2, 2, 1, 1, 1, 1]
    found = ns.search(process, linear_reward, [0, "any"], algorithm="smc", k=2, schedule="funnel",
                      funnel_end=0.5, seed=0)
    for problem in found:
        assert problem.extra["particles_per_step"].tolist() == [3, 3, 2, 2, 2, 2, 1, 1, 1, 1]
        assert problem.extra["particles"].shape == (1, 2) and problem.extra["log_weights"].tolist() == [0.0]
        assert int(problem.extra["resamplings"]) >= 2  # the two drops at least
        assert problem.verifier_calls == 9 and problem.nfe == 20
        assert problem.noises["steps"].shape == (1, 10, 2)  # the winner's lineage: a noise for every step
        regenerated = sample(process, problem.noises, process.encode([problem.condition]))
        assert torch.equal(regenerated[0], problem.best_image)
    flat = ns.search(process, linear_reward, [0], algorithm="smc", k=2, seed=0)[0]
    assert "particles_per_step" not in flat.extra and "temperatures" not in flat.extra  # as before


def test_a_drop_between_resampling_steps_resamples_there_without_scoring():
    """k = 2, k_end = 1, 10 steps, resampling after steps 2 and 5: segments charged for 4, 3
    and 3 predictions, and 4 c_0 + 3 c_1 + 3 = 20 has no decreasing whole solution; (3, 1, 1)
    spends 18, so the second particle of steps 3 and 4 is kept 2 steps longer and dropped
    after step 4, by the weights since the last resampling. Rewards are scored only at the
    resampling steps (3 particles, then 1) and the end (1)."""
    smc = SMC(k=2, schedule="funnel", funnel_end=0.25, every=3, adaptive=False)
    assert [i for i in range(10) if smc.resampling_step(i, 10)] == [2, 5]
    assert smc.particles(10) == [3, 3, 3, 2, 2, 1, 1, 1, 1, 1]
    found = ns.search(gmm_process(steps=10, sampler="sde"), linear_reward, ["any"], algorithm=smc, seed=0)[0]
    assert found.nfe == 20 and found.verifier_calls == 3 + 1 + 1
    assert int(found.extra["resamplings"]) == 3  # after steps 2 (drop), 4 (drop), 5 (resampling step)


def test_resampling_to_fewer_particles_picks_ancestors_by_weight():
    """Systematic resampling to n < k offspring: positions (u + j) / n on the weights' CDF.
    Weights (1/2, 1/4, 1/4, 0), CDF (1/2, 3/4, 1, 1), n = 2: u = 0.5 puts positions at 0.25
    and 0.75, ancestors 0 and 2 (the first CDF value above each); u = 0 at 0 and 0.5, 0 and 1.
    A zero-weight particle is never drawn. ``resample`` with fewer offspring resamples every
    problem, even one whose ESS (uniform weights: k) would not be due with ``adaptive``."""
    from types import SimpleNamespace

    weights = torch.tensor([[0.5, 0.25, 0.25, 0.0]], dtype=torch.float64)
    assert systematic_resample(weights.log(), torch.tensor([0.5]), 2).tolist() == [[0, 2]]
    assert systematic_resample(weights.log(), torch.tensor([0.0]), 2).tolist() == [[0, 1]]
    # n = 3 at u = 0.9: positions 0.3, 0.63, 0.97
    assert systematic_resample(weights.log(), torch.tensor([0.9]), 3).tolist() == [[0, 1, 2]]

    # problem 0 by (0.7, 0.1, 0.1, 0.1), CDF (0.7, 0.8, 0.9, 1), ESS 1 / 0.52 < 2; problem 1 uniform, ESS 4
    both = torch.tensor([[0.7, 0.1, 0.1, 0.1], [0.25] * 4], dtype=torch.float64)
    ctx = SimpleNamespace(n_problems=2, noise=SimpleNamespace(uniform=lambda keys: torch.tensor([0.5, 0.1])))
    rows, due = SMC(k=4).resample(ctx, both.log().flatten(), 3, 2)
    # problem 0 at u = 0.5: positions 0.25, 0.75: particles 0 and 1; problem 1 at u = 0.1: 0.05, 0.55: 0 and 2
    assert due.tolist() == [True, True] and rows.tolist() == [0, 1, 4, 6]
    rows, due = SMC(k=4).resample(ctx, both.log().flatten(), 3)  # as many offspring: by ESS, as before
    # problem 0 at u = 0.5: positions 0.125, 0.375, 0.625, 0.875: 0, 0, 0, 2; problem 1 keeps its own
    assert due.tolist() == [True, False] and rows.tolist() == [0, 0, 0, 2, 4, 5, 6, 7]


def test_the_adaptive_temperature_follows_the_noise_level_and_the_final_weights_undo_it():
    """Difference potentials, resampling after every step (``adaptive=False``): the lineage's
    potentials multiply to exp(lambda_4 r_4), lambda_4 = lambda (1 - sigma_4), and the last
    step (DDIM, no noise at the clean end) makes x_0 = x0_hat(x_4), so r_4 = r(x_0): the final
    weights are exp((lambda - lambda_4) r(x_0)) = exp(lambda sigma_4 r(x_0)). A correction that
    divided by untempered potentials would leave them uniform, as with a fixed temperature."""
    process = gmm_process(steps=5, sampler="sde")
    levels = process.noise_levels()
    lam = 10.0
    options = {"k": 8, "lam": lam, "potential": "difference", "every": 1, "start": 0.0, "end": 1.0,
               "adaptive": False, "seed": 1}
    for schedule in ("flat", "funnel"):
        found = ns.search(process, linear_reward, ["any"], algorithm="smc", schedule=schedule,
                          temperature="adaptive", **options)[0]
        assert found.extra["temperatures"].tolist() == [lam * (1 - float(levels[s])) for s in range(1, 5)]
        assert found.extra["temperatures"].diff().gt(0).all()  # early rewards count less
        r = linear_reward(found.extra["particles"], None)
        expected = torch.log_softmax(lam * float(levels[4]) * r, 0)
        assert torch.allclose(found.extra["log_weights"], expected, atol=1e-9), schedule
        assert (expected - expected.mean()).abs().max() > 1e-3  # off uniform, far beyond the tolerance
    fixed = ns.search(process, linear_reward, ["any"], algorithm="smc", **options)[0]
    assert torch.allclose(fixed.extra["log_weights"], torch.full((8,), -torch.log(torch.tensor(8.0)).item(),
                                                                 dtype=torch.float64), atol=1e-9)


@pytest.fixture(scope="module")
def process():
    return gmm_process(steps=STEPS, sampler="sde", micro_batch=K)


@cache
def tilted_run(schedule: str, temperature: str, potential: str, adaptive: bool = True):
    process = gmm_process(steps=STEPS, sampler="sde", micro_batch=K)
    return ns.search(process, linear_reward, ["any"], algorithm="smc", k=K, lam=LAM, seed=0, max_batch=K,
                     schedule=schedule, temperature=temperature, potential=potential, adaptive=adaptive)[0]


@pytest.mark.parametrize("schedule, temperature, potential", [
    ("funnel", "adaptive", "max"), ("funnel", "adaptive", "difference"),
    ("funnel", "fixed", "max"), ("flat", "adaptive", "max"),
])
def test_the_weighted_final_set_has_the_tilted_mean(process, schedule, temperature, potential):
    """As for the flat schedule: within 3 standard errors of the tilted mixture's mean, with the
    k_end = K / 4 final particles of a funnel that starts near 1.75 K. (``sum`` is left out: its
    corrected weights, exp(lambda r(x_0)) over a product of cumulative sums, keep an ESS of a
    few particles of the funnel's 250, too few for the standard error to mean much.)"""
    found = tilted_run(schedule, temperature, potential)
    particles, log_w = found.extra["particles"], found.extra["log_weights"]
    final = K // 4 if schedule == "funnel" else K
    assert particles.shape == (final, 2) and log_w.shape == (final,)
    assert torch.logsumexp(log_w, 0).abs() < 1e-9
    assert found.nfe == K * STEPS
    mean, se = weighted_mean(particles, log_w)
    assert ((mean - tilted_mean(process, LAM)).abs() < 3 * se).all(), (mean, se)


def test_the_final_weights_are_the_tempered_correction_and_an_untempered_one_misses(process):
    """Recomputed from the lineages' rewards and the temperatures (max potentials, every
    resampling step resampling, so the weights since the last one are uniform): log w =
    lambda r(x_0) - sum_t lambda_t max_{s <= t} r_s, as the search gives, within 3 standard
    errors of the tilted mean. Dividing instead by the potentials at the fixed lambda, which
    were not the ones applied, fails that check, off by more than 10 of the right standard
    errors."""
    found = tilted_run("funnel", "adaptive", "max", adaptive=False)
    particles, rewards = found.extra["particles"], found.extra["rewards"]
    temperatures = found.extra["temperatures"]
    assert rewards.shape == (K // 4, 4) and temperatures.shape == (4,)
    running_max = rewards.cummax(1).values
    r = linear_reward(particles, None)
    right = torch.log_softmax(LAM * r - (temperatures * running_max).sum(1), 0)
    assert torch.allclose(found.extra["log_weights"], right, atol=1e-9)
    target = tilted_mean(process, LAM)
    mean, se = weighted_mean(particles, right)
    assert ((mean - target).abs() < 3 * se).all(), (mean, se)
    wrong = torch.log_softmax(LAM * r - (LAM * running_max).sum(1), 0)
    wrong_mean, wrong_se = weighted_mean(particles, wrong)
    assert not ((wrong_mean - target).abs() < 3 * wrong_se).all(), (wrong_mean, target, wrong_se)
    assert (wrong_mean - target).abs().max() > 10 * se.max(), (wrong_mean, target, se)


def test_same_seed_same_result_for_any_batching_or_grouping():
    process = gmm_process(steps=10, sampler="sde")
    options = {"k": 5, "seed": 2, **FUNNEL}
    a = ns.search(process, linear_reward, [0, "any"], algorithm="smc", max_batch=3, **options)
    b = ns.search(process, linear_reward, [0, "any"], algorithm="smc", max_batch=256, **options)
    alone = ns.search(process, linear_reward, ["any"], algorithm="smc", problem_ids=[1], **options)[0]
    for x, y in [(a[0], b[0]), (a[1], b[1]), (a[1], alone)]:
        assert x.best_score == y.best_score and torch.equal(x.best_image, y.best_image)
        assert all(torch.equal(x.extra[key], y.extra[key]) for key in x.extra)
        assert all(torch.equal(x.noises[key], y.noises[key]) for key in x.noises)


@pytest.mark.parametrize("options, names", [
    ({"schedule": "cone"}, ["schedule 'cone' is unknown", "valid: flat, funnel"]),
    ({"temperature": "hot"}, ["temperature 'hot' is unknown", "valid: fixed, adaptive"]),
    ({"schedule": "funnel", "funnel_end": 0.0}, ["0 < funnel_end <= 1", "got 0.0"]),
    ({"funnel_end": 1.5}, ["0 < funnel_end <= 1", "got 1.5"]),
    ({"weights": "potential", "schedule": "funnel"}, ["valid: schedule=flat and temperature=fixed"]),
    ({"weights": "potential", "temperature": "adaptive"}, ["valid: schedule=flat and temperature=fixed"]),
])
def test_bad_options_are_one_line_input_errors_naming_the_valid_values(options, names):
    with pytest.raises(InputError) as error:
        ns.load_algorithm("smc", **options)
    message = str(error.value)
    assert "\n" not in message and all(name in message for name in names), message


def test_at_budget_sizes_the_funnel_as_the_flat_schedule():
    """At a budget of 10.5 generations (105 NFEs over 10 steps) both get k = 10 and spend 100."""
    process = gmm_process(steps=10, sampler="sde")
    flat = ns.load_algorithm("smc").at_budget(process, 105)
    funnel = ns.load_algorithm("smc", **FUNNEL).at_budget(process, 105)
    assert flat.k == funnel.k == 10 and funnel.schedule == "funnel" and funnel.temperature == "adaptive"
    assert funnel.plan(process, 105).nfe == 100
    found = ns.search(process, linear_reward, ["any"], algorithm=funnel, budget=105)[0]
    assert found.nfe == 100 and found.extra["particles_per_step"][0] > 10
    with pytest.raises(InputError, match="valid: a budget >= 10"):
        ns.load_algorithm("smc", **FUNNEL).at_budget(process, 9)


def test_every_funnel_spends_the_flat_nfes_and_starts_wide():
    """Over many sizes, the schedule alone (no model): the predictions it pays for (state 0 and
    every state but the clean one) are k x steps, the first count is at least k, the last is
    ``funnel_end`` x k, and no count is below 1; with a single segment it is flat."""
    for steps in range(4, 31, 3):
        for k in (1, 2, 3, 5, 8, 13):
            for end in (0.25, 0.5, 1.0):
                funnel = SMC(k=k, schedule="funnel", funnel_end=end)
                per_step = funnel.particles(steps)
                assert len(per_step) == steps and min(per_step) >= 1
                assert per_step[0] + sum(per_step[:-1]) == k * steps, (steps, k, end, per_step)
                segments = sum(funnel.resampling_step(i, steps) for i in range(steps)) + 1
                if segments == 1 or end == 1.0:
                    assert per_step == [k] * steps
                else:
                    assert per_step[0] >= k and per_step[-1] == max(1, int(end * k + 0.5))
                    assert max(per_step) <= 2 * k + 1
                process = gmm_process(steps=steps, sampler="sde")
                assert funnel.plan(process, None).nfe == k * steps * process.nfe_per_step


def test_funnel_end_of_one_is_the_flat_schedule():
    assert SMC(k=5, schedule="funnel", funnel_end=1.0).particles(20) == [5] * 20
