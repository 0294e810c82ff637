"""MCTS over the step noises: UCB1 statistics, and a budget spent as sized."""

import math
from dataclasses import dataclass

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.mcts import MCTS
from noisesearch.errors import InputError
from noisesearch.processes import DenoisingProcess, gmm_process
from noisesearch.processes.gmm import MixtureEps

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


# The budget's arithmetic, by hand on small processes. On the DDIM sde sampler every step
# injects noise but the last (a_s = 1), so a node has N children at depths 0 .. T - 2 and one
# at depth T - 1; a node at depth d costs T - d NFEs to expand (x0_hat at every state its
# rollout passes; the clean end needs none); the mixture bills one NFE per prediction.


def test_tree_cost_counts_every_node_below_a_root():
    """tree_cost(i) = sum over depths d > i of (nodes at depth d) * (T - d), the nodes being
    the product of the widths above them. T = 4, N = 3 (widths 3, 3, 3, 1):
    i = 0: 3 * 3 + 9 * 2 + 27 * 1 + 27 * 0 = 54; i = 1: 3 * 2 + 9 * 1 + 9 * 0 = 15;
    i = 2: 3 * 1 + 3 * 0 = 3; i = 3: 1 * 0 = 0."""
    process = gmm_process(steps=4, sampler="sde")
    mcts = ns.load_algorithm("mcts", n=3)
    assert [mcts.tree_cost(process, i) for i in range(4)] == [54, 15, 3, 0]
    mcts2 = ns.load_algorithm("mcts", n=2)  # 2 * 3 + 4 * 2 + 8 * 1 = 22; 2 * 2 + 4 * 1 = 8; 2 * 1 = 2
    assert [mcts2.tree_cost(process, i) for i in range(4)] == [22, 8, 2, 0]
    # 4^39 nodes below the first root of 40 steps: a number (beyond any budget), and a plan
    long = gmm_process(steps=40, sampler="sde")
    assert mcts.tree_cost(long, 0) > 1 << 40
    assert ns.load_algorithm("mcts").plan(long, 20000).size >= 1


def test_step_costs_follow_the_documented_rule():
    """Step i plans width * (T - i - 1) NFEs for its root's children plus S * (T - i - 2) for
    its simulations (none where the step injects no noise), capped at
    max(tree_cost(i) // 2, width * (T - i - 1)). T = 4, N = 3 (tree costs 54, 15, 3, 0):
    i = 0: min(9 + 2 S, 27); i = 1: min(6 + S, max(7, 6) = 7); i = 2: 3 (no simulation
    costs an NFE there); i = 3: 0."""
    process = gmm_process(steps=4, sampler="sde")
    mcts = ns.load_algorithm("mcts", n=3)
    assert mcts.step_costs(process, 0) == [9, 6, 3, 0]
    assert mcts.step_costs(process, 1) == [11, 7, 3, 0]
    assert mcts.step_costs(process, 5) == [19, 7, 3, 0]
    assert mcts.step_costs(process, 20) == [27, 7, 3, 0]  # half of every tree
    # N = 2 (tree costs 22, 8, 2, 0): i = 0: min(6 + 2 S, 11); i = 1: min(4 + S, max(4, 4)) = 4
    mcts2 = ns.load_algorithm("mcts", n=2)
    assert mcts2.step_costs(process, 1) == [8, 4, 2, 0]
    assert mcts2.step_costs(process, 9) == [11, 4, 2, 0]


def test_plan_takes_the_largest_s_whose_planned_spend_fits():
    """The plan's S is the largest whose planned spend, 1 (x0_hat(x_T)) + sum of the step
    costs, is at most the budget. T = 4, N = 2: 1 + min(6 + 2 S, 11) + 4 + 2 + 0 is 13, 15,
    17 for S = 0, 1, 2 and 18 from S = 3 on; a spend equal to the budget fits."""
    process = gmm_process(steps=4, sampler="sde")
    mcts = ns.load_algorithm("mcts", n=2)
    sizes = {budget: mcts.plan(process, budget).size for budget in (13, 14, 15, 16, 17)}
    assert sizes == {13: 0, 14: 0, 15: 1, 16: 1, 17: 2}
    assert all(mcts.plan(process, budget).nfe == budget for budget in sizes)
    # T = 5: 1 + min(8 + 3 S, 26) + min(6 + 2 S, 11) + 4 + 2 is 21, 26, 31, 35, 38, 41, 44 for S = 0 .. 6
    five = gmm_process(steps=5, sampler="sde")
    sizes = {budget: mcts.plan(five, budget).size for budget in (25, 26, 31, 34, 35, 37, 38, 41, 43)}
    assert sizes == {25: 0, 26: 1, 31: 2, 34: 2, 35: 3, 37: 3, 38: 4, 41: 5, 43: 5}


