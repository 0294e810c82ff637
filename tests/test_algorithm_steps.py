"""Each algorithm's defining step, seen from outside: the verifier records every score it
hands out, and on a two-step stochastic GMM (step 0 injects noise; DDIM's last step is
the noise-free x_2 = x0_hat(x_1)) the final sample of a step-wise search *is* the clean
prediction its last search step scored, so the winner's score says which candidate the
search kept. Selection (best, not worst), exploration (fresh draws vs the pivot), the
pivot rule (``keep_best``), beam lineages and the keeper are each checked this way.
"""

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.result import BestKeeper, ProblemResult
from noisesearch.algorithms.trajectory import best_per_problem
from noisesearch.processes import gmm_process
from noisesearch.verifiers.base import CallableVerifier

A = torch.tensor([1.0, 0.5], dtype=torch.float64)
PROBLEMS = 8
EVERY_STEP = {"window_lo": 0.0, "window_hi": 1.0, "unit": "vp"}  # eps-greedy searches every noisy step


class Recorder:
    """A linear reward that keeps every batch of scores it returns, as (P, rows per problem)."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def __call__(self, images, conditions):
        scores = (images.double() * A).sum(1)
        self.calls.append(scores.reshape(PROBLEMS, -1).clone())
        return scores


def two_step_search(algorithm: str, **options) -> tuple[list[float], Recorder]:
    process = gmm_process(steps=2, sampler="sde")
    assert process.injects_noise(0) and not process.injects_noise(1)
    recorder = Recorder()
    result = ns.search(process, recorder, ["any"] * PROBLEMS, algorithm=algorithm, seed=3,
                       max_batch=4096, **options)
    return [p.best_score for p in result], recorder


def test_best_per_problem_picks_each_problems_best_rows_and_breaks_ties_by_order():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.9, 3.0, -1.0, 2.0, 2.0])
    assert best_per_problem(scores, 2, 4).tolist() == [1, 4]
    assert best_per_problem(scores, 2, 4, keep=2).tolist() == [1, 3, 4, 6]
    assert best_per_problem(scores, 4, 2, keep=1).tolist() == [1, 3, 4, 6]


def test_keeper_keeps_the_strictly_best_its_top_k_and_every_score():
    keeper = BestKeeper(2, top_k=2)
    images = torch.arange(4.0)[:, None]
    changed = keeper.offer(torch.tensor([0, 0, 1, 1]), torch.tensor([1.0, 3.0, 2.0, 2.0]), images,
                           torch.tensor([10, 20]))
    assert changed == {0: 1, 1: 2}  # problem 1's tie keeps the earlier row
    changed = keeper.offer(torch.tensor([0, 1]), torch.tensor([3.0, 2.5]), images[:2], torch.tensor([30, 40]))
    assert changed == {1: 1}  # a tie with the best does not replace it
    assert keeper.best_score == [3.0, 2.5]
    assert torch.equal(keeper.best[0]["image"], images[1]) and torch.equal(keeper.best[1]["image"], images[1])
    # a batch's NFEs are spread over its rows in order, as if computed one after another
    assert keeper.history[0] == [(5, 1.0), (10, 3.0), (30, 3.0)]
    assert [s for s, _, _ in keeper.top[0]] == [3.0, 3.0] and [s for s, _, _ in keeper.top[1]] == [2.5, 2.0]
    assert torch.equal(keeper.top[0][0][2], images[1])  # equal scores: the earlier first


def test_best_so_far_is_the_running_maximum_from_the_first_finite_score():
    history = [(5, -float("inf")), (10, 0.2), (20, 0.1), (30, 0.7), (40, 0.5)]
    problem = ProblemResult(condition=0, problem=0, best_score=0.7, best_image=torch.zeros(1), noises={},
                            recipe={}, history=history, top=[])
    assert problem.best_so_far() == [(10, 0.2), (20, 0.2), (30, 0.7), (40, 0.7)]


@pytest.mark.parametrize("keep_best", [False, True])
def test_eps_greedy_pivot_is_the_last_iterations_best_or_the_best_seen(keep_best):
    scores, recorder = two_step_search("eps-greedy", n=4, k=6, keep_best=keep_best, **EVERY_STEP)
    searched = torch.stack(recorder.calls[:6], 1)  # (P, K iterations, N candidates) at step 0
    assert searched.shape == (PROBLEMS, 6, 4) and len(recorder.calls) == 7  # then the final samples
    best_seen = searched.flatten(1).max(1).values
    last_best = searched[:, -1].max(1).values
    expected = best_seen if keep_best else last_best
    assert torch.allclose(torch.tensor(scores, dtype=torch.float64), expected)
    assert (last_best < best_seen).any()  # the two rules differ on this run


def test_eps_greedy_explores_with_fresh_draws_and_exploits_around_the_pivot():
    _, exploit = two_step_search("eps-greedy", n=4, k=3, epsilon=0.0, lam=0.0, **EVERY_STEP)
    for call in exploit.calls[:3]:  # radius 0: every candidate is the pivot
        assert torch.allclose(call, call[:, :1].expand_as(call))
    _, explore = two_step_search("eps-greedy", n=4, k=3, epsilon=1.0, lam=0.0, **EVERY_STEP)
    for call in explore.calls[:3]:  # fresh draws: all different
        assert (call[:, 1:] != call[:, :1]).all()
    # with epsilon = 1 the radius plays no part; with epsilon = 0 it decides everything
    wide_explore, _ = two_step_search("eps-greedy", n=4, k=3, epsilon=1.0, lam=0.5, **EVERY_STEP)
    narrow, _ = two_step_search("eps-greedy", n=4, k=3, epsilon=0.0, lam=0.15, **EVERY_STEP)
    wide, _ = two_step_search("eps-greedy", n=4, k=3, epsilon=0.0, lam=0.5, **EVERY_STEP)
    assert wide_explore == two_step_search("eps-greedy", n=4, k=3, epsilon=1.0, lam=0.15, **EVERY_STEP)[0]
    assert narrow != wide
    mixed, mixed_calls = two_step_search("eps-greedy", n=4, k=3, epsilon=0.4, lam=0.0, **EVERY_STEP)
    candidates = torch.stack(mixed_calls.calls[1:3], 1).flatten(1)  # after the first pivot is chosen
    repeats = (candidates[:, :, None] == candidates[:, None, :]).sum(2) > 1  # rows that equal the pivot
    assert 0 < repeats.double().mean() < 1  # some candidates explore, some stay at the pivot


@pytest.mark.parametrize("algorithm, beams, n", [("beam", 2, 4), ("beam", 3, 2), ("svdd", 1, 5)])
def test_beam_keeps_the_top_b_distinct_lineages(algorithm, beams, n):
    options = {"b": beams, "n": n} if algorithm == "beam" else {"m": n}
    scores, recorder = two_step_search(algorithm, **options)
    step, final = recorder.calls[0], recorder.calls[-1]  # step 0's candidates, the finished beams
    assert step.shape == (PROBLEMS, beams * n) and final.shape == (PROBLEMS, beams)
    top = step.sort(1, descending=True).values[:, :beams]
    assert torch.allclose(final.sort(1, descending=True).values, top)  # the best B survive, each once
    assert torch.allclose(torch.tensor(scores, dtype=torch.float64), top[:, 0])


def test_paths_keeps_the_best_copies_between_rounds():
    """N = 2 paths with M = 4 copies each against N = 8 paths with M = 1: both score 8 copies per
    round and pick the best 8 finished samples, but only the first selects between rounds
    (the best 2 of 8 go on). Selecting the best must beat not selecting; the worst would lose."""
    process = gmm_process(steps=20, sampler="ode")
    levels = {"sigma_start": 0.5, "delta_f": 0.3, "delta_b": 0.35, "unit": "vp"}
    assert len(ns.load_algorithm("paths", **levels).path_plan(process).rounds) >= 3

    def mean(n: int, m: int) -> float:
        result = ns.search(process, lambda x, c: (x.double() * A).sum(1), ["any"] * 128, algorithm="paths",
                           n=n, m=m, seed=0, max_batch=4096, **levels)
        return sum(p.best_score for p in result) / len(result)

    selected, unselected = mean(2, 4), mean(8, 1)
    assert selected > unselected + 0.2, (selected, unselected)


def test_chi_nll_is_the_chi_distributions_negative_log_likelihood_up_to_a_constant():
    from scipy.stats import chi

    from noisesearch.algorithms.noise_gradient import chi_nll

    x = torch.randn(4, 2, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = x.flatten(1).norm(dim=1)
    expected = -torch.tensor(chi(10).logpdf(r.numpy()))
    assert torch.allclose(chi_nll(x) - chi_nll(x)[0], expected - expected[0])


@pytest.mark.parametrize("grad_clip", [0.2, 100.0])
def test_noise_gradient_takes_clipped_adam_steps_on_the_regularised_reward(grad_clip):
    """ReNO Eq. 4-6: one Adam step (lr, eps) on -(r(x) - reg_weight * NLL_chi(||x_T||)) with each
    condition's gradient clipped to norm grad_clip (a smaller gradient is left as it is); Adam's
    first step is -lr g / (|g| + eps)."""
    from noisesearch.algorithms.noise_gradient import chi_nll

    process = gmm_process(dim=3, steps=4, sampler="ode")
    target = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)

    def reward(x, c):
        return -(x - target).norm(dim=1)

    options = {"lr": 0.05, "reg_weight": 0.3, "grad_clip": grad_clip, "adam_eps": 0.05}
    result = ns.search(process, CallableVerifier(reward, "closeness", True), [0, 1, "any"],
                       algorithm="noise-gradient", iterations=2, seed=1, top_k=2, **options)
    first = ns.search(process, reward, [0, 1, "any"], algorithm="random", n=1, seed=1)
    x_T = torch.cat([p.noises["x_T"] for p in first]).requires_grad_(True)
    y = x_T
    for i in range(process.steps):
        y, _ = process.step(y, i, process.encode([0, 1, "any"]))
    objective = reward(process.decode(y), None) - options["reg_weight"] * chi_nll(x_T)
    (-objective.sum()).backward()
    g = x_T.grad
    g = g * (options["grad_clip"] / g.norm(dim=1)).clamp(max=1.0)[:, None]
    stepped = x_T.detach() - options["lr"] * g / (g.abs() + options["adam_eps"])
    for p, problem in enumerate(result):
        assert [s for _, s in problem.history][0] == first[p].best_score  # iterate 0: random's first
        second = problem.history[1][1]
        assert second == pytest.approx(float(reward(sample_one(process, stepped[p], p), None)), abs=1e-9)
    assert sum(problem.history[1][1] > problem.history[0][1] for problem in result) >= 2  # it ascends


def sample_one(process, x_T, condition):
    from noisesearch.algorithms.trajectory import sample

    return sample(process, {"x_T": x_T[None]}, process.encode([[0, 1, "any"][condition]]))


def test_noise_gradient_leaves_a_failed_candidates_noise_where_it_was():
    process = gmm_process(dim=3, steps=4, sampler="ode")
    calls = []

    def reward(x, c):  # the second condition's first score fails
        scores = x.sum(1)
        if not calls:
            scores[1] = float("nan")
        calls.append(1)
        return scores

    result = ns.search(process, CallableVerifier(reward, "sum", True), [0, 1], algorithm="noise-gradient",
                       iterations=2, seed=0)
    first = ns.search(process, lambda x, c: x.sum(1), [0, 1], algorithm="random", n=1, seed=0)
    assert result[1].history[0][1] == -float("inf")
    assert result[1].best_score == first[1].best_score  # not moved: iterate 1 is the start again
    assert torch.equal(result[1].noises["x_T"], first[1].noises["x_T"])
    assert result[0].best_score > first[0].best_score  # the other condition moved up


def test_noise_gradient_runs_the_iterations_its_budget_pays_for():
    """An iteration with a gradient costs 3 generations, the last (scoring only) 1: i iterations
    cost 3 i - 2 generations."""
    process = gmm_process(steps=5, sampler="ode")
    for generations in range(1, 11):
        plan = ns.load_algorithm("noise-gradient").plan(process, generations * 5)
        assert 3 * plan.size - 2 <= generations < 3 * (plan.size + 1) - 2
        assert plan.nfe == (3 * plan.size - 2) * 5
    assert ns.load_algorithm("noise-gradient", iterations=3).plan(process, 35).size == 3


def test_map_path_moves_a_path_to_another_schedule_by_noise_level():
    from noisesearch.algorithms.trajectory import map_path, steps_taken

    fine = torch.linspace(1, 0, 7, dtype=torch.float64)  # 1, .83, .67, .5, .33, .17, 0
    coarse = torch.tensor([1.0, 0.6, 0.3, 0.0], dtype=torch.float64)
    assert map_path([0, 1, 2, 3], coarse, fine) == [0, 1, 2, 3, 4, 5, 6]
    assert map_path([1, 2, 3], coarse, fine) == [2, 3, 4, 5, 6]
    renoised = [0, 1, 2, 1, 2, 3]  # a re-noising from the state at .3 back to .6
    assert map_path(renoised, coarse, fine) == [0, 1, 2, 3, 4, 2, 3, 4, 5, 6]
    assert steps_taken(map_path(renoised, coarse, fine)) == 8 and steps_taken(renoised) == 4
    close = torch.tensor([1.0, 0.52, 0.48, 0.0], dtype=torch.float64)  # states 1 and 2 meet at .5
    assert map_path(renoised, close, fine) == [0, 1, 2, 3, 4, 5, 6]  # no re-noising onto itself


@pytest.mark.parametrize("levels, expected", [
    ((0.4, 0.4, 0.6), (3, ((1, 4),))),  # up 0.4 from 0.4 to state 1 (0.8); back 0.6 to state 4 (0.2)
    ((0.4, 0.7, 0.9), (3, ((0, 4),))),  # up past pure noise: state 0; back past clean: the last step scores
    ((0.9, 0.4, 0.3), (1, ((0, 2), (1, 3), (2, 4)))),
    ((0.99, 0.1, 0.1), (1, ((0, 1), (1, 2), (2, 3), (3, 4)))),  # one step per round
    ((0.3, 0.3, 0.2), (4, ((2, 4),))),
    ((0.05, 0.5, 0.5), (5, ())),  # no state above the clean one is as low: best-of-N
])
def test_paths_plan_on_explicit_levels(levels, expected):
    from noisesearch.algorithms.paths import PathPlan, plan_paths

    schedule = torch.tensor([1.0, 0.8, 0.6, 0.4, 0.2, 0.0], dtype=torch.float64)
    plan = plan_paths(schedule, *levels)
    assert plan == PathPlan(*expected, 5)
    path = plan.path()
    assert path[: plan.start + 1] == list(range(plan.start + 1)) and path[-1] == 5


@pytest.mark.parametrize("sigma_start", [0.99, 0.5, 0.11])
def test_paths_spends_its_plan_and_its_winners_replay(sigma_start):
    from noisesearch.algorithms.trajectory import sample

    process = gmm_process(steps=6, sampler="sde")
    options = {"n": 2, "m": 3, "sigma_start": sigma_start, "delta_f": 0.3, "delta_b": 0.35, "unit": "vp"}
    plan = ns.load_algorithm("paths", **options).plan(process, None)
    result = ns.search(process, lambda x, c: (x.double() * A).sum(1), [0, 1, "any"], algorithm="paths",
                       seed=4, **options)
    for p in result:
        assert p.nfe == plan.nfe
        replayed = sample(process, p.noises, process.encode([p.condition]), p.recipe["path"])
        assert torch.equal(replayed[0], p.best_image)


def test_paths_size_is_given_or_the_papers_or_what_the_budget_pays_for():
    process = gmm_process(steps=6, sampler="ode")
    paths = ns.load_algorithm("paths")
    cost = paths.plan(process, None).nfe // 2
    assert paths.plan(process, None).size == 2  # the paper's N
    assert paths.plan(process, cost).size == 1 and paths.plan(process, 5 * cost + 1).size == 5
    assert ns.load_algorithm("paths", n=3).plan(process, None).nfe == 3 * cost


def test_zero_order_ball_neighbours_lie_at_their_drawn_distance_per_block():
    from noisesearch.algorithms.zero_order import neighbours
    from noisesearch.noise import keyed_normal

    pivot = {"x_T": keyed_normal([(1, 0), (1, 1)], (4,)), "steps": keyed_normal([(1, 2), (1, 3)], (5, 4))}
    fresh = {"x_T": keyed_normal([(2, 0), (2, 1)], (4,)), "steps": keyed_normal([(2, 2), (2, 3)], (5, 4))}
    u = torch.tensor([0.3, 0.9])
    y = neighbours(pivot, fresh, "ball", 0.9, 0.25, u)
    for name in pivot:
        a, b, w = (t[name].reshape(2, -1, 4).double() for t in (pivot, y, fresh))
        distance = (b - a).norm(dim=2)  # per row and block: radius sqrt(d) u^(1/d), d = 4
        expected = (0.25 * 2 * u.double() ** 0.25)[:, None].expand_as(distance)
        assert torch.allclose(distance, expected, atol=1e-5)
        direction = torch.nn.functional.cosine_similarity(b - a, w, dim=2)
        assert torch.allclose(direction, torch.ones_like(direction), atol=1e-5)


def reference_zero_order(process, reward, condition, seed: int, budget: int, n: int, on_stall: str,
                         neighbourhood: str, tau: float = 0.95, radius: float = 0.3) -> list[float]:
    """Ma et al.'s zero-order search for one condition, written plainly (Sec. 3.2): the scores of
    every candidate in order. Keys as documented in zero_order.py."""
    from noisesearch.algorithms.trajectory import sample
    from noisesearch.algorithms.zero_order import neighbours
    from noisesearch.noise import NoiseSource

    source = NoiseSource(process, seed, [0])
    cond = process.encode([condition])
    pivot, pivot_score, restarts, scores, iteration = source.trajectories([(0, (0,))])[0], None, 0, [], 0
    while True:
        left = budget - len(scores)
        roles = ([-1] if pivot_score is None and left > 0 else [])
        roles += list(range(min(n, left - len(roles))))
        if not roles:
            return scores
        tried = []
        for j in roles:
            noise = pivot
            if j >= 0:
                fresh = source.trajectories([(0, ("zo-neighbour", iteration, j))])[0]
                u = source.uniform([(0, ("zo-radius", iteration, j))])
                noise = neighbours(pivot, fresh, neighbourhood, tau, radius, u)
            tried.append((j, float(reward(sample(process, noise, cond), [condition])[0]), noise))
        scores += [s for _, s, _ in tried]
        pivot_score = next((s for j, s, _ in tried if j < 0), pivot_score)
        others = [(s, noise) for j, s, noise in tried if j >= 0]
        if others:
            best_score, best = max(others, key=lambda t: t[0])  # the first of equal scores
            if best_score > pivot_score:
                pivot, pivot_score = best, best_score
            elif on_stall == "restart":
                restarts += 1
                pivot, pivot_score = source.trajectories([(0, ("zo-restart", restarts))])[0], None
        iteration += 1


@pytest.mark.parametrize("on_stall, neighbourhood, sampler, n, step", [
    ("restart", "sphere", "ode", 1, 0.0), ("stay", "sphere", "ode", 1, 0.0),
    ("restart", "ball", "sde", 1, 0.0),
    ("stay", "ball", "ode", 3, 0.0), ("restart", "sphere", "sde", 3, 0.0),
    ("stay", "ball", "ode", 3, 0.5), ("restart", "sphere", "ode", 3, 0.5)])
def test_zero_order_scores_what_a_plain_reference_implementation_scores(on_stall, neighbourhood, sampler, n,
                                                                        step):
    """``step`` > 0 rounds the reward to multiples of it: equal scores, where the pivot moves
    only to a neighbour that beats it, and the first of equal neighbours is the best."""
    process = gmm_process(dim=3, steps=4, sampler=sampler)
    target = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)

    def reward(x, c):
        assert len(c) == len(x)
        distance = (x - target).norm(dim=1)
        return -(distance / step).round() * step if step else -distance

    options = {"n": n, "on_stall": on_stall, "neighbourhood": neighbourhood}
    result = ns.search(process, reward, [1], algorithm="zero-order", budget=4 * 14, seed=5, **options)
    expected = reference_zero_order(process, reward, 1, 5, 14, n, on_stall, neighbourhood)
    assert [s for _, s in result[0].history] == expected
    assert [nfe for nfe, _ in result[0].history][-1] == result[0].nfe == 4 * 14
    with_iterations = ns.search(process, reward, [1], algorithm="zero-order", iterations=4, seed=5, **options)
    assert [s for _, s in with_iterations[0].history] == expected[:1 + 4 * n]


@pytest.mark.parametrize("algorithm, fields", [
    ("random", {"seed", "candidate", "keys"}), ("zero-order", {"seed", "iteration", "neighbour", "restarts"}),
    ("noise-gradient", {"seed", "iteration"}), ("paths", {"seed", "path"}), ("beam", {"seed", "row"}),
    ("eps-greedy", {"seed", "row"}), ("smc", {"seed", "row"}), ("mcts", {"seed", "row"})])
def test_each_winner_carries_the_recipe_of_its_noises(algorithm, fields):
    algo = ns.load_algorithm(algorithm)
    process = gmm_process(steps=4, sampler=algo.sampler or "ode")
    reward = CallableVerifier(lambda x, c: (x.double() * A).sum(1), "linear", True)
    result = ns.search(process, reward, [0, "any"], algorithm=algo, seed=7, budget=200)
    for p in result:
        assert set(p.recipe) == fields and p.recipe["seed"] == 7
        if algorithm == "random":
            assert p.recipe["keys"]["x_T"] == [(7, p.problem, "x_T", p.recipe["candidate"])]


def test_mcts_splits_a_budget_over_the_steps_as_documented():
    """4 steps, N = 2 (DDIM's last step injects no noise: one child there). Expanding every node
    below a root at depth i costs 22, 8, 2, 0 NFEs; a step of S = 3 simulations is planned at
    2 (3 - i) + 3 max(2 - i, 0), capped at half its whole tree (but never below its root's
    children): 11, 4, 2, 0. With 40 NFEs the step shares are the first prediction plus the rest
    split in proportion, the last step whose simulations cost NFEs taking all that is left, each
    leaving the later roots' children (6, 4, 2, 0) paid for."""
    process = gmm_process(steps=4, sampler="sde")
    mcts = ns.load_algorithm("mcts", n=2)
    assert [mcts.tree_cost(process, i) for i in range(4)] == [22, 8, 2, 0]
    assert mcts.step_costs(process, 3) == [11, 4, 2, 0] and mcts.step_costs(process, 0) == [6, 4, 2, 0]
    plan = mcts.plan(process, 40)
    assert plan == ns.algorithms.Plan(40, 40)  # every S above 2 plans the capped costs
    assert mcts.shares(process, plan) == [1 + 39 * 11 // 17, 40 - 2, 40, 40]
    assert mcts.plan(process, 13).size == 0  # the least: the first prediction and every root's children
    with pytest.raises(ns.errors.InputError, match="valid: a budget >= 13"):
        mcts.plan(process, 12)
    fixed = ns.load_algorithm("mcts", n=2, s=3)  # the paper's fixed S: every expansion at the root, at most
    assert fixed.plan(process, None) == ns.algorithms.Plan(3, 1 + (2 + 3) * (3 + 2 + 1))


def eps_greedy_first_step(epsilon: float, lam: float, problems: int = 16):
    """A one-candidate, one-iteration eps-greedy run on a 3-d two-step GMM: the step-0 noise
    of each winner is the step's only candidate; with the pivot, the direction, radius and
    explore draws of that candidate (keys as in eps_greedy.py)."""
    from noisesearch.noise import NoiseSource

    process = gmm_process(dim=3, steps=2, sampler="sde")
    result = ns.search(process, lambda x, c: x.double().sum(1), list(range(3)) * (problems // 3) + [0],
                       algorithm="eps-greedy", n=1, k=1, epsilon=epsilon, lam=lam, seed=5,
                       max_batch=4096, **EVERY_STEP)
    chosen = torch.cat([p.noises["steps"][:, 0] for p in result])
    source = NoiseSource(process, 5, list(range(len(result))))
    rows = range(len(result))
    draws = {name: source.steps([(p, ("eg", 0, 0, 0, name)) for p in rows])
             for name in ("fresh", "direction")}
    draws["pivot"] = source.steps([(p, ("eg-pivot", 0)) for p in rows])
    for name in ("radius", "explore"):
        draws[name] = source.uniform([(p, ("eg", 0, 0, 0, name)) for p in rows])
    return chosen, draws


def test_eps_greedy_local_candidates_lie_in_the_ball_of_radius_lam_sqrt_d_around_the_pivot():
    """Exploitation (Ramesh & Mardani 2025, Algorithm 1): z = pivot + U(0, 1) lambda sqrt(d) u / ||u||,
    so a local candidate lies within lambda sqrt(d) of the pivot, in the direction of its u draw,
    at the drawn fraction of that radius (computed in the process's float64)."""
    lam, d = 0.4, 3
    chosen, draws = eps_greedy_first_step(0.0, lam)
    offset = chosen - draws["pivot"]
    distance = offset.norm(dim=1)
    assert (distance <= lam * d**0.5 + 1e-12).all()
    assert distance.max() > 0.8 * lam * d**0.5  # some come near the edge
    assert torch.allclose(distance, draws["radius"].double() * lam * d**0.5, rtol=0, atol=1e-12)
    cosine = torch.nn.functional.cosine_similarity(offset, draws["direction"], dim=1)
    assert torch.allclose(cosine, torch.ones_like(cosine))


def test_eps_greedy_explores_exactly_when_the_draw_is_below_epsilon():
    """A candidate is a fresh draw with probability epsilon: explore iff its U[0, 1) draw is
    < epsilon. With epsilon set to one candidate's own draw, that candidate exploits (a draw
    equal to epsilon is not below it) and those with smaller draws explore."""
    _, draws = eps_greedy_first_step(0.5, 0.3)
    epsilon = float(draws["explore"][0])
    chosen, draws = eps_greedy_first_step(epsilon, 0.3)
    explored = (chosen == draws["fresh"]).all(1)
    assert explored.tolist() == (draws["explore"] < epsilon).tolist()
    assert not explored[0] and 0 < explored.sum() < len(explored)


def test_eps_greedy_keep_best_keeps_the_first_of_equal_scores():
    """``keep_best``: the pivot moves only to a strictly better candidate, so under a constant
    reward the step keeps its first candidate (ties keep the earlier, as best_per_problem does)."""
    from noisesearch.noise import NoiseSource

    process = gmm_process(steps=2, sampler="sde")
    result = ns.search(process, lambda x, c: torch.zeros(len(x), dtype=torch.float64), [0, 1],
                       algorithm="eps-greedy", n=2, k=3, epsilon=1.0, keep_best=True, seed=1, **EVERY_STEP)
    first = NoiseSource(process, 1, [0, 1]).steps([(p, ("eg", 0, 0, 0, "fresh")) for p in range(2)])
    assert torch.equal(torch.cat([p.noises["steps"][:, 0] for p in result]), first)


def test_map_path_keeps_a_renoising_by_one_state_and_the_steps_after_it():
    """Every move of the path is mapped (a re-noising to the nearest state above, each step down
    to the nearest below), also a re-noising back by a single state of the other schedule."""
    from noisesearch.algorithms.trajectory import map_path, steps_taken

    coarse = torch.tensor([1.0, 0.6, 0.3, 0.0], dtype=torch.float64)
    fine = torch.linspace(1, 0, 7, dtype=torch.float64)
    assert map_path([0, 1, 2, 3, 2, 3], coarse, fine) == [0, 1, 2, 3, 4, 5, 6, 4, 5, 6]
    uneven = torch.tensor([1.0, 0.8, 0.7, 0.6, 0.3, 0.0], dtype=torch.float64)  # .6 -> 3, .3 -> 4
    mapped = map_path([0, 1, 2, 1, 2, 3], coarse, uneven)
    assert mapped == [0, 1, 2, 3, 4, 3, 4, 5]
    assert steps_taken(mapped) == 6


def test_follow_path_refuses_a_move_that_is_neither_a_step_nor_a_renoising():
    """A path moves one step down or re-noises up; a path of re-noisings only takes no step, so
    there is no clean prediction (None)."""
    from noisesearch.algorithms.trajectory import follow_path

    process = gmm_process(steps=4, sampler="ode")
    x = torch.zeros(2, 2, dtype=torch.float64)
    cond = process.encode([0, 1])
    renoise = torch.ones(2, 1, 2, dtype=torch.float64)
    moved, x0 = follow_path(process, x, cond, [3, 1], renoise_noises=renoise)
    assert x0 is None and torch.equal(moved, process.renoise(x, 3, 1, renoise[:, 0]))
    for path in ([1, 1], [0, 2]):
        with pytest.raises(ValueError, match="one step down or re-noises up"):
            follow_path(process, x, cond, path, renoise_noises=renoise)


def test_sample_regenerates_in_the_process_dtype_from_noises_kept_in_another():
    """``sample`` moves the saved noises (x_T, step and re-noising noises) to the process's device
    and dtype: float64 noises regenerate a float32 process's sample exactly as float32 ones do."""
    from noisesearch.algorithms.trajectory import sample

    process = gmm_process(steps=4, sampler="sde")
    mixture = process.denoiser  # the same mixture, computed in float32
    mixture.means, mixture.stds, mixture.weights = (t.float() for t in (mixture.means, mixture.stds,
                                                                        mixture.weights))
    mixture.dtype = torch.float32
    assert process.dtype == torch.float32
    generator = torch.Generator().manual_seed(0)
    noises = {"x_T": torch.randn(3, 2, generator=generator),
              "steps": torch.randn(3, 5, 2, generator=generator),
              "renoise": torch.randn(3, 1, 2, generator=generator)}
    cond = process.encode([0, 1, "any"])
    path = [0, 1, 2, 1, 2, 3, 4]
    expected = sample(process, noises, cond, path)
    assert expected.dtype == torch.float32
    as_float64 = {k: v.double() for k, v in noises.items()}
    assert torch.equal(sample(process, as_float64, cond, path), expected)


@pytest.mark.parametrize("failing", ["all", "nan-gradient"])
def test_noise_gradient_does_not_move_the_noise_of_a_failed_candidate(failing):
    """A failed candidate (NaN score) is not moved, also when every candidate of the iteration
    failed (no gradient at all) or when its failure makes the reward's gradient NaN too
    (sqrt of a negative number): its next iterate is scored at the same noise."""
    process = gmm_process(dim=3, steps=4, sampler="ode")
    calls = []

    def reward(x, c):
        scores = x.sum(1)
        if not calls:  # the first iteration fails: every row, or the second row through sqrt(< 0)
            first_ok = 0 if failing == "all" else 1
            scores = torch.cat([scores[:first_ok], (-scores[first_ok:].abs() - 1).sqrt()])
        calls.append(1)
        return scores

    result = ns.search(process, CallableVerifier(reward, "sum", True), [0, 1], algorithm="noise-gradient",
                       iterations=2, seed=0)
    first = ns.search(process, lambda x, c: x.sum(1), [0, 1], algorithm="random", n=1, seed=0)
    failed = [0, 1] if failing == "all" else [1]
    for p in failed:
        assert result[p].history[0][1] == -float("inf")
        assert result[p].history[1][1] == first[p].best_score  # iterate 1 is the start again
        assert torch.equal(result[p].noises["x_T"], first[p].noises["x_T"])
    if failing != "all":
        assert result[0].best_score > first[0].best_score
