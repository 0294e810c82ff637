"""Spectral evolution search (ses.py): the wavelet split, the CEM update, spending, determinism
and options, on the analytic mixture."""

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.context import SearchContext
from noisesearch.algorithms.ses import VARIANCE_FLOOR, dwt, fitting_level, idwt, spatial_axes
from noisesearch.algorithms.trajectory import sample
from noisesearch.errors import InputError
from noisesearch.noise import NoiseSource, keyed_normal
from noisesearch.processes import gmm_process
from noisesearch.verifiers.base import CallableVerifier


def closeness(target: torch.Tensor) -> CallableVerifier:
    """Reward: minus the squared distance to a fixed target point."""
    return CallableVerifier(lambda x, c: -((x - target) ** 2).sum(1), "closeness")


@pytest.fixture
def generated(monkeypatch):
    """Every batch ``SearchContext.generate`` is handed: (noises, problems)."""
    seen = []
    original = SearchContext.generate

    def recording(self, noises, problems):
        seen.append(({k: v.clone() for k, v in noises.items()}, problems.clone()))
        return original(self, noises, problems)

    monkeypatch.setattr(SearchContext, "generate", recording)
    return seen


def candidates_of(seen, problem: int) -> torch.Tensor:
    """The x_T of every candidate of ``problem``, in the order generated."""
    return torch.cat([noises["x_T"][problems == problem] for noises, problems in seen])


@pytest.mark.parametrize("shape, level, fitted", [((16,), 4, 4), ((12,), 4, 2), ((3, 8, 8), 2, 2),
                                                  ((4, 8, 12), 4, 2), ((6, 4), 4, 1), ((3,), 4, 0)])
@pytest.mark.parametrize("wavelet", ["db1", "db2", "sym4"])
def test_the_split_is_orthogonal_and_its_inverse_reconstructs_the_noise(shape, level, fitted, wavelet):
    assert fitting_level(shape, level) == fitted
    for dtype in (torch.float32, torch.float64):
        x = keyed_normal([(0, "split", i) for i in range(5)], shape, dtype=dtype)
        low, high = dwt(x, wavelet, fitted)
        rebuilt = idwt(low, high, wavelet, x)
        assert rebuilt.dtype == dtype and rebuilt.shape == x.shape
        assert torch.allclose(rebuilt, x, atol=1e-5, rtol=0)
        # orthogonal: the coefficients keep the noise's squared norm, so N(0, I) stays N(0, I)
        bands = [torch.from_numpy(band) for level_bands in high for band in level_bands.values()]
        energy = low.flatten(1).pow(2).sum(1) + sum(band.flatten(1).pow(2).sum(1) for band in bands)
        assert torch.allclose(energy, x.double().flatten(1).pow(2).sum(1), rtol=1e-5)
        assert low[0].numel() == x[0].numel() // 2 ** (fitted * len(spatial_axes(shape)))


@pytest.mark.parametrize("sampler", ["ode", "sde"])
def test_every_candidate_keeps_the_base_high_band_and_starts_as_a_keyed_gaussian(generated, sampler):
    process = gmm_process(dim=16, steps=4, sampler=sampler)
    options = {"population": 4, "iterations": 3, "level": 2}
    ns.search(process, closeness(torch.ones(16)), [0, 1], algorithm="ses", seed=7, **options)
    source = NoiseSource(process, 7, [0, 1])
    for p in (0, 1):
        x = candidates_of(generated, p)
        assert len(x) == 12
        base_low, base_high = dwt(source.initial([(p, ("ses-base",))]), "db1", 2)
        low, high = dwt(x, "db1", 2)
        for got, base in zip(high, base_high, strict=True):
            for name in base:
                assert torch.allclose(torch.from_numpy(got[name]), torch.from_numpy(base[name]).expand_as(
                    torch.from_numpy(got[name])), atol=1e-5, rtol=0)
        assert not torch.allclose(low[0], base_low[0])  # the base's own low band is never a candidate
        # iteration 0 (mu = 0, sigma = 1): each low band is that of the candidate's own keyed x_T
        fresh, _ = source.trajectories([(p, ("ses", 0, j)) for j in range(4)])
        assert torch.allclose(low[:4], dwt(fresh["x_T"], "db1", 2)[0], atol=1e-12)
    if sampler == "sde":  # a candidate's step noises are its own keyed trajectory's
        noises, problems = generated[1]
        fresh, _ = source.trajectories([(int(p), ("ses", 1, j % 4)) for j, p in enumerate(problems)])
        assert torch.equal(noises["steps"], fresh["steps"])


