"""Stable Diffusion through a diffusers pipeline (``sd:``), on a tiny random pipeline saved to a folder."""

import json

import pytest
import torch
from tiny_pipelines import tiny_sd, write_tiny_clip

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS
from noisesearch.algorithms.trajectory import sample
from noisesearch.cli import main
from noisesearch.processes import load_process

PROMPTS = ["a cat", "a dog"]


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    return tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.mark.parametrize("steps, guidance", [(5, 7.5), (3, 1.0)])
def test_ode_equals_the_pipeline_with_the_same_latents(sd_folder, steps, guidance):
    from diffusers import StableDiffusionPipeline

    process = load_process(f"sd:{sd_folder}", steps=steps, guidance=guidance)
    x_T = process.prior([(0, p, "x_T", 0) for p in range(len(PROMPTS))])
    ours = sample(process, {"x_T": x_T}, process.encode(PROMPTS))
    pipe = StableDiffusionPipeline.from_pretrained(str(sd_folder), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    reference = pipe(PROMPTS, latents=x_T.clone(), num_inference_steps=steps, guidance_scale=guidance,
                     output_type="pt").images
    assert ours.shape == reference.shape == (2, 3, 32, 32)
    assert (ours - reference).abs().max() <= 1e-4


def test_defaults_are_the_pipelines(sd_folder):
    process = load_process(f"sd:{sd_folder}")
    assert (process.steps, process.guidance, process.sampler) == (50, 7.5, "ode")
    assert process.nfe_per_step == 2 and process.sample_shape == (4, 16, 16)


def test_sde_step_equals_ddim_with_eta_one_and_the_same_variance_noise(sd_folder):
    from diffusers import DDIMScheduler

    process = load_process(f"sd:{sd_folder}", steps=5, sampler="sde")
    scheduler = DDIMScheduler.from_config(process.pipe.scheduler.config)
    scheduler.set_timesteps(5)
    cond = process.encode(PROMPTS)
    x = process.prior([(1, p, "x_T", 0) for p in range(2)])
    for i in range(process.steps):
        z = process.step_noise([(1, p, "step", i) for p in range(2)])
        x0, eps = process.predict(x, i, cond)
        ours = process.update(x, i, x0, eps, z)
        reference = scheduler.step(eps, scheduler.timesteps[i], x, eta=1.0, variance_noise=z).prev_sample
        assert torch.allclose(ours, reference, atol=1e-5), i
        x = ours


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_runs_on_sd(sd_folder, algorithm):
    process = load_process(f"sd:{sd_folder}", steps=3, sampler="ode" if algorithm in
                           ("random", "zero-order", "paths", "noise-gradient") else "sde")
    small = {"random": {"n": 2}, "zero-order": {"iterations": 1, "n": 2}, "paths": {"n": 2},
             "noise-gradient": {"iterations": 2}, "eps-greedy": {"k": 2}, "zero-order-steps": {"k": 2},
             "beam": {"b": 1, "n": 2}, "svdd": {"m": 2}, "mcts": {"s": 1}, "smc": {"k": 2}}[algorithm]
    result = ns.search(process, "brightness", PROMPTS, algorithm=algorithm, judges=[], **small)
    for p in result:
        assert p.best_image.shape == (3, 32, 32) and p.nfe > 0 and torch.isfinite(torch.tensor(p.best_score))


def test_cli_searches_sd_with_a_clip_verifier_and_replays(sd_folder, clip_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "a cat", "--model", f"sd:{sd_folder}", "--verifier", f"clip:{clip_folder}",
                 "--algorithm", "eps-greedy", "--sampler", "sde", "--steps", "3", "--set", "k=2",
                 "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "results.jsonl").read_text())
    assert record["status"] == "done" and record["condition"] == "a cat" and record["nfe"] > 0
    assert (out / "best.png").exists()
    assert main(["replay", str(out)]) == 0
    assert "all 1 winners reproduced exactly" in capsys.readouterr().out


def test_a_hub_id_offline_is_one_clear_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["search", "a cat", "--model", "sd:runwayml/stable-diffusion-v1-5",
                 "--verifier", "brightness", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "runwayml/stable-diffusion-v1-5" in err[0] and "not available offline" in err[0]
    assert "huggingface-cli download" in err[0]
    assert not (tmp_path / "run").exists()
