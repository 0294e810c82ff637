"""Search at the physical limit on real-size architectures with random weights.

    python benchmarks/real_size.py                             # SD 1.5 UNet and a FLUX-style transformer
    python benchmarks/real_size.py --archs sd15 --size 64 --compile --dtype bf16
    python benchmarks/real_size.py --device cuda --size 512 --out docs/real_size_gpu.md

The denoisers are built from their published configs with random weights (no download):
SD 1.5's UNet2DConditionModel (860M parameters, cross-attention width 768), SDXL's UNet
(2.6B, ``--archs sdxl``) and a FLUX.1-style transformer with FLUX.1's block width (24 heads of
128, joint attention width 4096) and ``--flux-blocks`` double and single blocks (FLUX.1 has
19 and 38). Text encoders and VAEs are small (their cost is outside the denoising loop), so
the time is the denoiser's. For every algorithm (sized to ``--budget`` generations per
condition, as in ``efficiency.py``) the search's wall time is set against the pipeline's own
batched call (``pipe(prompts, num_images_per_prompt=..., num_inference_steps=...)``) that
spends the same NFEs: the limit. The ratio limit / search is 1.0 for a search with no
overhead. Peak memory is the process's resident peak (CPU) or the device's allocator peak
(CUDA). The model's micro-batch is its pipeline default (8 rows for SD, 4 for FLUX): every
call is padded to it (``batching.fixed_shape_map``), which is what makes a search
independent of batching. The table is printed and, with ``--out``, written to a Markdown file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

import noisesearch as ns
from noisesearch.algorithms import ALGORITHMS
from noisesearch.processes.ddim_pipelines import sd_process, sdxl_process
from noisesearch.processes.flow_pipelines import flux_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from efficiency import table  # noqa: E402
from tiny_pipelines import clip_tokenizer, write_t5_tokenizer  # noqa: E402

PROMPTS = ["a cat", "a dog"]
TOKENS = 64  # the FLUX-style model's T5 sequence length (FLUX.1: 512; the prompts here are short)

SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
                 down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                   "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                 "CrossAttnUpBlock2D"))
SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280), cross_attention_dim=2048,
                 attention_head_dim=(5, 10, 20),
                 transformer_layers_per_block=(1, 2, 10), use_linear_projection=True,
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"))


def text_encoder(tokenizer, width: int, projection: int | None = None):
    """A one-layer CLIP text encoder of the width the denoiser's cross-attention expects."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=width,
                            intermediate_size=64, num_attention_heads=8, num_hidden_layers=1,
                            vocab_size=len(tokenizer), projection_dim=projection or width)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def small_vae(levels: int, latent_channels: int = 4, **options):
    """A VAE with ``levels`` levels (downscale 2^(levels - 1)) and 8 channels per level."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=[8] * levels, in_channels=3, out_channels=3,
                         latent_channels=latent_channels, down_block_types=["DownEncoderBlock2D"] * levels,
                         up_block_types=["UpDecoderBlock2D"] * levels, norm_num_groups=4, layers_per_block=1,
                         **options).eval()


def ddim():
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False, steps_offset=1)


def build(arch: str, flux_blocks: tuple[int, int]):
    """(the pipeline, the process factory) of ``arch`` with random weights."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    if arch == "sd15":
        pipe = StableDiffusionPipeline(vae=small_vae(4), text_encoder=text_encoder(tokenizer, 768),
                                       tokenizer=tokenizer, unet=UNet2DConditionModel(**SD15_UNET).eval(),
                                       scheduler=ddim(), safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        return pipe, sd_process
    if arch == "sdxl":
        pipe = StableDiffusionXLPipeline(vae=small_vae(4), text_encoder=text_encoder(tokenizer, 768),
                                         text_encoder_2=text_encoder(tokenizer, 1280, projection=1280),
                                         tokenizer=tokenizer, tokenizer_2=tokenizer,
                                         unet=UNet2DConditionModel(**SDXL_UNET).eval(), scheduler=ddim())
        return pipe, sdxl_process
    double, single = flux_blocks
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=double,
                                         num_single_layers=single, attention_head_dim=128,
                                         num_attention_heads=24, joint_attention_dim=4096,
                                         pooled_projection_dim=768, guidance_embeds=True,
                                         axes_dims_rope=[16, 56, 56])
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    with tempfile.TemporaryDirectory() as vocabulary:
        tokenizer_2 = PreTrainedTokenizerFast.from_pretrained(str(write_t5_tokenizer(Path(vocabulary))))
    t5 = T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=4096, d_kv=64, d_ff=64, num_layers=1,
                                 num_heads=8, pad_token_id=0, eos_token_id=1)).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                max_shift=1.15, base_image_seq_len=256,
                                                max_image_seq_len=4096)
    pipe = FluxPipeline(scheduler=scheduler, vae=small_vae(4, latent_channels=16, shift_factor=0.0609,
                                                            scaling_factor=1.5035, use_quant_conv=False,
                                                            use_post_quant_conv=False),
                        text_encoder=text_encoder(tokenizer, 768), tokenizer=tokenizer, text_encoder_2=t5,
                        tokenizer_2=tokenizer_2, transformer=transformer.eval())
    return pipe, flux_process


