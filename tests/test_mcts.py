"""MCTS over the step noises: UCB1 statistics, and a budget spent as sized."""

import math

import pytest
import torch

import noisesearch as ns
from noisesearch.errors import InputError
from noisesearch.processes import gmm_process

A = torch.tensor([1.0, 0.5], dtype=torch.float64)


def linear_reward(images, conditions):
    return (images * A).sum(1)


def scaled_reward(scale):
    def reward(images, conditions):
        return scale * (images * A).sum(1)
    return reward


@pytest.mark.parametrize("budget", [250, 500, 800])
def test_a_budget_is_spent_within_five_percent_and_batching_does_not_matter(budget):
    process = gmm_process(steps=10, sampler="sde")
    algorithm = ns.load_algorithm("mcts")
    assert algorithm.at_budget(process, budget) is algorithm  # its size follows the budget
    assert algorithm.plan(process, budget).nfe == budget
    a = ns.search(process, linear_reward, [0, 1, "any"], algorithm="mcts", budget=budget, seed=0, max_batch=2)
    for p in a:
        assert 0.95 * budget <= p.nfe <= budget, (budget, p.nfe)
    b = ns.search(process, linear_reward, [0, 1, "any"], algorithm="mcts", budget=budget, seed=0,
                  max_batch=1000)
    assert [p.nfe for p in a] == [p.nfe for p in b]
    assert [p.best_score for p in a] == [p.best_score for p in b]
    assert all(torch.equal(p.extra["visits"], q.extra["visits"]) for p, q in zip(a, b, strict=True))


def test_a_budget_is_spent_on_digits():
    process = ns.load_process("digits", steps=6, sampler="sde", micro_batch=4)  # small calls: MCTS makes many
    verifier = ns.load_verifier("digits-classifier")
    for budget in (100, 200):
        result = ns.search(process, verifier, [3, 7], algorithm="mcts", budget=budget, seed=0, judges=[])
        for p in result:
            assert 0.95 * budget <= p.nfe <= budget, (budget, p.nfe)


def test_a_budget_below_the_root_expansions_is_refused():
    process = gmm_process(steps=10, sampler="sde")
    least = 1 + 4 * sum(range(1, 10))  # x0_hat(x_T), then the root's 4 children at every step
    with pytest.raises(InputError, match=f"valid: a budget >= {least}"):
        ns.load_algorithm("mcts").plan(process, least - 1)
    assert ns.load_algorithm("mcts").plan(process, least).nfe == least


def test_without_a_budget_the_papers_s_is_fixed():
    process = gmm_process(steps=10, sampler="sde")
    assert ns.load_algorithm("mcts").plan(process, None).size == 8
    assert ns.load_algorithm("mcts").default_budget(process) is None


def test_every_simulation_is_backed_up_to_the_root():
    """At the first step the root's children have N visits from their expansion and one for
    every one of the S simulations (each passes through one of them): a backup that stopped
    at the expanded node would leave them at N."""
    process = gmm_process(steps=10, sampler="sde")
    result = ns.search(process, linear_reward, [0, "any"], algorithm="mcts", n=4, s=12, seed=0)
    for p in result:
        assert int(p.extra["visits"][0].sum()) == 4 + 12
        # later steps keep the committed child's subtree: at least N + S visits below the root
        assert (p.extra["visits"][:-2].sum(1) >= 4 + 12).all()


def test_ucb_explores_every_child_and_concentrates_on_the_best():
    """With a reward whose differences are small against the exploration term, UCB1 visits
    every child of the root more than once (a greedy choice by mean would revisit one); with
    many simulations the most visited child has the best mean reward."""
    process = gmm_process(steps=10, sampler="sde")
    small = ns.search(process, scaled_reward(0.05), [0, 1, "any"], algorithm="mcts", n=4, s=12, seed=0)
    for p in small:
        assert (p.extra["visits"][0] >= 2).all(), p.extra["visits"][0]
    many = ns.search(process, linear_reward, [0, 1, "any"], algorithm="mcts", n=4, s=60, seed=0)
    for p in many:
        visits, means = p.extra["visits"][0], p.extra["means"][0]
        assert int(visits.argmax()) == int(means.argmax()), (visits, means)
        assert visits.max() > visits.sum() / 4 + 1


def test_the_winner_is_the_committed_trajectory():
    process = gmm_process(steps=8, sampler="sde")
    result = ns.search(process, linear_reward, [0], algorithm="mcts", budget=200, seed=0)
    p = result[0]
    assert p.noises["steps"].shape[1] == 8 and math.isfinite(p.best_score)
    assert not torch.isnan(p.extra["means"][0]).any()  # every child of the first root is scored
