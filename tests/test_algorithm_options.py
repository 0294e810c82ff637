"""Options and sizing shared by every algorithm: each option's valid range (the edge value
accepted, the first invalid one refused with a message naming the option), budgets met by
``plan``/``within``/``at_budget``/``default_budget``, and ``parse_options``' typing."""

import pytest

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS, parse_options
from noisesearch.errors import InputError
from noisesearch.processes import DenoisingProcess, gmm_process
from noisesearch.processes.gmm import MixtureEps
from noisesearch.verifiers.base import CallableVerifier

# (algorithm, the edge value accepted, the first value refused, a word of the message)
EDGES = [
    ("random", {"max_batch": 1}, {"max_batch": 0}, "max_batch"),
    ("random", {"top_k": 1}, {"top_k": 0}, "top_k"),
    ("zero-order", {"n": 1}, {"n": 0}, "n must"),
    ("zero-order", {"iterations": 1}, {"iterations": 0}, "iterations"),
    ("zero-order", {"tau": 0.999}, {"tau": 1.0}, "tau"),
    ("zero-order", {"tau": 0.001}, {"tau": 0.0}, "tau"),
    ("zero-order", {"radius": 0.001}, {"radius": 0.0}, "radius"),
    ("zero-order", {"neighbourhood": "ball"}, {"neighbourhood": "cube"}, "valid: sphere, ball"),
    ("zero-order", {"on_stall": "stay"}, {"on_stall": "wait"}, "valid: restart, stay"),
    ("ses", {"population": 1}, {"population": 0}, "population must"),
    ("ses", {"elite_fraction": 1.0}, {"elite_fraction": 1.001}, "elite_fraction"),
    ("ses", {"iterations": 1}, {"iterations": 0}, "iterations"),
    ("ses", {"level": 1}, {"level": 0}, "level must"),
    ("ses", {"wavelet": "sym4"}, {"wavelet": "bior2.2"}, "valid: db1"),
    ("noise-gradient", {"iterations": 1}, {"iterations": 0}, "iterations"),
    ("noise-gradient", {"lr": 1e-6}, {"lr": 0.0}, "lr > 0"),
    ("noise-gradient", {"grad_clip": 1e-6}, {"grad_clip": 0.0}, "grad_clip > 0"),
    ("noise-gradient", {"reg_weight": 0.0}, {"reg_weight": -1e-6}, "reg_weight >= 0"),
    ("paths", {"n": 1}, {"n": 0}, "n must"),
    ("paths", {"m": 1}, {"m": 0}, "m must"),
    ("eps-greedy", {"n": 1}, {"n": 0}, "n and k"),
    ("eps-greedy", {"k": 1}, {"k": 0}, "n and k"),
    ("eps-greedy", {"epsilon": 1.0}, {"epsilon": 1.001}, "epsilon"),
    ("eps-greedy", {"epsilon": 0.0}, {"epsilon": -0.001}, "epsilon"),
    ("eps-greedy", {"lam": 0.0}, {"lam": -0.001}, "lam"),
    ("beam", {"b": 1}, {"b": 0}, "b and n"),
    ("beam", {"n": 1}, {"n": 0}, "b and n"),
    ("svdd", {"m": 1}, {"m": 0}, "m must"),
    ("mcts", {"n": 1}, {"n": 0}, "n >= 1"),
    ("mcts", {"s": 0}, {"s": -1}, "s >= 0"),
    ("smc", {"k": 1}, {"k": 0}, "k >= 1"),
    ("smc", {"every": 0}, {"every": -1}, "every >= 0"),
    ("smc", {"potential": "sum"}, {"potential": "min"}, "valid: max, sum, difference"),
    ("smc", {"start": 0.5, "end": 0.5}, {"start": 0.6, "end": 0.5}, "start <= end"),
    ("smc", {"start": 0.0}, {"start": -0.1}, "start"),
    ("smc", {"end": 1.0}, {"end": 1.1}, "end <= 1"),
    ("paths", {"sigma_start": 0.001, "unit": "vp"}, {"sigma_start": 0.0, "unit": "vp"},
     r"`sigma_start` in unit vp must be in \(0, 1\]"),
    ("paths", {"delta_f": 1.0, "unit": "vp"}, {"delta_f": 0.0, "unit": "vp"},
     r"`delta_f` in unit vp must be in \(0, 1\]"),
    ("paths", {"delta_b": 1.0, "unit": "vp"}, {"delta_b": 1.001, "unit": "vp"}, "`delta_b`"),
    ("eps-greedy", {"window_lo": 0.0}, {"window_lo": -0.001},
     r"`window_lo` in unit edm must be in \[0, inf\]"),
    ("eps-greedy", {"window_lo": 1.0, "window_hi": 1.0}, {"window_lo": 1.001, "window_hi": 1.0},
     "window_lo <= window_hi"),
]


