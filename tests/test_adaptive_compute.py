"""Adaptive compute (algorithms/allocation.py): stop_at, patience and the run-wide allocator."""

import math

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.allocation import Allocator, StopRule
from noisesearch.errors import InputError
from noisesearch.processes import gmm_process

STEPS = 6


def process():
    return gmm_process(steps=STEPS, sampler="ode", components=4)


def reward(targets):
    """-||x - target(condition)||: conditions far from every sample of the mixture are hard."""
    def score(images, conditions):
        goal = torch.stack([targets[c] for c in conditions]).to(images)
        return -(images - goal).norm(dim=1)

    return score


MEANS = process().denoiser.means.float()
# conditions 0 and 1 aim at their component's mean (easy), 2 and 3 far from it (hard)
TARGETS = {0: MEANS[0], 1: MEANS[1], 2: MEANS[2] + torch.tensor([2.5, 2.5]),
           3: MEANS[3] - torch.tensor([3.0, 1.0])}


def first_reaching(history, threshold):
    """Index of the first candidate whose score reaches ``threshold`` (None if none does)."""
    return next((j for j, (_, s) in enumerate(history) if s >= threshold), None)


def test_stop_at_stops_each_condition_after_its_first_good_candidate():
    """Best-of-N's candidates are the same with or without stop_at, so a condition stops exactly
    after the first candidate of the full run that reaches the threshold."""
    full = ns.search(process(), reward(TARGETS), [0, 1, 2], n=12, seed=4)
    threshold = -0.9
    stopped = ns.search(process(), reward(TARGETS), [0, 1, 2], budget=12 * STEPS, seed=4, stop_at=threshold)
    for everything, early in zip(full, stopped, strict=True):
        j = first_reaching(everything.history, threshold)
        kept = 12 if j is None else j + 1
        assert early.nfe == kept * STEPS  # the ledger's count, one generation per candidate
        assert [s for _, s in early.history] == [s for _, s in everything.history[:kept]]
        assert early.best_score == max(s for _, s in everything.history[:kept])
    assert any(p.nfe < 12 * STEPS for p in stopped) and any(p.nfe == 12 * STEPS for p in stopped)


def test_patience_stops_a_condition_that_has_not_improved_for_its_share_of_the_budget():
    full = ns.search(process(), reward(TARGETS), [0, 1, 2, 3], n=16, seed=2)
    stopped = ns.search(process(), reward(TARGETS), [0, 1, 2, 3], budget=16 * STEPS, seed=2, patience=0.25)
    for everything, early in zip(full, stopped, strict=True):
        scores = [s for _, s in everything.history]
        kept, last_rise = 16, 0  # candidates: stop once 4 (0.25 x 16) have gone by without a rise
        for j, s in enumerate(scores):
            if s > max(scores[:j], default=-math.inf):
                last_rise = j + 1
            if j + 1 - last_rise >= 4:
                kept = j + 1
                break
        assert early.nfe == kept * STEPS, (scores, early.nfe)
    assert any(p.nfe < 16 * STEPS for p in stopped)


def test_rules_that_never_fire_change_nothing():
    plain = ns.search(process(), reward(TARGETS), [0, 1, 2], budget=8 * STEPS, seed=1, max_batch=5)
    ruled = ns.search(process(), reward(TARGETS), [0, 1, 2], budget=8 * STEPS, seed=1, max_batch=3,
                      stop_at=1.0, patience=2.0)
    for a, b in zip(plain, ruled, strict=True):
        assert a.nfe == b.nfe and a.history == b.history
        assert torch.equal(a.noises["x_T"], b.noises["x_T"])


def test_the_allocator_gives_hard_conditions_more_and_keeps_the_total():
    conditions = [0, 1, 2, 3]  # 0 and 1 lie in the mixture's mass, 2 and 3 far from it
    budget = 8 * STEPS
    result = ns.search(process(), reward(TARGETS), conditions, budget=budget, seed=0, allocate="halving")
    spent = [p.nfe for p in result]
    assert sum(spent) <= budget * len(conditions)
    assert sum(spent) >= budget * len(conditions) - STEPS  # nothing stops, so it is all spent
    assert min(spent[2], spent[3]) > max(spent[0], spent[1])
    assert all(n >= 2 * STEPS for n in spent)  # everybody's first share: a quarter of 8 generations


def test_ses_shares_a_run_wide_budget():
    budget = 12 * STEPS
    result = ns.search(process(), reward(TARGETS), [0, 1, 2, 3], algorithm="ses", budget=budget, seed=0,
                       allocate="halving", population=2)
    spent = [p.nfe for p in result]
    assert sum(spent) == 4 * budget and min(spent[2], spent[3]) > max(spent[0], spent[1])


def test_the_allocation_is_the_same_for_any_batch_size():
    runs = [ns.search(process(), reward(TARGETS), [0, 2, 1, 3], budget=6 * STEPS, seed=5, allocate="halving",
                      max_batch=b) for b in (1, 7, 64)]
    for other in runs[1:]:
        assert [p.nfe for p in other] == [p.nfe for p in runs[0]]
        assert [p.best_score for p in other] == [p.best_score for p in runs[0]]