def pipeline_limit(pipe, process, size: int, steps: int, guidance: float, device: str):
    """Seconds the pipeline's own batched call takes to spend ``nfe`` NFEs."""
    def limit(nfe: int) -> float:
        images = math.ceil(nfe / process.generation_nfe)
        per_prompt = math.ceil(images / len(PROMPTS))
        sync()
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            text = {"max_sequence_length": TOKENS} if hasattr(pipe, "transformer") else {}
            pipe(PROMPTS, num_images_per_prompt=per_prompt, num_inference_steps=steps,
                 guidance_scale=guidance, height=size, width=size, output_type="pt", **text)
        sync()
        return time.perf_counter() - start

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return limit


def peak_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="sd15,flux", help="sd15, sdxl, flux (comma-separated)")
    parser.add_argument("--size", type=int, default=64, help="image height and width in pixels")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--budget", type=int, default=2, help="generations per condition")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--flux-blocks", default="1,2", help="double,single blocks of the FLUX-style model")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this Markdown file")
    args = parser.parse_args()
    buffer = io.StringIO()

    class Tee(io.TextIOBase):
        def write(self, text):
            sys.__stdout__.write(text)
            buffer.write(text)
            return len(text)

    with contextlib.redirect_stdout(Tee()):
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, device {args.device}"
              + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
              + f", torch {torch.__version__}, {torch.get_num_threads()} threads")
        for arch in args.archs.split(","):
            pipe, factory = build(arch, tuple(int(b) for b in args.flux_blocks.split(",")))
            net = pipe.unet if hasattr(pipe, "unet") else pipe.transformer
            params = sum(p.numel() for p in net.parameters()) / 1e6
            text = {"max_sequence_length": TOKENS} if arch == "flux" else {}
            process = factory(pipe, steps=args.steps, height=args.size, width=args.size, device=args.device,
                              dtype=args.dtype, **text)
            if args.compile:
                process.denoiser.compile()
            pipe.set_progress_bar_config(disable=True)
            guidance = process.denoiser.guidance
            limit = pipeline_limit(pipe, process, args.size, args.steps, guidance, args.device)
            print(f"\n{arch}: denoiser {params:.0f}M parameters, {args.size}x{args.size} images "
                  f"(state {tuple(process.sample_shape)}), {args.steps} steps, guidance {guidance} "
                  f"({process.nfe_per_step} NFEs per step), {args.dtype}"
                  f"{', compiled' if args.compile else ''}, {len(PROMPTS)} conditions x {args.budget} "
                  f"generations; limit: the pipeline's own call\n")
            if args.compile:  # compile outside the timings: one search and one pipeline call first
                start = time.perf_counter()
                ns.search(process, ns.load_verifier("brightness"), PROMPTS[:1], algorithm="random",
                          budget=process.generation_nfe, judges=[])
                print(f"compilation (first search): {time.perf_counter() - start:.1f} s\n")
            limit(process.generation_nfe)  # warm-up of the pipeline's own path
            table(process, ns.load_verifier("brightness"), PROMPTS, args.budget, args.max_batch, args.repeats,
                  limit, args.algorithms.split(","))
            print(f"\npeak memory so far: {peak_mib(args.device):.0f} MiB")
            del pipe, process
    if args.out is not None:
        args.out.write_text(buffer.getvalue())


if __name__ == "__main__":
    main()