@pytest.mark.parametrize("algorithm, valid, invalid, message", EDGES)
def test_each_option_accepts_its_edge_and_refuses_past_it(algorithm, valid, invalid, message):
    process = gmm_process(steps=6, sampler="sde")
    ns.load_algorithm(algorithm, **valid).check(process, budget=100_000)
    with pytest.raises(InputError, match=message):
        ns.load_algorithm(algorithm, **invalid).check(process, budget=100_000)


def test_random_search_is_sized_by_its_budget_or_n():
    process = gmm_process(steps=5, sampler="ode")
    random = ns.load_algorithm("random")
    assert random.plan(process, 23).size == 4 and random.plan(process, 23).nfe == 20
    assert random.plan(process, 5).size == 1
    with pytest.raises(InputError, match="valid: a budget >= 5"):
        random.plan(process, 4)
    assert random.default_budget(process) == 16 * 5
    fixed = ns.load_algorithm("random", n=3)
    assert fixed.plan(process, None).nfe == 15 and fixed.default_budget(process) is None
    with pytest.raises(InputError, match="spends 15 NFEs per condition, more than the budget of 14"):
        fixed.plan(process, 14)
    assert fixed.plan(process, 15).size == 3
    with pytest.raises(InputError, match="n must be >= 1"):
        ns.load_algorithm("random", n=0).plan(process, None)


@pytest.mark.parametrize("name", ["eps-greedy", "zero-order-steps", "beam", "svdd", "smc"])
def test_at_budget_takes_the_largest_size_that_fits(name):
    process = gmm_process(steps=6, sampler="sde")
    algorithm = ns.load_algorithm(name)
    option, least = algorithm.scaled
    smallest = ns.load_algorithm(name, **{option: least}).plan(process, None).nfe
    for budget in (smallest, smallest + 1, 3 * smallest + 7, 10 * smallest):
        sized = algorithm.at_budget(process, budget)
        value = getattr(sized, option)
        assert sized.plan(process, None).nfe <= budget
        assert ns.load_algorithm(name, **{option: value + 1}).plan(process, None).nfe > budget
    assert getattr(algorithm.at_budget(process, smallest), option) == least
    with pytest.raises(InputError, match=f"valid: a budget >= {smallest}"):
        algorithm.at_budget(process, smallest - 1)
    assert algorithm.default_budget(process) is None  # their options fix the work


def test_options_are_parsed_to_their_types_and_unknown_ones_named():
    eps = ALGORITHMS["eps-greedy"]
    assert parse_options(eps, ["n=6", "epsilon=0.25", "keep_best=yes", "max-batch=7"]) == {
        "n": 6, "epsilon": 0.25, "keep_best": True, "max_batch": 7}
    assert parse_options(eps, ["keep_best=0"]) == {"keep_best": False}
    assert parse_options(ALGORITHMS["random"], ["n=None"]) == {"n": None}
    assert parse_options(ALGORITHMS["random"], ["n=16"]) == {"n": 16}  # an optional int
    for raw, value in [("true", True), ("1", True), ("yes", True), ("True", True),
                       ("false", False), ("0", False), ("no", False), ("NO", False)]:
        assert parse_options(eps, [f"keep_best={raw}"]) == {"keep_best": value}
    assert parse_options(ALGORITHMS["zero-order"], ["neighbourhood=a=b"]) == {"neighbourhood": "a=b"}
    assert parse_options(ALGORITHMS["zero-order"], ["neighbourhood= ball "]) == {"neighbourhood": "ball"}
    with pytest.raises(InputError, match="option n of eps-greedy takes int, got 'many'"):
        parse_options(eps, ["n=many"])
    with pytest.raises(InputError, match="option keep_best of eps-greedy takes bool, got 'maybe'"):
        parse_options(eps, ["keep_best=maybe"])
    with pytest.raises(InputError, match="has no option 'size'; valid: max_batch, top_k, n, k"):
        parse_options(eps, ["size=3"])
    with pytest.raises(InputError, match="KEY=VALUE, got 'n'"):
        parse_options(eps, ["n"])


class GuidedCountingMixture(MixtureEps):
    """The mixture billed as a guided model: every prediction costs 2 NFEs; rows are counted."""

    nfe_per_call = 2
    rows = 0

    def prediction(self, x, at, cond):
        self.rows += len(x)
        return super().prediction(x, at, cond)


