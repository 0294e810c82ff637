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