def test_shares_split_the_budget_as_the_steps_are_planned_to_spend_it():
    """shares[i] = 1 + (B - 1) * (planned NFEs of steps 0..i) // (all planned NFEs), all of B at
    the last step whose simulations cost NFEs, and never into the later steps' root
    expansions: at most B - sum of width * (T - j - 1) over j > i.
    T = 5, N = 2, B = 40: step costs min(8 + 3 S, 26), min(6 + 2 S, 11), min(4 + S, 4), 2, 0
    (tree costs 52, 22, 8, 2, 0), so S = 4 (1 + 20 + 11 + 4 + 2 = 38; S = 5 plans 41); the
    costs 20, 11, 4, 2, 0 sum to 37 and the root expansions are 8, 6, 4, 2, 0. Steps 0, 1, 2
    have simulations that cost NFEs (T - i - 2 > 0):
    i = 0: 1 + 39 * 20 // 37 = 22 (at most 40 - 12 = 28); i = 1: 1 + 39 * 31 // 37 = 33 (at
    most 34); i = 2, the last costly one: 40, at most 40 - 2 = 38; i = 3, 4: 40."""
    process = gmm_process(steps=5, sampler="sde")
    mcts = ns.load_algorithm("mcts", n=2)
    plan = mcts.plan(process, 40)
    assert plan.size == 4
    assert mcts.shares(process, plan) == [22, 33, 38, 40, 40]
    # N = 1 (a chain, no simulations) on 2 steps: step 0 plans 1 NFE, step 1 none: all of B after step 0
    chain = ns.load_algorithm("mcts", n=1)
    two = gmm_process(steps=2, sampler="sde")
    assert chain.shares(two, chain.plan(two, 9)) == [9, 9]


class GuidedMixture(MixtureEps):
    """The mixture billed as a guided model: every prediction costs 2 NFEs."""

    nfe_per_call = 2


def test_a_guided_process_plans_and_spends_in_its_nfes_per_step():
    """With 2 NFEs per prediction every planned cost doubles, the first prediction costs 2 and
    the root expansions are 2 * width * (T - i - 1). T = 5, N = 2, B = 80: the same S = 4 as
    B = 40 with one NFE (see above); step costs 40, 22, 8, 4, 0 (sum 74), roots 16, 12, 8, 4, 0:
    i = 0: 2 + 78 * 40 // 74 = 44; i = 1: 2 + 78 * 62 // 74 = 67 (at most 80 - 12 = 68);
    i = 2: 80, at most 80 - 4 = 76; then 80. A search spends within the budget."""
    guided = DenoisingProcess(GuidedMixture(), gmm_process(steps=5, sampler="sde").sampling)
    mcts = ns.load_algorithm("mcts", n=2)
    assert mcts.step_costs(guided, 4) == [40, 22, 8, 4, 0]
    plan = mcts.plan(guided, 80)
    assert plan.size == 4
    assert mcts.shares(guided, plan) == [44, 67, 76, 80, 80]


def probe(log: list, **options) -> MCTS:
    """MCTS that notes in ``log``, at every expansion, the step (its root's depth), each
    target's problem, whether it is the root, the root, and every problem's NFEs before it."""

    @dataclass
    class Probe(MCTS):
        def expand(self, ctx, targets, created):
            for p, node in targets:
                root = node
                while root.parent is not None:
                    root = root.parent
                log.append((root.depth, p, node is root, root, ctx.ledger.nfe.tolist()))
            super().expand(ctx, targets, created)

    return Probe(**options)


def test_with_a_budget_each_step_simulates_while_one_more_simulation_fits_its_share():
    """Step i simulates for a problem while its NFEs plus the most one more simulation can cost,
    (T - i - 2) NFEs per step, fit in its share, and stops once they do not or its tree is
    full; a guided process bills 2 NFEs per step. The spend never exceeds the budget."""
    guided = DenoisingProcess(GuidedMixture(), gmm_process(steps=8, sampler="sde").sampling)
    plain = gmm_process(steps=4, sampler="sde")
    for process, budget in ((guided, 150), (guided, 260), (plain, 13)):
        log = []
        mcts = probe(log, n=2)
        shares = mcts.shares(process, mcts.plan(process, budget))
        result = ns.search(process, linear_reward, [0, 1, "any"], algorithm=mcts, budget=budget, seed=0)
        steps, per_step = process.steps, process.nfe_per_step
        worst = [per_step * max(steps - i - 2, 0) for i in range(steps)]
        simulated = set()
        for i, p, at_root, _, nfe in log:
            if not at_root:  # a simulation: it fit in the share
                assert nfe[p] + worst[i] <= shares[i], (budget, i, p, nfe[p], shares[i])
                simulated.add(i)
        assert simulated  # the budgets cover simulations
        for i in range(steps - 1):
            later = [nfe for step, *_, nfe in log if step > i]
            end = later[0] if later else [q.nfe for q in result]  # the NFEs when step i ended
            roots = {p: root for step, p, _, root, _ in log if step == i}
            for p in roots:  # (a problem whose root was full and complete already expands nothing)
                assert end[p] + worst[i] > shares[i] or roots[p].full, (budget, i, p, end[p], shares[i])
        assert all(q.nfe <= budget for q in result)


