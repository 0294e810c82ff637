"""torch.compile of the denoiser, the network's precision, and the threads a process uses."""

import json

import pytest
import torch

import noisesearch as ns
from noisesearch.algorithms.trajectory import sample
from noisesearch.cli import main
from noisesearch.errors import InputError
from noisesearch.threads import cgroup_cores, cores_owned, default_threads, use_threads

CONDITIONS = [0, 1, 2]


def winners(process, algorithm: str, budget: int, **options):
    """(candidate picked, its score) per condition of a search on ``process``."""
    verifier = ns.load_verifier("brightness" if process.name == "gmm" else "digits-classifier")
    result = ns.load_algorithm(algorithm, **options).run(process, verifier, CONDITIONS, budget=budget, seed=3)
    return [(p.recipe, p.best_score) for p in result.problems]


def same_winners(eager, compiled, tol):
    assert [recipe for recipe, _ in eager] == [recipe for recipe, _ in compiled]
    for (_, a), (_, b) in zip(eager, compiled, strict=True):
        assert abs(a - b) <= tol * max(1.0, abs(a))


@pytest.mark.parametrize("algorithm, options", [("random", {}), ("eps-greedy", {"k": 3})])
def test_compiled_and_eager_gmm_searches_pick_the_same_winners(algorithm, options):
    eager = ns.load_process("gmm", steps=10)
    compiled = ns.load_process("gmm", steps=10, compile=True)
    assert compiled.denoiser.compiled and compiled.options()["compile"] is True
    assert "compile" not in eager.options()
    budget = 80 if algorithm == "random" else 69
    picked = [winners(process, algorithm, budget, **options) for process in (eager, compiled)]
    same_winners(*picked, tol=1e-9)


def test_compiled_and_eager_digits_searches_pick_the_same_winners(digits):
    compiled = ns.load_process("digits", steps=8, compile=True)
    same_winners(winners(digits, "random", 8 * 2 * 4), winners(compiled, "random", 8 * 2 * 4), tol=1e-4)


def test_a_compiled_run_records_compile_and_replays(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["search", "--model", "gmm", "--steps", "8", "-c", "0,1", "--set", "n=4", "--compile",
                 "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["process"]["compile"] is True
    assert main(["replay", str(out)]) == 0
    assert "all 2 winners reproduced exactly" in capsys.readouterr().out


@pytest.mark.parametrize("dtype, torch_dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_half_precision_network_keeps_the_state_noise_and_images_in_fp32(dtype, torch_dtype):
    full = ns.load_process("digits", steps=4, micro_batch=4)
    half = ns.load_process("digits", steps=4, micro_batch=4, dtype=dtype)
    assert next(half.denoiser.unet.parameters()).dtype == torch_dtype
    assert half.dtype == torch.float32 and half.options()["dtype"] == dtype and "dtype" not in full.options()
    keys = [(0, p, "x_T", 0) for p in range(2)]
    assert torch.equal(half.prior(keys), full.prior(keys))  # keyed noise: the same draws in any precision
    noises = {"x_T": full.prior(keys), "steps": full.step_noise([(0, p, "s", 0) for p in range(2)])
              .unsqueeze(1).repeat(1, full.steps, 1, 1, 1)}
    cond = full.encode([3, 7])
    exact, reduced = sample(full, noises, cond), sample(half, noises, cond)
    assert reduced.dtype == torch.float32 and torch.isfinite(reduced).all()
    assert (exact - reduced).abs().mean() < 0.05  # the same images, up to the network's rounding


def test_a_half_precision_run_replays(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["search", "--model", "digits", "--steps", "3", "-c", "5", "--set", "n=2", "--dtype", "bf16",
                 "--model-option", "micro_batch=4", "--no-progress", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["process"]["dtype"] == "bf16"
    assert main(["replay", str(out)]) == 0
    assert "all 1 winners reproduced exactly" in capsys.readouterr().out


def test_an_unknown_dtype_is_named_with_the_valid_ones():
    with pytest.raises(InputError, match="unknown dtype 'fp8'; valid: fp32, fp16, bf16"):
        ns.load_process("digits", steps=4, dtype="fp8")


@pytest.mark.parametrize("text, cores", [("max 100000", None), ("200000 100000", 2), ("150000 100000", 2),
                                         ("50000 100000", 1)])
def test_a_cgroup_quota_caps_the_cores(tmp_path, text, cores):
    (tmp_path / "cpu.max").write_text(text + "\n")
    assert cgroup_cores(tmp_path / "cpu.max", (tmp_path / "none", tmp_path / "none")) == cores


def test_cgroup_v1_quota_and_no_cgroup(tmp_path):
    quota, period = tmp_path / "quota", tmp_path / "period"
    quota.write_text("300000\n")
    period.write_text("100000\n")
    assert cgroup_cores(tmp_path / "absent", (quota, period)) == 3
    quota.write_text("-1\n")
    assert cgroup_cores(tmp_path / "absent", (quota, period)) is None
    assert cgroup_cores(tmp_path / "absent", (tmp_path / "absent", period)) is None


def test_threads_default_to_omp_num_threads_else_the_cores_owned(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == cores_owned() >= 1
    before = torch.get_num_threads()
    try:
        assert use_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_threads_below_one_are_refused(capsys):
    assert main(["search", "--model", "gmm", "-c", "0", "--threads", "0", "--no-progress"]) == 2
    assert "error: --threads must be >= 1, got 0" in capsys.readouterr().err
