import subprocess
import sys

import torch

from noisesearch.noise import key_seed, keyed_normal


def test_row_depends_on_its_key_only():
    keys = [(0, p, "x_T", n) for p in range(3) for n in range(4)]
    full = keyed_normal(keys, (5,))
    assert torch.equal(keyed_normal(keys[5:6], (5,))[0], full[5])
    shuffled = keys[::-1]
    assert torch.equal(keyed_normal(shuffled, (5,)), full.flip(0))
    in_other_batch = keyed_normal([(9, 9, "other", 0), keys[7], (1, 1, "x", 1)], (5,))
    assert torch.equal(in_other_batch[1], full[7])


def test_distinct_keys_give_distinct_noise():
    a, b = keyed_normal([(0, 0, "x_T", 0), (0, 0, "x_T", 1)], (64,))
    assert not torch.equal(a, b)
    assert not torch.equal(keyed_normal([(1, 0, "x_T", 0)], (64,))[0], a)


def test_seed_is_stable_across_processes():
    code = "from noisesearch.noise import key_seed; print(key_seed((3, 'step', 7)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == key_seed((3, "step", 7))


def test_keyed_normal_is_standard_normal():
    x = keyed_normal([(0, i) for i in range(2000)], (16,))
    assert abs(float(x.mean())) < 0.01
    assert abs(float(x.std()) - 1.0) < 0.01


def test_noise_source_keys_trajectories_by_seed_problem_id_and_index():
    from noisesearch.noise import NoiseSource
    from noisesearch.processes import gmm_process

    process = gmm_process(steps=4, sampler="sde")
    source = NoiseSource(process, seed=7, ids=[10, 11])
    noises, keys = source.trajectories([(1, (3,)), (0, (0,))])
    assert keys[0] == {"x_T": [(7, 11, "x_T", 3)], "steps": [(7, 11, "step", 3, i) for i in range(4)]}
    assert torch.equal(noises["x_T"][0], process.prior([(7, 11, "x_T", 3)])[0])
    assert torch.equal(noises["steps"][0], process.step_noise([(7, 11, "step", 3, i) for i in range(4)]))
    # the initial states of a trajectory search are random search's candidates
    assert torch.equal(source.initial([(1, (3,))])[0], noises["x_T"][0])
    alone = NoiseSource(process, 7, [10])
    assert torch.equal(source.uniform([(0, ("u", 1))]), alone.uniform([(0, ("u", 1))]))
    ode = NoiseSource(gmm_process(steps=4, sampler="ode"), seed=7, ids=[10])
    assert set(ode.trajectories([(0, (0,))])[0]) == {"x_T"}  # an ODE step consumes no noise


def test_searches_start_from_random_search_candidates():
    """zero-order's first pivot and noise-gradient's first iterate are random search's first
    candidate, so at one generation's budget all three find the same sample."""
    import noisesearch as ns
    from noisesearch.processes import gmm_process
    from noisesearch.verifiers import CallableVerifier

    process = gmm_process(steps=5, sampler="ode")
    reward = CallableVerifier(lambda images, conditions: -images.pow(2).sum(1), differentiable=True)
    first = ns.search(process, reward, [0, 1], algorithm="random", n=1, seed=3, judges=[])
    for algorithm, options in (("zero-order", {"iterations": 1, "n": 1}),
                               ("noise-gradient", {"iterations": 1})):
        other = ns.search(process, reward, [0, 1], algorithm=algorithm, seed=3, judges=[], **options)
        for a, b in zip(first, other, strict=True):
            assert a.history[0][1] == b.history[0][1]  # the first candidate scored: the same noise
            if algorithm == "noise-gradient":  # one iteration: the first iterate is the winner
                assert torch.equal(a.noises["x_T"], b.noises["x_T"])