def test_the_allocator_with_stop_at_returns_what_easy_conditions_leave():
    conditions = [0, 2, 3]
    budget = 8 * STEPS
    uniform = ns.search(process(), reward(TARGETS), conditions, budget=budget, seed=3)
    allocated = ns.search(process(), reward(TARGETS), conditions, budget=budget, seed=3, allocate="halving",
                          stop_at=-1.0)
    assert allocated[0].best_score >= -1.0 and allocated[0].nfe < budget  # easy: stopped early
    assert allocated[1].nfe + allocated[2].nfe > 2 * budget  # the hard ones got what it left
    assert sum(p.nfe for p in allocated) == budget * 3  # all of it, as the hard ones never stop
    for hard in (1, 2):  # a hard condition's candidates extend its own best-of-N numbering
        assert allocated[hard].best_score >= uniform[hard].best_score


def test_halving_grants_the_lower_half_of_those_still_improving():
    """Allocator.grant by hand: 6 conditions, unit 10, every first share 10."""
    allocator = Allocator(n_problems=6, total=120, unit=10)
    assert allocator.allowance == [10] * 6 and allocator.pool == 60
    best = [-1.0, -5.0, -3.0, -0.5, -4.0, -2.0]
    stopped = [False, False, False, False, True, False]  # 4 has stopped: it gets nothing
    assert allocator.grant(best, stopped, [10] * 6, 10)
    # open: 0, 1, 2, 3, 5; all improving (none has had a grant); lower half by score: 1, 2, 5
    assert allocator.allowance == [10, 20, 20, 10, 10, 20] and allocator.pool == 30
    best = [-1.0, -5.0, -2.5, -0.5, -4.0, -2.0]  # only 2 improved during its grant
    assert allocator.grant(best, stopped, [10] * 6, 10)
    # improving: 0, 3 (never granted), 2; lower half of those by score: 2 and 0
    assert allocator.allowance == [20, 20, 30, 10, 10, 20] and allocator.pool == 10
    best = [-1.0, -5.0, -2.5, -0.5, -4.0, -2.0]  # nobody improved: 3 still counts as never granted
    assert allocator.grant(best, stopped, [10] * 6, 10)
    assert allocator.allowance == [20, 20, 30, 20, 10, 20] and allocator.pool == 0
    assert allocator.grant(best, stopped, [10] * 6, 10) is False


def test_halving_sizes_its_grants_in_whole_rounds():
    allocator = Allocator.halving(n_problems=4, budget=48, round_nfe=6)  # a quarter of 48: 12, two rounds
    assert allocator.unit == 12 and allocator.allowance == [12] * 4 and allocator.pool == 4 * 48 - 48
    assert Allocator.halving(4, 50, 6).unit == 12  # a quarter, 12.5, rounded down to whole rounds
    assert Allocator.halving(4, 100, 30).unit == 30  # at least one round
    small = Allocator(n_problems=3, total=20, unit=10)  # less than a unit each: an even whole share
    assert small.allowance == [6, 6, 6] and small.pool == 2 and all(type(a) is int for a in small.allowance)


def test_a_grant_gives_what_is_left_when_the_pool_runs_short():
    allocator = Allocator(n_problems=4, total=41, unit=10)  # first shares 10, pool 1
    assert allocator.grant([-1.0, -2.0, -3.0, -4.0], [False] * 4, [10] * 4, 1) is True
    assert allocator.allowance == [10, 10, 10, 11] and allocator.pool == 0  # the lowest gets the last NFE
    allocator = Allocator(n_problems=6, total=70, unit=10)  # pool 10: one grant of the three due
    assert allocator.grant([-1.0, -2.0, -3.0, -4.0, -5.0, -6.0], [False] * 6, [10] * 6, 10) is True
    assert allocator.allowance == [10, 10, 10, 10, 10, 20]


def test_halving_falls_back_to_all_open_conditions_when_none_improves():
    allocator = Allocator(n_problems=4, total=80, unit=10)
    allocator.at_grant = [0.0, 0.0, 0.0, 0.0]
    best = [0.0, -3.0, -1.0, -2.0]  # no condition improved since its grant
    assert allocator.grant(best, [False] * 4, [10] * 4, 10)
    assert allocator.allowance == [10, 20, 10, 20]  # the lower half of all: 1 and 3
    assert not allocator.grant(best, [True] * 4, [10, 20, 10, 20], 10)  # everybody stopped
    assert allocator.pool == 20  # the rest is not spent


def test_halving_takes_back_what_stopped_conditions_left():
    allocator = Allocator(n_problems=3, total=60, unit=10)  # first shares 10, pool 30
    best = [0.0, -2.0, -1.0]
    assert allocator.grant(best, [True, False, False], [4, 10, 10], 2)
    # 0 stopped after 4 of its 10 NFEs: 6 go back to the pool (36), then 1 (the lower half) gets 10
    assert allocator.allowance == [4, 20, 10] and allocator.pool == 26


