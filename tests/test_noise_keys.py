"""Keyed-noise schemes (``noise.py``): scheme 1 (0.1.0's torch generator) keeps 32 bits of a key's
seed, so distinct keys can draw the same noise; scheme 2 (a PCG64 seeded with a 256-bit hash)
gives distinct keys distinct noise. A run records its scheme, and one written by 0.1.0 reads
as scheme 1 with its algorithm's legacy options."""

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import noisesearch.noise as noise_module
from noisesearch.algorithms import ALGORITHMS
from noisesearch.errors import InputError
from noisesearch.noise import NOISE_SCHEME, NoiseSource, key_seed, keyed_normal, keyed_uniform
from noisesearch.processes import gmm_process
from noisesearch.search_run import search_to_folder
from noisesearch.spec import RunSpec

OLD_PATHS = Path(__file__).parent / "data" / "runs_0.1.0" / "gmm-paths"


def colliding_keys() -> tuple[tuple, tuple]:
    """Two keys ``(0, i, "x_T")`` whose scheme-1 seeds agree modulo 2**32 (a birthday search:
    among n keys about n² / 2**33 pairs agree, so a few hundred thousand suffice)."""
    seen: dict[int, tuple] = {}
    for i in range(2_000_000):
        key = (0, i, "x_T")
        low = key_seed(key) & 0xFFFFFFFF
        if low in seen:
            return seen[low], key
        seen[low] = key
    raise AssertionError("no two seeds agree in their low 32 bits")


def test_scheme_1_repeats_noise_for_distinct_keys_and_scheme_2_does_not():
    a, b = colliding_keys()
    assert a != b and key_seed(a) != key_seed(b) and (key_seed(a) - key_seed(b)) % 2**32 == 0
    old = keyed_normal([a, b], (64,), scheme=1)
    assert torch.equal(old[0], old[1])  # torch's CPU generator keeps the low 32 bits of its seed
    assert torch.equal(keyed_uniform([a], (8,), scheme=1), keyed_uniform([b], (8,), scheme=1))
    new = keyed_normal([a, b], (64,), scheme=2)
    assert not torch.equal(new[0], new[1])
    assert not torch.equal(keyed_uniform([a], (8,), scheme=2), keyed_uniform([b], (8,), scheme=2))


def test_scheme_2_is_the_default_and_rows_depend_on_their_key_only():
    keys = [(0, p, "x_T", n) for p in range(3) for n in range(4)]
    full = keyed_normal(keys, (5,))
    assert torch.equal(full, keyed_normal(keys, (5,), scheme=2)) and NOISE_SCHEME == 2
    assert torch.equal(keyed_normal(keys[5:6], (5,))[0], full[5])
    assert torch.equal(keyed_normal(keys[::-1], (5,)), full.flip(0))
    in_other_batch = keyed_normal([(9, 9, "other", 0), keys[7], (1, 1, "x", 1)], (5,))
    assert torch.equal(in_other_batch[1], full[7])
    uniform = keyed_uniform(keys, (3,))
    assert torch.equal(keyed_uniform(keys[2:4], (3,)), uniform[2:4])
    # rows are drawn in float32, then cast
    assert torch.equal(keyed_normal(keys, (5,), dtype=torch.float64), full.double())
    assert keyed_normal([], (5,)).shape == (0, 5) and keyed_uniform([], (2,)).shape == (0, 2)
    with pytest.raises(ValueError, match="unknown noise scheme 3"):
        keyed_normal(keys, (5,), scheme=3)


def test_scheme_2_draws_are_stable_across_processes():
    # noise.py in a fresh process (the package imports nothing heavier before it: lazy.py)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from noisesearch import noise; "
            "print(noise.keyed_normal([(3, 'step', 7)], (6,))[0].tolist(), "
            "noise.keyed_uniform([(3, 'u')], (4,))[0].tolist())")
    source = str(Path(noise_module.__file__).parents[1])
    out = subprocess.run([sys.executable, "-c", code, source], capture_output=True, text=True, check=True)
    here = f"{keyed_normal([(3, 'step', 7)], (6,))[0].tolist()} {keyed_uniform([(3, 'u')], (4,))[0].tolist()}"
    assert out.stdout.strip() == here


