"""Diffusers pipelines as processes (``sd:``, ``flux:``), on tiny random pipelines saved to folders:
parity with the pipeline's own output, every algorithm, the command line, and loading errors."""

import json

import pytest
import torch
from tiny_pipelines import tiny_flux, tiny_sd, write_tiny_clip

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS
from noisesearch.algorithms.trajectory import sample
from noisesearch.cli import main
from noisesearch.processes import load_process

PROMPTS = ["a cat", "a dog"]
# per model: the tiny pipeline, its class, and the options that keep it small
MODELS = {
    "sd": (tiny_sd, "StableDiffusionPipeline", {}),
    "flux": (tiny_flux, "FluxPipeline", {"height": 16, "width": 16, "max_sequence_length": 16}),
}
SMALL = {"random": {"n": 2}, "zero-order": {"iterations": 1, "n": 2}, "paths": {"n": 2},
         "noise-gradient": {"iterations": 2}, "eps-greedy": {"k": 2}, "zero-order-steps": {"k": 2},
         "beam": {"b": 1, "n": 2}, "svdd": {"m": 2}, "mcts": {"s": 1}, "smc": {"k": 2}}
INITIAL_NOISE = ("random", "zero-order", "paths", "noise-gradient")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {name: build(tmp_path_factory.mktemp(f"tiny-{name}")) for name, (build, _, _) in MODELS.items()}


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("steps, guidance", [(5, None), (3, 1.0)])
def test_ode_equals_the_pipeline_with_the_same_latents(folders, model, steps, guidance):
    import diffusers

    _, pipeline_class, options = MODELS[model]
    process = load_process(f"{model}:{folders[model]}", steps=steps, guidance=guidance, **options)
    x_T = process.prior([(0, p, "x_T", 0) for p in range(len(PROMPTS))])
    ours = sample(process, {"x_T": x_T}, process.encode(PROMPTS))
    pipe = getattr(diffusers, pipeline_class).from_pretrained(str(folders[model]), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    reference = pipe(PROMPTS, latents=x_T.clone(), num_inference_steps=steps, guidance_scale=process.guidance,
                     output_type="pt", **options).images
    assert ours.shape == reference.shape and ours.shape[:2] == (2, 3)
    assert (ours - reference).abs().max() <= 1e-4


def test_defaults_are_the_pipelines(folders):
    sd = load_process(f"sd:{folders['sd']}")
    assert (sd.steps, sd.guidance, sd.sampler, sd.nfe_per_step) == (50, 7.5, "ode", 2)
    assert sd.sample_shape == (4, 16, 16)
    flux = load_process(f"flux:{folders['flux']}", height=16, width=16)
    assert (flux.steps, flux.guidance, flux.sampler, flux.nfe_per_step) == (28, 3.5, "ode", 1)
    assert flux.sample_shape == (64, 4)  # packed: 8x8 patches of 2x2 latents of 1 channel
    assert float(flux.times[1]) > 1 - 1 / 28  # the shifted schedule, not linspace


def test_sd_sde_step_equals_ddim_with_eta_one_and_the_same_variance_noise(folders):
    from diffusers import DDIMScheduler

    process = load_process(f"sd:{folders['sd']}", steps=5, sampler="sde")
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


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_runs_on_the_pipeline(folders, model, algorithm):
    _, _, options = MODELS[model]
    sampler = "ode" if algorithm in INITIAL_NOISE else "sde"
    process = load_process(f"{model}:{folders[model]}", steps=3, sampler=sampler, **options)
    result = ns.search(process, "brightness", PROMPTS, algorithm=algorithm, judges=[], **SMALL[algorithm])
    side = options.get("height", 32)
    for p in result:
        assert p.best_image.shape == (3, side, side) and p.nfe > 0 and p.failed == 0
    again = ns.search(process, "brightness", PROMPTS, algorithm=algorithm, judges=[], **SMALL[algorithm])
    assert [p.best_score for p in again] == [p.best_score for p in result]


@pytest.mark.parametrize("model", list(MODELS))
def test_cli_searches_with_a_clip_verifier_and_replays(folders, clip_folder, tmp_path, capsys, model):
    out = tmp_path / "run"
    sizes = [arg for k, v in MODELS[model][2].items() for arg in ("--model-option", f"{k}={v}")]
    code = main(["search", "a cat", "--model", f"{model}:{folders[model]}",
                 "--verifier", f"clip:{clip_folder}", "--algorithm", "eps-greedy", "--sampler", "sde",
                 "--steps", "3", "--set", "k=2",
                 *sizes, "--no-progress", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / "results.jsonl").read_text())
    assert record["status"] == "done" and record["condition"] == "a cat" and record["nfe"] > 0
    assert (out / "best.png").exists()
    assert main(["replay", str(out)]) == 0
    assert "all 1 winners reproduced exactly" in capsys.readouterr().out


@pytest.mark.parametrize("model, hub_id", [("sd", "runwayml/stable-diffusion-v1-5"),
                                           ("flux", "black-forest-labs/FLUX.1-dev")])
def test_a_hub_id_offline_is_one_clear_line(capsys, monkeypatch, tmp_path, model, hub_id):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["search", "a cat", "--model", f"{model}:{hub_id}", "--verifier", "brightness",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert hub_id in err[0] and "not available offline" in err[0] and "huggingface-cli download" in err[0]
    assert not (tmp_path / "run").exists()


def test_a_model_that_needs_a_folder_says_so(capsys):
    assert main(["search", "a cat", "--model", "sd"]) == 2
    assert "needs a hub id or a folder" in capsys.readouterr().err
