"""The anytime record: every candidate at the NFEs spent when it was scored, for every algorithm."""

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS
from noisesearch.processes import gmm_process
from noisesearch.verifiers.base import CallableVerifier

VERIFIER = CallableVerifier(lambda x, c: -(x - torch.ones(4)).norm(dim=1), "closeness", differentiable=True)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_anytime_curve_rises_with_nfes_spent(name):
    algorithm = ALGORITHMS[name]
    process = gmm_process(dim=4, steps=8, sampler=algorithm.sampler or "ode")
    result = ns.search(process, VERIFIER, [0, 1], algorithm=name, seed=3)  # its default budget
    for problem in result:
        curve = problem.best_so_far()
        nfes, bests = [n for n, _ in curve], [b for _, b in curve]
        assert len(set(nfes)) > 1, f"{name}: the curve is one point or one vertical line"
        assert nfes == sorted(nfes) and 0 < nfes[0] < nfes[-1] <= problem.nfe
        assert bests == sorted(bests)  # best so far never decreases
        assert max(s for _, s in problem.history) == problem.best_score or problem.recipe.get("search_steps")
        # a finished candidate or a look-ahead: the curve's last point is the best score seen
        seen = [s for _, s in problem.history + problem.lookahead]
        assert bests[-1] == max(seen)


def test_a_batch_of_candidates_is_spread_over_the_nfes_it_cost():
    process = gmm_process(dim=4, steps=10, sampler="ode")
    one = process.generation_nfe
    for max_batch in (1, 7, 64):  # the record does not depend on how candidates were batched
        result = ns.search(process, VERIFIER, [0, 2], algorithm="random", n=6, max_batch=max_batch, seed=1)
        for problem in result:
            assert [n for n, _ in problem.history] == [one * k for k in range(1, 7)]


def test_step_candidates_are_look_aheads_not_winners():
    process = gmm_process(dim=4, steps=6, sampler="sde")
    result = ns.search(process, VERIFIER, [0], algorithm="eps-greedy", seed=0)
    problem = result[0]
    assert len(problem.history) == 1  # the one finished trajectory
    assert len(problem.lookahead) > process.steps  # every step's candidates, scored on x0_hat
    assert all(n <= problem.history[0][0] for n, _ in problem.lookahead)
