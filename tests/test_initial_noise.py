"""Search over the initial noise: zero-order, ses, paths, noise-gradient and cheap search steps."""

from collections import Counter
from itertools import pairwise

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.paths import plan_paths
from noisesearch.algorithms.trajectory import sample
from noisesearch.errors import InputError
from noisesearch.noise import ball_neighbours, keyed_normal, keyed_uniform, sphere_neighbours
from noisesearch.processes import DenoisingProcess, flow_gmm_process, gmm_process
from noisesearch.processes.gmm import MixtureEps
from noisesearch.processes.levels import from_vp
from noisesearch.verifiers.base import CallableVerifier


class CountingMixture(MixtureEps):
    """Counts the rows the denoiser sees at every state index."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows_at = Counter()

    def prediction(self, x, at, cond):
        self.rows_at[at.index] += len(x)
        return super().prediction(x, at, cond)


def counting_gmm(steps: int, sampler: str, **mixture) -> DenoisingProcess:
    return DenoisingProcess(CountingMixture(**mixture), gmm_process(steps=steps, sampler=sampler).sampling)


def closeness(target: torch.Tensor, differentiable: bool = False) -> CallableVerifier:
    """Reward: minus the distance to a fixed target point."""
    return CallableVerifier(lambda x, c: -(x - target).norm(dim=1), "closeness", differentiable)


@pytest.mark.parametrize("shape", [(7,), (3, 5, 5)])
def test_sphere_neighbours_keep_the_norm_at_cosine_tau(shape):
    x = keyed_normal([(0, "x", i) for i in range(6)], shape, dtype=torch.float64)
    w = keyed_normal([(0, "w", i) for i in range(6)], shape, dtype=torch.float64)
    for tau in (0.95, 0.5):
        y = sphere_neighbours(x, w, tau)
        assert y.shape == x.shape
        cosine = torch.nn.functional.cosine_similarity(x.flatten(1), y.flatten(1))
        assert torch.allclose(y.flatten(1).norm(dim=1), x.flatten(1).norm(dim=1), atol=1e-5)
        assert torch.allclose(cosine, torch.full_like(cosine, tau), atol=1e-5)
    ball = ball_neighbours(x, w, keyed_uniform([(0, "u", i) for i in range(6)]), 0.3)
    distance = (ball - x).flatten(1).norm(dim=1)
    assert (distance <= 0.3 * x[0].numel() ** 0.5 + 1e-9).all() and (distance > 0).all()


def test_zero_order_neighbours_of_a_trajectory_keep_norm_and_cosine_per_block():
    from noisesearch.algorithms.zero_order import neighbours

    pivot = {"x_T": keyed_normal([(1, 0)], (4,)), "steps": keyed_normal([(1, 1)], (5, 4))}
    fresh = {"x_T": keyed_normal([(1, 2)], (4,)), "steps": keyed_normal([(1, 3)], (5, 4))}
    y = neighbours(pivot, fresh, "sphere", 0.9, 0.3, torch.zeros(1))
    for name in pivot:
        a, b = pivot[name].reshape(-1, 4), y[name].reshape(-1, 4)
        assert torch.allclose(a.norm(dim=1), b.norm(dim=1), atol=1e-5)
        cosine = torch.nn.functional.cosine_similarity(a, b)
        assert torch.allclose(cosine, torch.full((len(a),), 0.9), atol=1e-5)


@pytest.mark.parametrize("algorithm", ["random", "zero-order", "ses", "paths", "noise-gradient"])
def test_best_so_far_never_decreases_and_budget_holds(algorithm):
    process = gmm_process(dim=4, steps=10, sampler="ode")
    verifier = closeness(torch.ones(4), differentiable=True)
    result = ns.search(process, verifier, [0, 1, "any"], algorithm=algorithm, budget=300, seed=2)
    for problem in result:
        curve = problem.best_so_far()
        assert curve, "every run records its anytime curve"
        bests = [b for _, b in curve]
        assert all(a <= b for a, b in zip(bests, bests[1:], strict=False))
        assert problem.best_score == max(s for _, s in problem.history)
        assert bests[-1] == max(s for _, s in problem.history + problem.lookahead)  # paths: x0_hat rounds
        assert 0 < problem.nfe <= 300


def test_zero_order_beats_random_search_at_equal_nfes():
    """A target in the tail of component 0 (1.5 std out in all 16 dimensions): random draws
    rarely land near it, while hill climbing moves towards it."""
    process = gmm_process(dim=16, steps=10, sampler="ode")
    verifier = closeness(process.denoiser.means[0] + 1.5 * process.denoiser.stds[0])
    budget = 256 * process.generation_nfe
    random = ns.search(process, verifier, [0] * 8, algorithm="random", budget=budget, seed=0)
    zero_order = ns.search(process, verifier, [0] * 8, algorithm="zero-order", budget=budget, seed=0)
    assert [p.nfe for p in random] == [p.nfe for p in zero_order] == [budget] * 8
    mean_random = sum(p.best_score for p in random) / 8
    mean_zero_order = sum(p.best_score for p in zero_order) / 8
    assert mean_zero_order > mean_random + 0.1  # by 0.13 to 0.25 over seeds 0-3 and both noise schemes


def test_zero_order_first_pivot_is_random_searchs_first_candidate():
    process = gmm_process(dim=3, steps=8, sampler="sde")
    verifier = closeness(torch.zeros(3))
    one = process.generation_nfe
    a = ns.search(process, verifier, [0, 2], algorithm="random", budget=one, seed=4)
    b = ns.search(process, verifier, [0, 2], algorithm="zero-order", budget=one, seed=4)
    assert [p.best_score for p in a] == [p.best_score for p in b]


@pytest.mark.parametrize("algorithm", ["zero-order", "ses", "paths", "noise-gradient"])
def test_results_do_not_depend_on_batching_and_winners_replay(algorithm):
    process = gmm_process(dim=3, steps=12, sampler="sde")
    verifier = closeness(torch.ones(3), differentiable=True)
    a = ns.search(process, verifier, [0, 1, 2], algorithm=algorithm, budget=240, max_batch=3, seed=1)
    b = ns.search(process, verifier, [0, 1, 2], algorithm=algorithm, budget=240, max_batch=500, seed=1)
    assert [p.best_score for p in a] == [p.best_score for p in b]
    assert [p.nfe for p in a] == [p.nfe for p in b]
    for p in a:
        regenerated = sample(process, p.noises, process.encode([p.condition]), p.recipe.get("path"))
        assert torch.equal(regenerated[0], p.best_image)


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_paths_keeps_n_paths_and_charges_what_it_calls(sampler):
    process = counting_gmm(dim=2, steps=50, sampler=sampler)
    verifier = closeness(torch.tensor([1.0, -1.0]))
    n, m, problems = 3, 4, 2
    algorithm = ns.load_algorithm("paths", n=n, m=m, max_batch=5)
    result = ns.search(process, verifier, [0, "any"], algorithm=algorithm, seed=0)
    plan = plan_paths(from_vp(process.noise_levels(), "flow"), 0.11, 0.78, 0.81)  # levels in SiT time t
    assert len(plan.rounds) >= 2
    # every state before sigma_start is visited by N paths; every round by N * M copies,
    # which is only possible if exactly N paths survived each selection
    expected = Counter({i: problems * n for i in range(plan.start)})
    for f, b in plan.rounds:
        for i in range(f, b + 1):
            expected[i] += problems * n * m
    assert process.denoiser.rows_at == expected
    assert result.totals["nfe"] == sum(process.denoiser.rows_at.values()) * process.nfe_per_step
    assert result.totals["verifier_calls"] == problems * n * m * len(plan.rounds)
    for p in result:
        assert p.nfe == plan.steps_per_path(m) * n
        assert len(p.history) == n * m  # the finished samples of the last round
        assert p.best_score == max(s for _, s in p.history)
        replayed = sample(process, p.noises, process.encode([p.condition]), p.recipe["path"])
        assert torch.equal(replayed[0], p.best_image)


def test_paths_plan_follows_the_noise_levels():
    levels = torch.linspace(1, 0, 101)  # level 1 - i / 100
    plan = plan_paths(levels, 0.11, 0.78, 0.81)
    assert plan.start == 89  # level 0.11
    f, b = plan.rounds[0]
    assert f == 11 and b == 92  # up to 0.89, back down to 0.08, then one scoring step
    assert plan.rounds[-1][1] == 99 and plan.path()[-1] == 100


def test_paths_plans_in_the_papers_flow_time():
    # Ma et al.'s levels are SiT's interpolant time t: on uniform flow times t = 1 - i / 100 a
    # round re-noises by 0.78 in t (to t = 0.89, a VP level of 0.992), not in VP level
    process = flow_gmm_process(dim=2, steps=100, sampler="ode")
    times = process.sampling.schedule.times
    plan = ns.load_algorithm("paths").path_plan(process)
    assert plan == plan_paths(torch.linspace(1, 0, 101), 0.11, 0.78, 0.81)
    assert float(times[plan.start]) == pytest.approx(0.11)
    f, b = plan.rounds[0]
    assert float(times[f]) == pytest.approx(0.89) and float(times[b]) == pytest.approx(0.08)
    assert float(process.noise_levels()[f]) == pytest.approx(0.992, abs=1e-3)
    # the same numbers taken as VP levels (version 0.1.0) re-noise only to about t = 0.66
    old = ns.load_algorithm("paths", unit="vp").path_plan(process)
    assert float(times[old.rounds[0][0]]) == pytest.approx(0.66, abs=0.02)
    # and a VP (DDPM) schedule is planned on its levels converted to t
    gmm = gmm_process(dim=2, steps=50, sampler="ode")
    plan, t = ns.load_algorithm("paths").path_plan(gmm), from_vp(gmm.noise_levels(), "flow")
    f = plan.rounds[0][0]
    assert t[plan.start] <= 0.11 < t[plan.start - 1]
    assert t[f] >= t[plan.start] + 0.78 - 1e-6 > t[f + 1]


def test_paths_levels_are_checked_in_their_unit():
    ns.load_algorithm("paths", unit="edm", sigma_start=0.2, delta_f=5.0, delta_b=5.0)  # sigma > 1
    with pytest.raises(InputError, match=r"`delta_f` in unit flow must be in \(0, 1\]"):
        ns.load_algorithm("paths", delta_f=1.5)
    with pytest.raises(InputError, match="valid: vp, edm, flow"):
        ns.load_algorithm("paths", unit="t")


def test_noise_gradient_raises_the_digits_classifier():
    process = ns.load_process("digits", steps=6, sampler="ode", guidance=0.0)
    result = ns.search(process, "digits-classifier", [2, 5, 8], algorithm="noise-gradient",
                       iterations=6, seed=0)
    gains = [p.best_score - p.history[0][1] for p in result]
    assert sum(gains) / len(gains) > 2.0  # log p of the target class up by 2 nats on average
    for p in result:
        assert p.nfe == (3 * 6 - 2) * 6  # 6 forwards, 5 backwards at 2 NFEs per step
        assert p.verifier_calls == 6


def test_noise_gradient_refuses_a_non_differentiable_verifier(digits):
    with pytest.raises(InputError, match="differentiable verifier; 'compressibility'"):
        ns.search(digits, "compressibility", [1], algorithm="noise-gradient", iterations=2)


@pytest.mark.parametrize("sampler", ["ode", "sde"])
@pytest.mark.parametrize("algorithm", ["random", "zero-order", "ses", "paths"])
def test_search_steps_winners_are_regenerated_at_full_steps(algorithm, sampler):
    process = gmm_process(dim=3, steps=20, sampler=sampler)
    verifier = closeness(torch.tensor([1.0, 0.0, 0.0]))
    result = ns.search(process, verifier, [0, 1], algorithm=algorithm, budget=400, seed=3, search_steps=5)
    for p in result:
        assert p.recipe["search_steps"] == 5
        path = p.recipe.get("path")
        full = sample(process, p.noises, process.encode([p.condition]), path)
        assert torch.equal(full[0], p.best_image)
        assert float(verifier.score(full, [p.condition])[0]) == p.best_score
        assert p.nfe <= 400
        if sampler == "sde":  # the full-step trajectory's step noises are fresh keyed draws
            taken = p.noises["steps"].shape[1]
            assert taken == (20 if path is None else sum(b == a + 1 for a, b in pairwise(path)))
            keys = [(3, p.problem, "regenerate-step", v) for v in range(taken)]
            assert torch.equal(p.noises["steps"][0], process.step_noise(keys))
        if algorithm != "paths":  # one verifier call per candidate, one for the regenerated winner
            assert p.verifier_calls == len(p.history) + 1
        if algorithm != "paths" and sampler == "ode":
            cheap = sample(process.with_steps(5), p.noises, process.encode([p.condition]))
            assert not torch.equal(cheap[0], p.best_image)


def test_budget_errors_name_the_minimum():
    process = gmm_process(steps=10)
    with pytest.raises(InputError, match="valid: a budget >= 10"):
        ns.search(process, closeness(torch.zeros(2)), [0], algorithm="zero-order", budget=5)
    with pytest.raises(InputError, match="search_steps must be in 1..9"):
        ns.search(process, closeness(torch.zeros(2)), [0], algorithm="random", budget=100, search_steps=11)


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_paths_scores_every_round_as_a_look_ahead_and_each_copy_on_its_own_noise(sampler):
    """Every round but the last scores its N x M copies on x0_hat: look-aheads of the anytime
    curve, not winners. The M copies of a path are re-noised with distinct fresh noise, so the
    last round's N x M finished samples all differ. Only a stochastic sampler has step noises
    to record; re-noisings are recorded on both."""
    process = gmm_process(steps=6, sampler=sampler)
    n, m = 2, 3
    options = {"n": n, "m": m, "sigma_start": 0.99, "delta_f": 0.3, "delta_b": 0.35, "unit": "vp"}
    rounds = ns.load_algorithm("paths", **options).path_plan(process).rounds
    assert len(rounds) == 3
    result = ns.search(process, closeness(torch.tensor([1.0, -1.0])), [0, "any"], algorithm="paths",
                       seed=2, **options)
    for p in result:
        assert len(p.lookahead) == n * m * (len(rounds) - 1)
        assert len(p.history) == n * m and len({s for _, s in p.history}) == n * m
        assert p.best_so_far()[0][0] == p.lookahead[0][0] < p.history[0][0]
        expected = {"x_T", "renoise", "steps"} if sampler == "sde" else {"x_T", "renoise"}
        assert set(p.noises) == expected
        assert p.noises["renoise"].shape[1] == len(rounds)


def test_paths_without_a_round_is_best_of_n():
    """When no state but the clean one is as low as sigma_start there is no round: the N paths
    are integrated to the end and the best is kept."""
    process = gmm_process(steps=6, sampler="sde")
    options = {"n": 3, "sigma_start": 0.005, "unit": "vp"}
    assert ns.load_algorithm("paths", **options).path_plan(process).rounds == ()
    result = ns.search(process, closeness(torch.zeros(2)), [0, 1], algorithm="paths", seed=1, **options)
    for p in result:
        assert p.nfe == 3 * 6 and len(p.history) == 3 and p.lookahead == []
        assert p.best_score == max(s for _, s in p.history)
        assert torch.equal(sample(process, p.noises, process.encode([p.condition]))[0], p.best_image)


def test_zero_order_recipe_names_a_winning_pivot_as_neighbour_minus_one():
    """A pivot is scored in the role -1 (zero_order.py): under a constant reward the first pivot,
    scored first, stays the winner (ties keep the earlier)."""
    process = gmm_process(steps=3, sampler="ode")
    result = ns.search(process, lambda x, c: torch.zeros(len(x), dtype=torch.float64), [0, 1],
                       algorithm="zero-order", iterations=2, n=2, seed=0)
    for p in result:
        assert p.recipe == {"seed": 0, "iteration": 0, "neighbour": -1, "restarts": 0}


def condition_reward(x, conditions):
    """A reward that depends on each row's condition: towards +1 for component 0, -1 otherwise."""
    sign = torch.tensor([1.0 if c == 0 else -1.0 for c in conditions], dtype=torch.float64)
    return (x.double() * sign[:, None]).sum(1)


@pytest.mark.parametrize("algorithm, options", [
    ("random", {"n": 4, "top_k": 3}), ("random", {"n": 4, "search_steps": 2}),
    ("noise-gradient", {"iterations": 2, "top_k": 2})])
def test_every_candidate_is_scored_with_its_own_condition_and_the_top_k_kept(algorithm, options):
    """The verifier sees each row's own condition, also for the regenerated winner and through
    the gradient; the ``top_k`` best are kept, best first."""
    process = gmm_process(steps=4, sampler="ode")
    verifier = CallableVerifier(condition_reward, "signed", True)
    result = ns.search(process, verifier, [0, 1, 0], algorithm=algorithm, seed=3, **options)
    top_k = options.get("top_k", 8)
    for p in result:
        regenerated = sample(process, p.noises, process.encode([p.condition]))
        assert p.best_score == float(condition_reward(regenerated, [p.condition])[0])
        scores = [s for s, _ in p.top]
        assert len(scores) == min(top_k, len(p.history)) and scores == sorted(scores, reverse=True)
        assert scores[0] == max(s for _, s in p.history)