def test_the_elite_refit_moves_the_mean_toward_the_optimum_and_is_the_elites_statistics(generated):
    """A single mixture component under the ODE sampler maps noise to sample by a multiple of
    the identity plus a shift, so -||x_0 - x_0(z*)||^2 is largest at z* and, with the high band
    fixed, at the low band of z*: the optimum whose low band the mean must approach."""
    process = gmm_process(dim=16, steps=6, sampler="ode")
    z_star = keyed_normal([(1, "optimum")], (16,), dtype=torch.float64) + 1.5
    target = sample(process, {"x_T": z_star}, process.encode([0]))[0]
    optimum, _ = dwt(z_star, "db1", 2)
    options = {"population": 10, "level": 2, "seed": 3}
    conditions = [0, 0, 0, 0]  # four problems: distinct keys, the same optimum
    one = ns.search(process, closeness(target), conditions, algorithm="ses", iterations=1, **options)
    for p in one:
        assert (p.extra["mean"] - optimum[0]).norm() < optimum.norm()  # closer than mu = 0 was
    generated.clear()
    three = ns.search(process, closeness(target), conditions, algorithm="ses", iterations=3, **options)
    for index, p in enumerate(three):
        lows, _ = dwt(candidates_of(generated, index), "db1", 2)
        scores = torch.tensor([s for _, s in p.history], dtype=torch.float64)
        assert len(scores) == len(lows) == 30
        # the elites: the best half of the population among every candidate so far
        elites = lows[torch.argsort(scores, descending=True, stable=True)[:5]]
        assert torch.allclose(p.extra["mean"], elites.mean(0), atol=1e-12, rtol=0)
        std = (elites.var(0, unbiased=True) + VARIANCE_FLOOR).sqrt()
        assert torch.allclose(p.extra["std"], std, atol=1e-12, rtol=0)
        assert (p.extra["mean"] - optimum[0]).norm() < (one[index].extra["mean"] - optimum[0]).norm()
        assert p.best_score == max(scores.tolist())


def test_spending_follows_the_plan_and_a_last_iteration_scores_what_the_budget_pays():
    process = gmm_process(dim=4, steps=5, sampler="ode")
    ses = ns.load_algorithm("ses", population=10)
    budget = 23 * 5 + 3  # 23 generations and 3 NFEs that buy nothing
    plan = ses.plan(process, budget)
    assert (plan.size, plan.nfe) == (23, 115)
    assert ses.at_budget(process, budget) is ses  # the budget sizes it: iterations None
    assert ses.default_budget(process) == 16 * 5
    result = ns.search(process, closeness(torch.ones(4)), [0, 1], algorithm=ses, budget=budget, seed=0)
    for p in result:
        assert p.nfe == plan.nfe and len(p.history) == 23 and p.verifier_calls == 23
        assert [n for n, _ in p.history] == [5 * k for k in range(1, 24)]
    fixed = ns.load_algorithm("ses", population=3, iterations=2)
    assert fixed.plan(process, None).nfe == 30 and fixed.default_budget(process) is None
    with pytest.raises(InputError, match="spends 30 NFEs per condition, more than the budget of 29"):
        fixed.plan(process, 29)
    assert [p.nfe for p in ns.search(process, closeness(torch.ones(4)), [0], algorithm=fixed)] == [30]
    # cheap previews: the search spends what the winner's full-step regeneration leaves
    cheap = ns.load_algorithm("ses", search_steps=2)
    assert cheap.plan(process, 50).nfe == 44  # (50 - 5) // 2 candidates of 2 NFEs
    for p in ns.search(process, closeness(torch.ones(4)), [0, 1], algorithm=cheap, budget=50, seed=1):
        assert p.nfe == 44 + 5 and p.recipe["search_steps"] == 2 and len(p.history) == 22
    with pytest.raises(InputError, match="valid: a budget >= 5"):
        ses.plan(process, 4)


