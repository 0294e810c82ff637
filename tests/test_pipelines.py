"""Diffusers pipelines as processes (``sd:``, ``flux:``), on tiny random pipelines saved to folders:
parity with the pipeline's own output, every algorithm, the command line, and loading errors."""

import json

import pytest
import torch
from tiny_pipelines import tiny_dit, tiny_flux, tiny_sd, tiny_sd3, tiny_sdxl, write_tiny_clip

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS
from noisesearch.algorithms.trajectory import sample
from noisesearch.catalogue import load_process
from noisesearch.cli import main
from noisesearch.processes import sd_process

PROMPTS = ["a cat", "a dog"]
FLOW_SIZES = {"height": 16, "width": 16, "max_sequence_length": 16}
# per model: the tiny pipeline, its class, the options that keep it small, and its conditions
MODELS = {
    "sd": (tiny_sd, "StableDiffusionPipeline", {}, PROMPTS),
    "sdxl": (tiny_sdxl, "StableDiffusionXLPipeline", {}, PROMPTS),
    "dit": (tiny_dit, "DiTPipeline", {}, ["goldfish", 3]),
    "sd3": (tiny_sd3, "StableDiffusion3Pipeline", FLOW_SIZES, PROMPTS),
    "flux": (tiny_flux, "FluxPipeline", FLOW_SIZES, PROMPTS),
}
SEARCHED = ("sd", "flux")  # every algorithm runs on these two
SMALL = {"random": {"n": 2}, "zero-order": {"iterations": 1, "n": 2}, "paths": {"n": 2},
         "ses": {"iterations": 1, "population": 2},
         "noise-gradient": {"iterations": 2}, "eps-greedy": {"k": 2}, "zero-order-steps": {"k": 2},
         "beam": {"b": 1, "n": 2}, "svdd": {"m": 2}, "mcts": {"s": 1}, "smc": {"k": 2}}
INITIAL_NOISE = ("random", "zero-order", "ses", "paths", "noise-gradient")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {name: build(tmp_path_factory.mktemp(f"tiny-{name}")) for name, (build, *_) in MODELS.items()}


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


