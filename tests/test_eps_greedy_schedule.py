"""Epsilon-greedy's per-step schedule (Ramesh & Mardani 2025): K iterations at epsilon inside the
EDM-sigma window 0.01 <= sigma <= 1, one iteration of fresh draws outside it."""

import math

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.eps_greedy import EpsGreedy, ZeroOrderSteps
from noisesearch.errors import InputError
from noisesearch.processes.levels import convert, from_vp


@pytest.fixture(scope="module")
def digits18():
    return ns.load_process("digits", steps=18, sampler="sde")


def test_the_paper_window_searches_the_middle_and_explores_at_the_extremes(digits18):
    schedule = EpsGreedy().schedule(digits18)
    sigmas = from_vp(digits18.noise_levels(), "edm").tolist()
    assert len(schedule) == 18
    for i, (iterations, epsilon) in enumerate(schedule):
        if i == 17:  # DDIM's last step injects no noise
            assert iterations == 0
        elif 0.01 <= sigmas[i] <= 1:
            assert (iterations, epsilon) == (20, 0.4)
        else:  # sigma > 1 here: N fresh draws, the best kept
            assert sigmas[i] > 1 and (iterations, epsilon) == (1, 1.0)
    assert [i for i, (k, _) in enumerate(schedule) if k == 20] == list(range(9, 17))


@pytest.mark.parametrize("k, windowed, everywhere", [(20, 677, 1361), (2, 101, 137)])
def test_the_paper_window_halves_the_nfes_of_searching_every_step(digits18, k, windowed, everywhere):
    assert EpsGreedy(k=k).plan(digits18, None).nfe == windowed
    every_step = EpsGreedy(k=k, window_lo=0.0, window_hi=math.inf)
    assert every_step.plan(digits18, None).nfe == everywhere
    assert all(it == k for it, _ in every_step.schedule(digits18)[:-1])
    if k == 20:
        assert windowed / everywhere == pytest.approx(0.5, abs=0.01)


def test_a_run_spends_what_the_plan_says(digits18):
    algorithm = ns.load_algorithm("eps-greedy", k=2, n=2)
    result = ns.search(digits18, "digits-classifier", [3, 8], algorithm=algorithm, seed=0, judges=[])
    assert [p.nfe for p in result] == [algorithm.plan(digits18, None).nfe] * 2 == [1 + 2 * (2 * 8 + 9)] * 2


@pytest.mark.parametrize("unit", ["vp", "flow"])
def test_the_window_in_any_unit_gives_the_same_plan(digits18, unit):
    paper = EpsGreedy(k=3)
    lo, hi = convert(0.01, "edm", unit), convert(1.0, "edm", unit)
    same = EpsGreedy(k=3, unit=unit, window_lo=lo, window_hi=hi)
    assert same.schedule(digits18) == paper.schedule(digits18)
    assert same.plan(digits18, None) == paper.plan(digits18, None)
    # the same numbers taken as VP levels are another window: what 0.1.0 did with window_lo=0.01
    assert EpsGreedy(k=3, unit="vp").schedule(digits18) != paper.schedule(digits18)


def test_zero_order_steps_never_draws_fresh_noise(digits18):
    schedule = ZeroOrderSteps().schedule(digits18)
    assert {eps for _, eps in schedule} == {0.0}
    assert schedule == [(k, 0.0) for k, _ in EpsGreedy().schedule(digits18)]


def test_legacy_options_search_every_step_with_one_epsilon(digits18):
    # version 0.1.0: a VP window [0, 1] (every step) and epsilon everywhere
    old = EpsGreedy(k=2, window_lo=0.0, window_hi=1.0, **EpsGreedy.legacy)
    assert old.schedule(digits18) == [(2, 0.4)] * 17 + [(0, 0.4)]
    assert old.plan(digits18, None).nfe == 137
    windowed = ZeroOrderSteps(k=2, window_lo=0.5, **ZeroOrderSteps.legacy)
    levels = digits18.noise_levels().tolist()
    assert [k for k, _ in windowed.schedule(digits18)][:-1] == [2 if lv >= 0.5 else 1 for lv in levels[:17]]


def test_window_ranges_follow_the_unit():
    EpsGreedy(window_lo=0.5, window_hi=80.0)  # EDM sigma can exceed 1
    with pytest.raises(InputError, match=r"`window_hi` in unit vp must be in \[0, 1\]"):
        EpsGreedy(unit="vp", window_hi=1.5)
    with pytest.raises(InputError, match="window_lo <= window_hi"):
        EpsGreedy(window_lo=2.0, window_hi=1.0)
    with pytest.raises(InputError, match="valid: vp, edm, flow"):
        EpsGreedy(unit="sigma")