def test_stop_rule_by_hand():
    rule = StopRule(stop_at=0.5, patience=0.25, budget=100)
    assert rule.stopped(0.5, 10, 10)  # reached stop_at
    assert not rule.stopped(0.4, 34, 10)  # 24 NFEs without a rise, less than 25
    assert rule.stopped(0.4, 35, 10)
    assert not StopRule(None, None, 100).stopped(1e9, 10**6, 0)


@pytest.mark.parametrize("algorithm, options", [("zero-order", {}), ("ses", {"population": 4})])
def test_zero_order_and_ses_stop_too(algorithm, options):
    full = ns.search(process(), reward(TARGETS), [0, 2], algorithm=algorithm, budget=13 * STEPS, seed=0,
                     **options)
    early = ns.search(process(), reward(TARGETS), [0, 2], algorithm=algorithm, budget=13 * STEPS, seed=0,
                      stop_at=-2.0, **options)
    for a, b in zip(full, early, strict=True):
        assert b.nfe <= a.nfe
        assert b.history == a.history[:len(b.history)]  # the same search, cut short
        if b.nfe < a.nfe:
            assert b.best_score >= -2.0
    assert early[0].nfe < full[0].nfe


@pytest.mark.parametrize("options", [{"stop_at": 0.0}, {"patience": 0.5}, {"allocate": "halving"}])
def test_algorithms_that_cannot_stop_between_rounds_refuse_adaptive_options(options):
    with pytest.raises(InputError, match="cannot stop between rounds.*valid: random, zero-order, ses"):
        ns.load_algorithm("smc", **options)


def test_bad_adaptive_options_are_named():
    with pytest.raises(InputError, match="allocate 'greedy' is unknown; valid: uniform, halving"):
        ns.load_algorithm("random", allocate="greedy")
    with pytest.raises(InputError, match="patience"):
        ns.load_algorithm("random", patience=0.0)


def test_default_adaptive_options_are_not_recorded():
    assert "stop_at" not in ns.load_algorithm("random").options()
    options = ns.load_algorithm("random", allocate="halving", stop_at=0.5).options()
    assert options["allocate"] == "halving" and options["stop_at"] == 0.5


def test_command_line_budget_total_spreads_one_budget_over_the_run(capsys, tmp_path):
    import json

    from noisesearch.cli import main

    out = tmp_path / "run"
    code = main(["search", "--model", "gmm", "--steps", "5", "--sampler", "ode", "-c", "0,1,2,any",
                 "--budget-total", "100", "--stop-at", "0.9", "--out", str(out), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["budget"] == 25 and config["options"]["allocate"] == "halving"
    assert config["options"]["stop_at"] == 0.9
    spent = [json.loads(line)["nfe"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(spent) == 4 and sum(spent) <= 100


@pytest.mark.parametrize("argv, message", [
    (["--budget", "10", "--budget-total", "40"], "--budget and --budget-total both set"),
    (["--budget-total", "1"], "less than one NFE for each of the 2 conditions"),
    (["--algorithm", "smc", "--stop-at", "0.5"], "smc cannot stop between rounds"),
    (["--patience", "0"], "patience is a share of the budget > 0"),
])
def test_command_line_refuses_adaptive_options_it_cannot_honour(capsys, tmp_path, argv, message):
    from noisesearch.cli import main

    code = main(["search", "--model", "gmm", "--steps", "5", "-c", "0,1", *argv, "--out", str(tmp_path / "r"),
                 "--no-progress"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "r").exists()


def test_bench_methods_take_options_after_a_semicolon():
    from noisesearch.spec import BenchSpec, method_parts

    assert method_parts("random; allocate=halving;stop_at=-0.5") == ("random", {"allocate": "halving",
                                                                               "stop_at": -0.5})
    assert method_parts("smc") == ("smc", {})
    spec = BenchSpec("gmm", ["random", "random;allocate=halving"], [2]).resolve()
    assert spec.algorithms == ["random", "random;allocate=halving"]
    with pytest.raises(InputError, match="has no option 'bogus'"):
        BenchSpec("gmm", ["random;bogus=1"], [2]).resolve()
    with pytest.raises(InputError, match="smc' has no option 'allocate'"):  # only where it applies
        BenchSpec("gmm", ["smc;allocate=halving"], [2]).resolve()
    with pytest.raises(InputError, match="unknown algorithm|valid: random"):
        BenchSpec("gmm", ["randm;allocate=halving"], [2]).resolve()


def test_an_allocated_run_cut_short_is_not_resumed_part_way(tmp_path):
    from noisesearch.search_run import search_to_folder
    from noisesearch.spec import RunSpec

    out = tmp_path / "run"
    spec = RunSpec("gmm", {"steps": 5, "sampler": "ode"}, verifier="brightness",
                   options={"allocate": "halving"}, budget=20, conditions=[0, 1, 2])
    search_to_folder(out, spec, progress=False)
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:2]) + "\n")  # as if killed while writing
    with pytest.raises(InputError, match="cannot be resumed part way; valid: a new --out"):
        search_to_folder(out, spec, resume=True, progress=False)
    assert (out / "results.jsonl").read_text().count("\n") == 2  # nothing lost