def pipeline_images(model, pipe, x_T, steps, guidance):
    """The pipeline's own images from the initial latents x_T (DiT takes a generator, not latents)."""
    _, _, options, conditions = MODELS[model]
    if model == "dit":
        images = pipe([1, 3], guidance_scale=guidance, generator=torch.Generator().manual_seed(3),
                      num_inference_steps=steps, output_type="np").images
        return torch.from_numpy(images).permute(0, 3, 1, 2)
    return pipe(conditions, latents=x_T.clone(), num_inference_steps=steps, guidance_scale=guidance,
                output_type="pt", **options).images


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("steps, guidance", [(5, None), (3, 1.0)])
def test_ode_equals_the_pipeline_with_the_same_latents(folders, model, steps, guidance):
    import diffusers
    from diffusers.utils.torch_utils import randn_tensor

    _, pipeline_class, options, conditions = MODELS[model]
    process = load_process(f"{model}:{folders[model]}", steps=steps, guidance=guidance, **options)
    if model == "dit":  # the pipeline's own draw, which the test then hands to both
        x_T = randn_tensor((2, *process.sample_shape), generator=torch.Generator().manual_seed(3))
    else:
        x_T = process.prior([(0, p, "x_T", 0) for p in range(len(conditions))])
    ours = sample(process, {"x_T": x_T}, process.encode(conditions))
    pipe = getattr(diffusers, pipeline_class).from_pretrained(str(folders[model]), use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    reference = pipeline_images(model, pipe, x_T, steps, process.denoiser.guidance)
    assert ours.shape == reference.shape and ours.shape[:2] == (2, 3)
    assert (ours - reference).abs().max() <= 1e-4


def test_defaults_are_the_pipelines(folders):
    sd = load_process(f"sd:{folders['sd']}")
    assert (sd.steps, sd.denoiser.guidance, sd.sampler, sd.nfe_per_step) == (50, 7.5, "ode", 2)
    assert sd.sample_shape == (4, 16, 16)
    flux = load_process(f"flux:{folders['flux']}", height=16, width=16)
    assert (flux.steps, flux.denoiser.guidance, flux.sampler, flux.nfe_per_step) == (28, 3.5, "ode", 1)
    assert flux.sample_shape == (64, 4)  # packed: 8x8 patches of 2x2 latents of 1 channel
    assert float(flux.schedule.times[1]) > 1 - 1 / 28  # the shifted schedule, not linspace


@pytest.mark.parametrize("model", SEARCHED)
def test_offload_keeps_only_the_denoiser_placed_and_changes_no_result(folders, model, monkeypatch):
    _, _, options, conditions = MODELS[model]
    placed = []
    original_to = torch.nn.Module.to

    def recording_to(module, *args, **kwargs):
        placed.append(type(module).__name__)
        return original_to(module, *args, **kwargs)

    plain = load_process(f"{model}:{folders[model]}", steps=2, **options)
    monkeypatch.setattr(torch.nn.Module, "to", recording_to)
    offloaded = load_process(f"{model}:{folders[model]}", steps=2, offload=True, **options)
    x_T = plain.prior([(0, p, "x_T", 0) for p in range(2)])
    placed.clear()
    images = sample(offloaded, {"x_T": x_T}, offloaded.encode(conditions))
    assert "AutoencoderKL" in placed and any("TextModel" in name or "T5" in name for name in placed)
    assert torch.equal(images, sample(plain, {"x_T": x_T}, plain.encode(conditions)))
    assert offloaded.options()["offload"] is True


@pytest.mark.parametrize("dtype, torch_dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_half_precision_runs_and_stays_close_to_fp32(folders, dtype, torch_dtype):
    full = load_process(f"sd:{folders['sd']}", steps=3)
    half = load_process(f"sd:{folders['sd']}", steps=3, dtype=dtype)
    assert half.denoiser.unet.dtype == torch_dtype and half.options()["dtype"] == dtype
    assert half.dtype == torch.float32  # the search state: float32 whatever the network runs in
    from diffusers import StableDiffusionPipeline

    loaded = StableDiffusionPipeline.from_pretrained(str(folders["sd"]), use_safetensors=True)  # fp32
    assert sd_process(loaded, steps=3, dtype=dtype).denoiser.unet.dtype == torch_dtype
    x_T = full.prior([(0, p, "x_T", 0) for p in range(2)])
    images = sample(half, {"x_T": x_T.to(torch_dtype)}, half.encode(PROMPTS))
    assert images.dtype == torch.float32 and torch.isfinite(images).all()
    assert (images - sample(full, {"x_T": x_T}, full.encode(PROMPTS))).abs().max() < 0.05


def test_dit_conditions_are_class_indices_or_label_names(folders):
    from noisesearch.errors import InputError

    dit = load_process(f"dit:{folders['dit']}", steps=2)
    assert [dit.parse_condition(c) for c in ("goldfish", "White Shark", "3", 999)] == [1, 2, 3, 999]
    with pytest.raises(InputError, match="'zebra' is not a class; valid: 0-999 or a label"):
        dit.parse_condition("zebra")
    assert (dit.denoiser.guidance, dit.nfe_per_step) == (4.0, 2)
    assert load_process(f"dit:{folders['dit']}").steps == 50


def test_sd_sde_step_equals_ddim_with_eta_one_and_the_same_variance_noise(folders):
    from diffusers import DDIMScheduler

    process = load_process(f"sd:{folders['sd']}", steps=5, sampler="sde")
    scheduler = DDIMScheduler.from_config(process.denoiser.pipe.scheduler.config)
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


def test_sd_sde_step_is_also_the_euler_ancestral_step(folders, monkeypatch):
    # Euler-ancestral on the same noise levels is the DDPM posterior step: with the same noise, its
    # state x / sqrt(a) (the variance-exploding form it samples in) is ours
    from diffusers import EulerAncestralDiscreteScheduler
    from diffusers.schedulers import scheduling_euler_ancestral_discrete as euler_a

    process = load_process(f"sd:{folders['sd']}", steps=5, sampler="sde")
    scheduler = EulerAncestralDiscreteScheduler.from_config(process.denoiser.pipe.scheduler.config)
    scheduler.set_timesteps(5)
    assert scheduler.timesteps.tolist() == process.schedule.timesteps.tolist()
    cond = process.encode(PROMPTS)
    x = process.prior([(2, p, "x_T", 0) for p in range(2)])
    for i in range(process.steps - 1):  # Euler-ancestral ends on sigma 0, DDIM on its final alpha
        z = process.step_noise([(2, p, "step", i) for p in range(2)])
        monkeypatch.setattr(euler_a, "randn_tensor", lambda *args, z=z, **kwargs: z)
        x0, eps = process.predict(x, i, cond)
        ours = process.update(x, i, x0, eps, z)
        a_t, a_s = float(process.schedule.alphas[i]), float(process.schedule.alphas[i + 1])
        reference = scheduler.step(eps, scheduler.timesteps[i], x / a_t**0.5).prev_sample
        assert torch.allclose(ours / a_s**0.5, reference, atol=1e-4, rtol=1e-5), i
        x = ours


@pytest.mark.parametrize("model", SEARCHED)
@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_algorithm_runs_on_the_pipeline(folders, model, algorithm):
    _, _, options, _ = MODELS[model]
    sampler = "ode" if algorithm in INITIAL_NOISE else "sde"
    process = load_process(f"{model}:{folders[model]}", steps=3, sampler=sampler, **options)
    result = ns.search(process, "brightness", PROMPTS, algorithm=algorithm, judges=[], **SMALL[algorithm])
    side = options.get("height", 32)
    for p in result:
        assert p.best_image.shape == (3, side, side) and p.nfe > 0 and p.failed == 0
    again = ns.search(process, "brightness", PROMPTS, algorithm=algorithm, judges=[], **SMALL[algorithm])
    assert [p.best_score for p in again] == [p.best_score for p in result]


@pytest.mark.parametrize("model", SEARCHED)
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


def test_the_issue_command_runs_end_to_end(folders, clip_folder, tmp_path, capsys):
    # noisesearch search "a cat" --model sd:<dir> --verifier clip:<dir> --algorithm eps-greedy
    # (a trajectory search picks the sde sampler itself)
    out = tmp_path / "run"
    assert main(["search", "a cat", "--model", f"sd:{folders['sd']}", "--verifier", f"clip:{clip_folder}",
                 "--algorithm", "eps-greedy", "--steps", "4", "--no-progress", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["process"]["sampler"] == "sde" and config["options"]["k"] == 20
    assert json.loads((out / "results.jsonl").read_text())["status"] == "done"


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