def test_scheme_2_draws_are_standard_normal_and_uniform():
    x = keyed_normal([(0, i) for i in range(2000)], (16,))
    assert x.dtype == torch.float32
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1.0) < 0.01
    assert abs(float((x**4).mean()) - 3.0) < 0.1  # Gaussian kurtosis
    u = keyed_uniform([(0, "u", i) for i in range(2000)], (16,))
    assert u.dtype == torch.float32 and 0 <= float(u.min()) and float(u.max()) < 1
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005


def test_noise_source_draws_in_its_scheme():
    process = gmm_process(steps=3, sampler="sde")
    keys = [(7, 10, "x_T", 0)]
    for scheme in (1, 2):
        source = NoiseSource(process, seed=7, ids=[10], scheme=scheme)
        noises, _ = source.trajectories([(0, (0,))])
        assert torch.equal(noises["x_T"], process.prior(keys, scheme))
        assert torch.equal(noises["steps"][0], process.step_noise([(7, 10, "step", 0, i) for i in range(3)],
                                                                   scheme))
        assert torch.equal(source.uniform([(0, ("u",))]), keyed_uniform([(7, 10, "u")], scheme=scheme))
    assert NoiseSource(process, 7, [10]).scheme == 2
    assert not torch.equal(process.prior(keys, 1), process.prior(keys, 2))


def test_a_config_without_noise_is_scheme_1_with_legacy_options(monkeypatch):
    old = json.loads((OLD_PATHS / "config.json").read_text())
    assert "noise" not in old
    assert RunSpec.from_json(old).noise == 1
    assert RunSpec.from_json({**old, "noise": 2}).noise == 2
    assert RunSpec(model="gmm").noise == 2 and RunSpec(model="gmm").to_json()["noise"] == 2
    # an option added since 0.1.0 takes its legacy value in an old config only
    monkeypatch.setattr(ALGORITHMS["paths"], "legacy", {"added_since": 5, "m": 99})
    assert RunSpec.from_json(old).options == {**old["options"], "added_since": 5}  # m is the config's
    assert "added_since" not in RunSpec.from_json({**old, "noise": 1}).options
    assert "added_since" not in RunSpec.from_json({**old, "noise": 2}).options
    assert ALGORITHMS["random"].legacy == {}


def test_a_folder_is_resumed_only_with_its_noise_scheme(tmp_path):
    spec = RunSpec(model="gmm", verifier="brightness", options={"n": 2}, conditions=[0, 1], judges=[])
    out = tmp_path / "run"
    search_to_folder(out, spec, progress=False)
    assert json.loads((out / "config.json").read_text())["noise"] == 2
    search_to_folder(out, spec, resume=True, progress=False)
    with pytest.raises(InputError, match=r"differs in noise\)") as refused:
        search_to_folder(out, replace(spec, noise=1), resume=True, progress=False)
    assert "\n" not in str(refused.value)
    with pytest.raises(InputError, match="unknown noise scheme `noise=3`"):
        search_to_folder(tmp_path / "other", replace(spec, noise=3), progress=False)


def test_a_run_of_0_1_0_resumes_from_the_command_line_as_it_ran(tmp_path, capsys):
    from test_replay_earlier_runs import records

    from noisesearch.cli import main

    out = tmp_path / "gmm-paths"
    shutil.copytree(OLD_PATHS, out)
    lines = (OLD_PATHS / "results.jsonl").read_text().splitlines(keepends=True)
    (out / "results.jsonl").write_text(lines[0])  # the others left to compute
    argv = ["search", "--model", "gmm", "--model-option", "dim=2", "--model-option", "components=3",
            "--model-option", "mixture_seed=0", "--steps", "12", "--sampler", "ode",
            "--verifier", "brightness", "--algorithm", "paths", "--condition", "0,1,-1", "--no-progress",
            "--out", str(out)]
    assert main([*argv, "--resume"]) == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert "noise" not in config  # the folder's config is left as it was
    assert records(out) == records(OLD_PATHS)