def test_levels_exactly_on_the_window_edges_are_inside(digits18):
    """The window is closed: a step whose level equals window_lo or window_hi (or lies within the
    edges' rounding tolerance) gets K iterations, its neighbours outside get one."""
    for unit in ("edm", "vp"):
        levels = from_vp(digits18.noise_levels(), unit).tolist()
        lo, hi = levels[12], levels[5]  # levels decrease: steps 5..12 lie in [lo, hi]
        schedule = EpsGreedy(k=3, unit=unit, window_lo=lo, window_hi=hi).schedule(digits18)
        assert [i for i, (k, _) in enumerate(schedule) if k == 3] == list(range(5, 13)), unit
        assert schedule[4][0] == schedule[13][0] == 1
    # an edge a hair (relative 1e-9) above a level still holds it
    sigma = from_vp(digits18.noise_levels(), "edm").tolist()[12]
    edge = sigma / (1 - 1e-9)
    while edge * (1 - 1e-9) > sigma:
        edge = math.nextafter(edge, 0.0)
    while edge * (1 - 1e-9) < sigma:
        edge = math.nextafter(edge, math.inf)
    assert edge * (1 - 1e-9) == sigma and edge > sigma
    assert EpsGreedy(k=3, window_lo=edge, window_hi=1.0).schedule(digits18)[12] == (3, 0.4)


def test_an_unbounded_window_searches_a_flow_schedule_from_pure_noise():
    """``window_lo=0, window_hi=inf`` searches every step: also a flow schedule's first step,
    whose EDM sigma (t = 1, pure noise) is infinite."""
    from noisesearch.processes.gmm import flow_gmm_process

    process = flow_gmm_process(steps=4, sampler="sde")
    sigmas = from_vp(process.noise_levels(), "edm").tolist()
    assert sigmas[0] == math.inf and process.injects_noise(0)
    everything = EpsGreedy(k=3, window_lo=0.0, window_hi=math.inf)
    assert everything.schedule(process) == [(3, 0.4)] * 3 + [(0, 0.4)]


def repeated_level_process():
    """A stochastic GMM whose schedule repeats two levels: steps 1 and 3 go from a level to the
    same level, so they inject no noise (sigma = 0), like DDIM's last step (4 NFE-costing steps
    of 5 search nothing there)."""
    from noisesearch.processes import gmm_process
    from noisesearch.processes.base import DenoisingProcess
    from noisesearch.processes.sampler import Sampler, Schedule

    base = gmm_process(steps=3, sampler="sde")
    keep = [0, 1, 1, 2, 2]
    alphas = torch.cat([base.schedule.alphas[keep], torch.ones(1, dtype=torch.float64)])
    schedule = Schedule(alphas, base.schedule.timesteps[keep])
    return DenoisingProcess(base.denoiser, Sampler("sde", lambda steps: schedule, 5))


def test_plain_steps_before_the_last_are_planned_and_taken_with_the_pivot():
    """A step that injects no noise is taken without search but still costs its prediction: the
    plan counts every such step but the last (1 + sum K_i N + plain steps), a run spends exactly
    that, and the winner's recorded noises (the pivot at a plain step) regenerate its sample and
    score (``trajectory.sample``)."""
    from noisesearch.algorithms.trajectory import sample

    process = repeated_level_process()
    assert [process.injects_noise(i) for i in range(5)] == [True, False, True, False, False]
    algorithm = EpsGreedy(n=2, k=2, window_lo=0.0, window_hi=math.inf)
    assert algorithm.schedule(process) == [(2, 0.4), (0, 0.4), (2, 0.4), (0, 0.4), (0, 0.4)]
    plan = algorithm.plan(process, None)
    assert plan.nfe == 1 + 2 * (2 * 2) + 2

    def reward(x, c):
        return x.double() @ torch.tensor([1.0, -0.5], dtype=torch.float64)

    result = ns.search(process, reward, [0, 1, "any"], algorithm=algorithm, seed=2, judges=[])
    for p in result:
        assert p.nfe == plan.nfe
        replayed = sample(process, p.noises, process.encode([p.condition]))
        assert torch.equal(replayed[0], p.best_image)
        assert float(reward(replayed, None)[0]) == p.best_score
