import torch

import noisesearch as ns
from noisesearch.algorithms.trajectory import sample
from noisesearch.processes import DenoisingProcess, gmm_process
from noisesearch.processes.gmm import MixtureEps


class CountingMixture(MixtureEps):
    """Counts the rows the denoiser is evaluated on."""

    rows = 0

    def prediction(self, x, at, cond):
        self.rows += len(x)
        return super().prediction(x, at, cond)


def counting_gmm(steps: int, sampler: str = "sde") -> DenoisingProcess:
    return DenoisingProcess(CountingMixture(), gmm_process(steps=steps, sampler=sampler).sampling)


def distance_reward(target):
    calls = {"images": 0}

    def reward(images, conditions):
        calls["images"] += len(images)
        return -(images - target).norm(dim=1)

    return reward, calls


def test_ledger_counts_equal_the_calls_made():
    process = counting_gmm(steps=20)
    reward, calls = distance_reward(torch.tensor([1.0, 1.0]))
    result = ns.search(process, reward, [0, 1, "any"], n=7, max_batch=5, seed=3)
    assert process.denoiser.rows * process.nfe_per_step == result.totals["nfe"] == 3 * 7 * 20
    assert calls["images"] == result.totals["verifier_calls"] == 21
    assert [p.nfe for p in result] == [140, 140, 140]
    assert [p.verifier_calls for p in result] == [7, 7, 7]
    assert all(p.wall_s > 0 for p in result)


def test_budget_sets_n_and_is_never_exceeded():
    process = gmm_process(steps=10)
    reward, _ = distance_reward(torch.zeros(2))
    result = ns.search(process, reward, [0], budget=75, seed=0)
    assert result[0].nfe == 70 and len(result[0].history) == 7


def test_best_of_n_returns_the_best_it_scored():
    process = gmm_process(steps=15, sampler="sde")
    reward, _ = distance_reward(torch.tensor([0.5, -0.5]))
    result = ns.search(process, reward, [0, 2], n=16, max_batch=6, seed=1)
    for problem in result:
        scores = [s for _, s in problem.history]
        assert len(scores) == 16
        assert problem.best_score == max(scores)
        assert problem.top[0][0] == problem.best_score
        assert [s for s, _ in problem.top] == sorted(scores, reverse=True)[:8]
        regenerated = sample(process, problem.noises, process.encode([problem.condition]))
        assert torch.equal(regenerated[0], problem.best_image)
        assert float(reward(regenerated, [problem.condition])[0]) == problem.best_score
        nfes = [n for n, _ in problem.history]
        assert nfes == sorted(nfes) and nfes[-1] == problem.nfe
        curve = problem.best_so_far()
        assert all(b1 <= b2 for (_, b1), (_, b2) in zip(curve, curve[1:], strict=False))


def test_results_do_not_depend_on_batching_or_other_conditions():
    process = gmm_process(steps=12)
    reward, _ = distance_reward(torch.tensor([2.0, 0.0]))
    a = ns.search(process, reward, [0, 1, 2], n=9, max_batch=4, seed=5)
    b = ns.search(process, reward, [0, 1, 2], n=9, max_batch=1000, seed=5)
    alone = ns.search(process, reward, [2], n=9, seed=5, problem_ids=[2])
    assert [p.best_score for p in a] == [p.best_score for p in b]
    assert a[2].best_score == alone[0].best_score
    assert torch.equal(a[2].best_image, alone[0].best_image)
    other_seed = ns.search(process, reward, [0, 1, 2], n=9, seed=6)
    assert [p.best_score for p in other_seed] != [p.best_score for p in a]


def test_digits_search_is_batch_invariant_and_judged(digits):
    a = ns.search(digits, "digits-classifier", [3, 7], n=5, max_batch=3, seed=0)
    b = ns.search(digits, "digits-classifier", [3, 7], n=5, max_batch=64, seed=0)
    for pa, pb in zip(a, b, strict=True):
        assert pa.best_score == pb.best_score
        assert torch.equal(pa.best_image, pb.best_image)
        assert set(pa.judges["digits-evaluator"]) == {"target_prob", "accuracy"}
    replayed = sample(digits, a[1].noises, digits.encode([7]))
    assert torch.equal(replayed[0], a[1].best_image)


def test_callable_and_named_verifiers_agree(digits):
    named = ns.load_verifier("digits-classifier")
    images = torch.rand(4, 1, 16, 16)
    direct = ns.load_verifier(lambda im, c: named.score(im, c))
    assert torch.equal(named.score(images, [1, 2, 3, 4]), direct.score(images, [1, 2, 3, 4]))
    prob = ns.load_verifier("digits-classifier:prob").score(images, [1, 2, 3, 4])
    assert torch.allclose(prob.log(), named.score(images, [1, 2, 3, 4]), atol=1e-5)