SIZES = {"random": {"n": 3}, "zero-order": {"iterations": 2, "n": 2}, "paths": {"n": 2, "m": 2},
         "ses": {"iterations": 2, "population": 2},
         "noise-gradient": {"iterations": 2}, "eps-greedy": {"k": 2}, "zero-order-steps": {"k": 2},
         "beam": {}, "svdd": {}, "mcts": {"s": 2}, "smc": {}}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_plans_and_ledgers_count_two_nfes_per_guided_prediction(name):
    algorithm = ns.load_algorithm(name, **SIZES[name])
    sampler = algorithm.sampler or "sde"
    process = DenoisingProcess(GuidedCountingMixture(), gmm_process(steps=6, sampler=sampler).sampling)
    plan = algorithm.plan(process, None)
    if algorithm.scaled is not None:
        assert plan.size == getattr(algorithm, algorithm.scaled[0])
    result = ns.search(process, CallableVerifier(lambda x, c: x.sum(1), "sum", True), [0, "any"],
                       algorithm=algorithm, seed=0)
    forward = 2 * process.denoiser.rows
    if name == "noise-gradient":  # and a backward pass (twice a forward) through the first of 2 iterations
        assert result.totals["nfe"] == forward + 2 * forward / 2
    else:
        assert result.totals["nfe"] == forward
    for problem in result:
        if name == "mcts":  # its plan is what the deepest tree would cost
            assert 0 < problem.nfe <= plan.nfe
        else:
            assert problem.nfe == plan.nfe
    with pytest.raises(InputError, match=f"(budget`? (of )?{plan.nfe - 1})"):
        algorithm.plan(process, plan.nfe - 1)


def test_unknown_algorithms_are_named_with_the_valid_ones():
    with pytest.raises(InputError, match=r"^unknown algorithm 'best-of-n'; valid: random, zero-order, "):
        ns.load_algorithm("best-of-n")


def test_run_checks_the_verifier_and_defaults_to_seed_0_quietly(capfd):
    """``Algorithm.run`` (and ``check``) refuse a verifier the algorithm cannot use before
    anything runs; a run without a seed is seed 0's and shows no progress bar unless asked."""
    process = gmm_process(steps=3, sampler="ode")
    plain = CallableVerifier(lambda x, c: x.sum(1), "sum", differentiable=False)
    gradient = ns.load_algorithm("noise-gradient", iterations=2)
    for call in (lambda: gradient.check(process, plain), lambda: gradient.run(process, plain, [0])):
        with pytest.raises(InputError, match="differentiable verifier; 'sum'"):
            call()
    random = ns.load_algorithm("random", n=3)
    verifier = CallableVerifier(lambda x, c: x.sum(1), "sum")
    default = random.run(process, verifier, [0, 1])
    assert [p.recipe["seed"] for p in default] == [0, 0]
    seeded = random.run(process, verifier, [0, 1], seed=0)
    assert [p.best_score for p in default] == [p.best_score for p in seeded]
    assert capfd.readouterr().err == ""


def test_a_progress_bar_counts_the_planned_nfes_of_every_problem(capfd):
    """With ``progress``, the bar (named after the algorithm) totals the planned NFEs of all
    problems, plus the full-step regeneration of the winners when the search steps are cheap."""
    process = gmm_process(steps=6, sampler="ode")
    verifier = CallableVerifier(lambda x, c: x.sum(1), "sum")
    random = ns.load_algorithm("random", n=3)
    random.run(process, verifier, [0, 1], progress=True)
    err = capfd.readouterr().err
    assert "random" in err and "/36 " in err  # 2 problems x 3 candidates x 6 steps
    cheap = ns.load_algorithm("random", n=3, search_steps=2)
    result = cheap.run(process, verifier, [0, 1], progress=True)
    err = capfd.readouterr().err
    assert [p.nfe for p in result] == [3 * 2 + 6] * 2
    assert "/12 " in err and "/24 " in err  # the search's 2 x 3 x 2, then the regenerations' 2 x 6 added


def test_cheap_search_steps_range_from_one_and_the_budget_pays_the_regeneration_too():
    """``search_steps`` may be 1 (one-step candidates); a budget must pay the search's least spend
    plus the winner's regeneration at full steps, and the message says so."""
    process = gmm_process(steps=6, sampler="ode")
    one_step = ns.load_algorithm("random", n=2, search_steps=1)
    assert one_step.check(process, budget=None).nfe == 2
    zero_order = ns.load_algorithm("zero-order", search_steps=2)
    assert zero_order.plan(process, 2 + 6).nfe == 2
    with pytest.raises(InputError, match=r"needs at least 2 NFEs plus 6 to regenerate the winner "
                                         r"at full steps; valid: a budget >= 8$"):
        zero_order.plan(process, 7)
    with pytest.raises(InputError, match=r"needs at least 6 NFEs; valid: a budget >= 6$"):
        ns.load_algorithm("zero-order").plan(process, 5)


def test_zero_order_plan_size_is_its_generations():
    """Zero-order's plan size counts generations: the budget's whole ones, or 1 + iterations x N."""
    process = gmm_process(steps=5, sampler="ode")
    by_budget = ns.load_algorithm("zero-order").plan(process, 52)
    assert by_budget == ns.algorithms.Plan(10, 50) and isinstance(by_budget.size, int)
    by_iterations = ns.load_algorithm("zero-order", n=3, iterations=2).plan(process, None)
    assert by_iterations == ns.algorithms.Plan(7, 35) and isinstance(by_iterations.size, int)
