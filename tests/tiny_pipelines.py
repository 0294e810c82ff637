"""Tiny random-weight diffusers pipelines built from configs and saved to folders, offline (as
diffusers' own tests build theirs); tokenizers come from a vocabulary written here."""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path

import torch


def write_clip_tokenizer(folder: Path) -> Path:
    """A byte-pair CLIP tokenizer over lower-case letters, from a written vocab.json and merges.txt."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<|startoftext|>", "<|endoftext|>", "!"]
    tokens += list(string.ascii_lowercase) + [f"{c}</w>" for c in string.ascii_lowercase]
    merges = ["c a", "ca t</w>", "d o", "do g</w>"]
    tokens += ["ca", "cat</w>", "do", "dog</w>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(str(folder))
    return folder


def tiny_text_encoder(vocab_size: int, projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32,
                            intermediate_size=37, layer_norm_eps=1e-5, num_attention_heads=4,
                            num_hidden_layers=2, vocab_size=vocab_size, projection_dim=32)
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config).eval()


def tiny_sd(folder: Path, seed: int = 0) -> Path:
    """A StableDiffusionPipeline (UNet 2 levels, VAE 2 levels, 2-layer CLIP text encoder, DDIM)
    saved as safetensors to ``folder``; images are 32x32."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                norm_num_groups=4, attention_head_dim=4)
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        norm_num_groups=4, sample_size=32)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    with tempfile.TemporaryDirectory() as vocabulary:
        tokenizer = CLIPTokenizer.from_pretrained(str(write_clip_tokenizer(Path(vocabulary))))
    pipe = StableDiffusionPipeline(vae=vae.eval(), text_encoder=tiny_text_encoder(len(tokenizer)),
                                   tokenizer=tokenizer, unet=unet.eval(), scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def write_tiny_clip(folder: Path) -> Path:
    """A random-weight CLIPModel from a config, with the shapes word-level tokenizer and a
    CLIP image processor for 32x32 inputs, saved as safetensors to ``folder``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from noisesearch.shapes_text import save_tokenizer, vocabulary

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(vocabulary()), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=16,
                         pad_token_id=0, bos_token_id=2, eos_token_id=3),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2),
        projection_dim=16)
    CLIPModel(config).save_pretrained(str(folder), safe_serialization=True)
    save_tokenizer(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                       image_mean=[0.4, 0.45, 0.5], image_std=[0.25, 0.3, 0.35]).save_pretrained(str(folder))
    assert not list(folder.glob("*.bin"))  # safetensors only
    return folder
