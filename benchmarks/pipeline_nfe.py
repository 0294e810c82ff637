"""Time per NFE and peak memory of the diffusers pipeline processes, on random-weight models
built from configs (nothing is downloaded).

    python benchmarks/pipeline_nfe.py                          # GPU: mid-sized SD and FLUX, fp16 and bf16
    python benchmarks/pipeline_nfe.py --preset small --dtypes fp32,bf16   # a CPU-sized run

``mid`` is an SD-1.x-shaped UNet at half width (block channels 160-640, 512x512 images, 64x64
latents, cross-attention to a 12-layer CLIP text encoder of width 768) and a FLUX-shaped
transformer at a fraction of the depth (4 double and 8 single blocks of width 1536, 512x512
images, T5 of width 1024); ``small`` is the same shapes at 256x256 with narrow, shallow
networks. For each model and dtype: the wall time of one sampling step of a batch (the
fastest of ``--repeats``) divided by the NFEs it spends (a guided step costs 2), and the
peak memory (CUDA: ``max_memory_allocated``; CPU: the process's peak resident size).
Baseline in the same run: the model's own forward pass on the same batch, called directly,
so the ratio shows what the process adds around the network.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from noisesearch.hf import quiet

PRESETS = {
    "mid": {"size": 512, "unet": (160, 320, 640, 640), "text_width": 768, "text_layers": 12,
            "flux_width": 1536, "flux_double": 4, "flux_single": 8, "t5_width": 1024},
    "small": {"size": 256, "unet": (32, 64, 128, 128), "text_width": 128, "text_layers": 2,
              "flux_width": 256, "flux_double": 1, "flux_single": 2, "t5_width": 128},
}


def clip_tokenizer():
    import json
    import string
    import tempfile

    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as folder:
        tokens = ["<|startoftext|>", "<|endoftext|>"] + list(string.ascii_lowercase)
        tokens += [f"{c}</w>" for c in string.ascii_lowercase]
        with open(f"{folder}/vocab.json", "w") as f:
            json.dump({t: i for i, t in enumerate(tokens)}, f)
        with open(f"{folder}/merges.txt", "w") as f:
            f.write("#version: 0.2\n")
        return CLIPTokenizer(f"{folder}/vocab.json", f"{folder}/merges.txt", model_max_length=77)


def text_encoder(width: int, layers: int, vocab: int, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                            num_attention_heads=max(1, width // 64), vocab_size=vocab, projection_dim=width,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def sd_pipeline(p: dict):
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    tokenizer = clip_tokenizer()
    unet = UNet2DConditionModel(sample_size=p["size"] // 8, block_out_channels=p["unet"],
                                layers_per_block=2, cross_attention_dim=p["text_width"], attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(32, 64, 64, 64), latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    encoder = text_encoder(p["text_width"], p["text_layers"], len(tokenizer))
    return StableDiffusionPipeline(vae=vae.eval(), text_encoder=encoder, tokenizer=tokenizer,
                                   unet=unet.eval(),
                                   scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                                           beta_end=0.012, clip_sample=False, steps_offset=1),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def flux_pipeline(p: dict):
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    tokenizer = clip_tokenizer()
    words = {"<pad>": 0, "</s>": 1, "<unk>": 2, "a": 3, "cat": 4}
    t5_tokens = Tokenizer(models.WordLevel(words, unk_token="<unk>"))
    t5_tokens.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer_2 = PreTrainedTokenizerFast(tokenizer_object=t5_tokens, pad_token="<pad>", eos_token="</s>",
                                          unk_token="<unk>", model_max_length=512)
    heads = p["flux_width"] // 128
    transformer = FluxTransformer2DModel(in_channels=64, num_layers=p["flux_double"],
                                         num_single_layers=p["flux_single"], attention_head_dim=128,
                                         num_attention_heads=heads, joint_attention_dim=p["t5_width"],
                                         pooled_projection_dim=p["text_width"], guidance_embeds=True,
                                         axes_dims_rope=(16, 56, 56))
    vae = AutoencoderKL(block_out_channels=(32, 64, 64, 64), latent_channels=16,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.1159,
                        scaling_factor=0.3611)
    t5 = T5EncoderModel(T5Config(vocab_size=8, d_model=p["t5_width"], d_kv=64, d_ff=2 * p["t5_width"],
                                 num_layers=2, num_heads=p["t5_width"] // 64))
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
                        vae=vae.eval(),
                        text_encoder=text_encoder(p["text_width"], p["text_layers"], len(tokenizer)),
                        tokenizer=tokenizer, text_encoder_2=t5.eval(), tokenizer_2=tokenizer_2,
                        transformer=transformer.eval())


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def fastest(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, pipeline, options: dict, dtype: str, batch: int, repeats: int, device: str) -> None:
    from noisesearch.processes import flux_process, sd_process
    from noisesearch.processes.pipelines import torch_dtype

    factory = {"sd": sd_process, "flux": flux_process}[name]
    pipeline = pipeline.to(dtype=torch_dtype(dtype))
    process = factory(pipeline, steps=28, device=device, dtype=dtype, micro_batch=batch, **options)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    cond = process.encode(["a cat"] * batch)
    x = process.prior([(0, b, "x_T") for b in range(batch)])
    with torch.no_grad():
        step = fastest(lambda: process.predict(x, 1, cond), repeats, dev)
        if name == "sd":
            t = process.schedule.timesteps[1].to(dev).expand(2 * batch)
            both, embeds = torch.cat([x, x]).to(process.dtype), torch.cat([cond, cond])
            net = fastest(lambda: process.denoiser.net(both, t, embeds), repeats, dev)
        else:
            at = process.schedule.at(1)
            net = fastest(lambda: process.denoiser.prediction(x, at, cond), repeats, dev)
    nfe = batch * process.nfe_per_step
    network = getattr(process.denoiser.pipe, process.denoiser.denoiser_name)
    params = sum(p.numel() for p in network.parameters()) / 1e6
    print(f"{name:<5} {dtype:<5} batch {batch}: {1000 * step / nfe:8.1f} ms per NFE, network alone "
          f"{1000 * net / nfe:8.1f} ms (process / network {step / net:.2f}), peak memory "
          f"{peak_memory_mb(dev):8.0f} MiB, {params:.0f} M denoiser parameters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(PRESETS), default="mid")
    parser.add_argument("--dtypes", default=None,
                        help="comma-separated [default: fp16,bf16 on a GPU, fp32 on CPU]")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="sd,flux")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    quiet()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtypes = (args.dtypes or ("fp16,bf16" if device == "cuda" else "fp32")).split(",")
    preset = PRESETS[args.preset]
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; preset {args.preset} "
          f"({preset['size']}x{preset['size']} images)")
    torch.manual_seed(0)
    for model in args.models.split(","):
        for dtype in dtypes:
            if model == "sd":
                measure("sd", sd_pipeline(preset), {}, dtype, args.batch, args.repeats, device)
            else:
                measure("flux", flux_pipeline(preset), {"max_sequence_length": 64}, dtype, args.batch,
                        args.repeats, device)


if __name__ == "__main__":
    main()