def test_the_step_before_the_last_fills_its_tree_with_free_simulations():
    """T = 4, N = 2, B = 13, the least budget (S = 0, shares 7, 11, 13, 13): x0_hat(x_T) and the
    root's children at step 0 (2 * 3) spend 7, step 1's children (2 * 2) 11 = B minus step 2's
    children (2 * 1), which bring the spend to 13 = B. No simulation fits before; at step 2 a
    simulation reaches a clean leaf and costs nothing (T - i - 2 = 0 more NFEs), so the search
    simulates until the tree is full: each of the root's children gets its clean leaf, 2 visits."""
    process = gmm_process(steps=4, sampler="sde")
    result = ns.search(process, linear_reward, [0, 1, "any"], algorithm="mcts", n=2, budget=13, seed=0)
    for p in result:
        assert p.nfe == 13
        assert p.extra["visits"][:3].tolist() == [[1, 1], [1, 1], [2, 2]]


def test_the_step_that_injects_no_noise_has_one_child_and_leaves_are_revisited_with_their_reward():
    """DDIM's last step injects no noise: its root has one child (the clean sample, which the
    committed child of the step before has already grown: one visit less than it, every
    visit of that child but its own rollout passed to its leaf; one if it had none) and no
    simulation runs there. A revisit of a clean leaf backs up the leaf's own reward, so its
    mean stays r(x_0), the result's score (means in float64). At every step with N children
    each of the S simulations adds one visit below the root: at least N + S visits, the step
    before the last included, where simulations revisit leaves."""
    process = gmm_process(steps=6, sampler="sde")
    result = ns.search(process, linear_reward, [0, 1, "any"], algorithm="mcts", n=2, s=6, seed=0)
    for p in result:
        visits, means = p.extra["visits"], p.extra["means"]
        assert visits.dtype == torch.long and means.dtype == torch.float64
        assert (visits[:-1].sum(1) >= 2 + 6).all(), visits
        committed = max(range(2), key=lambda c: means[-2, c])
        assert visits[-1].tolist() == [max(int(visits[-2, committed]) - 1, 1), 0]
        assert torch.isnan(means[-1, 1]) and not torch.isnan(means[-2]).any()
        assert abs(float(means[-1, 0]) - p.best_score) < 1e-12, (float(means[-1, 0]), p.best_score)


def test_each_child_is_scored_by_a_noise_free_rollout_to_the_clean_sample():
    """With S = 0 every child of a root has one visit, its rollout's reward: from the child's
    state x_{i+1} the process's noise-free (DDIM, eta = 0) updates to x_0, scored by the
    verifier. The committed child (the best mean) is the trajectory's state; recomputed here
    from the winner's x_T and step noises. Rollouts are look-aheads, one per child; only the
    committed trajectory is a finished candidate."""
    steps, n = 5, 2
    process = gmm_process(steps=steps, sampler="sde")
    p = ns.search(process, linear_reward, ["any"], algorithm="mcts", n=n, s=0, seed=0)[0]
    cond = process.encode([process.parse_condition("any")])
    x = p.noises["x_T"].reshape(1, 2)
    z = p.noises["steps"].reshape(steps, 1, 2)
    for i in range(steps):
        x0, eps = process.predict(x, i, cond)
        x = process.update(x, i, x0, eps, z[i])
        y = x
        for j in range(i + 1, steps):
            y0, y_eps = process.predict(y, j, cond)
            y = process.update(y, j, y0, y_eps, deterministic=True)
        reward = float(linear_reward(process.decode(y), None)[0])
        assert abs(float(p.extra["means"][i].nan_to_num(-math.inf).max()) - reward) < 1e-12, (i, reward)
    assert abs(p.best_score - float(linear_reward(process.decode(x), None)[0])) < 1e-12
    assert len(p.lookahead) == n * (steps - 1) + 1 and len(p.history) == 1