def test_the_same_seed_gives_the_same_winner_for_any_max_batch_and_the_winner_replays():
    process = gmm_process(dim=8, steps=6, sampler="sde")
    verifier = closeness(torch.full((8,), 0.5))
    runs = [ns.search(process, verifier, [0, 1, 2], algorithm="ses", budget=14 * 6, seed=5, population=4,
                      max_batch=max_batch) for max_batch in (1, 64)]
    a, b = runs
    assert [p.best_score for p in a] == [p.best_score for p in b]
    assert [p.recipe for p in a] == [p.recipe for p in b]
    assert [p.history for p in a] == [p.history for p in b]
    for p, q in zip(a, b, strict=True):
        assert all(torch.equal(p.noises[k], q.noises[k]) for k in p.noises)
        assert set(p.recipe) == {"seed", "iteration", "member"}
        regenerated = sample(process, p.noises, process.encode([p.condition]))
        assert torch.equal(regenerated[0], p.best_image)
        assert float(verifier.score(regenerated, [p.condition])[0]) == p.best_score


@pytest.mark.parametrize("options, message", [
    ({"population": 0}, "population must be >= 1, got 0"),
    ({"elite_fraction": 0.0}, r"elite_fraction must be in \(0, 1\]"),
    ({"elite_fraction": 1.5}, r"elite_fraction must be in \(0, 1\]"),
    ({"iterations": 0}, "iterations must be >= 1 or None"),
    ({"level": 0}, "level must be >= 1"),
    ({"wavelet": "bior2.2"}, r"not an orthogonal discrete wavelet; valid: db1 \(Haar\)"),
    ({"wavelet": "nope"}, "wavelet 'nope' is not an orthogonal discrete wavelet; valid: db1"),
])
def test_bad_options_name_the_valid_values(options, message):
    with pytest.raises(InputError, match=message) as refused:
        ns.load_algorithm("ses", **options)
    assert "\n" not in str(refused.value)


def test_without_budget_or_iterations_the_plan_asks_for_one():
    process = gmm_process(steps=5, sampler="ode")
    with pytest.raises(InputError, match="ses needs a budget or iterations; e.g. `budget=80`"):
        ns.load_algorithm("ses").plan(process, None)
    assert ns.load_algorithm("ses", elite_fraction=0.01).elites == 1
    assert ns.load_algorithm("ses").elites == 5


@pytest.mark.parametrize("elite_fraction, elites", [(0.25, 2), (0.1, 1)])
def test_few_elites_refit_by_hand_and_one_elite_keeps_sigma(generated, elite_fraction, elites):
    """With 2 elites mu and sigma are their mean and unbiased std; with 1, mu is that elite and
    sigma keeps its value (the variance of one sample is undefined)."""
    process = gmm_process(dim=8, steps=4, sampler="ode")
    result = ns.search(process, closeness(torch.ones(8)), [0], algorithm="ses", seed=2, population=6,
                       elite_fraction=elite_fraction, level=1, budget=6 * 4 * 2)  # two iterations
    p = result[0]
    assert p.nfe == 48 and {"mean", "std"} <= p.extra.keys()  # the extras of a search the budget ended
    lows, _ = dwt(candidates_of(generated, 0), "db1", 1)
    scores = torch.tensor([s for _, s in p.history], dtype=torch.float64)
    best = lows[torch.argsort(scores, descending=True, stable=True)[:elites]]
    assert torch.allclose(p.extra["mean"], best.mean(0), atol=1e-12, rtol=0)
    if elites == 1:
        assert torch.equal(p.extra["std"], torch.ones_like(p.extra["std"]))
    else:
        std = (best.var(0, unbiased=True) + VARIANCE_FLOOR).sqrt()
        assert torch.allclose(p.extra["std"], std, atol=1e-12, rtol=0)
