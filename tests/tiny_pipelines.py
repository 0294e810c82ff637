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


def clip_tokenizer():
    """The written-vocabulary CLIP tokenizer, loaded back as ``from_pretrained`` loads it."""
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as vocabulary:
        return CLIPTokenizer.from_pretrained(str(write_clip_tokenizer(Path(vocabulary))))


def t5_tokenizer_and_encoder():
    """The written-vocabulary T5 tokenizer and a 2-layer T5 encoder of width 32."""
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    with tempfile.TemporaryDirectory() as vocabulary:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(write_t5_tokenizer(Path(vocabulary))))
    encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                      num_heads=4, pad_token_id=0, eos_token_id=1))
    return tokenizer, encoder.eval()


def unet_vae_and_ddim(**unet_options):
    """A 2-level UNet2DConditionModel on 16x16x4 latents (``unet_options`` added), a 2-level VAE
    for 32x32 images and SD's DDIM schedule."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), norm_num_groups=4,
                                **unet_options)
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        norm_num_groups=4, sample_size=32)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return unet.eval(), vae.eval(), scheduler


def flow_vae(latent_channels: int):
    """A 1-level VAE with FLUX's latent shift and scale."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,),
                         layers_per_block=1, latent_channels=latent_channels, norm_num_groups=1,
                         use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
                         scaling_factor=1.5035).eval()


def tiny_sd(folder: Path, seed: int = 0) -> Path:
    """A StableDiffusionPipeline (UNet 2 levels, VAE 2 levels, 2-layer CLIP text encoder, DDIM)
    saved as safetensors to ``folder``; images are 32x32."""
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(seed)
    unet, vae, scheduler = unet_vae_and_ddim(cross_attention_dim=32, attention_head_dim=4)
    tokenizer = clip_tokenizer()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=tiny_text_encoder(len(tokenizer)),
                                   tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def write_tiny_clip(folder: Path) -> Path:
    """A random-weight CLIPModel from a config, with the shapes word-level tokenizer and a
    CLIP image processor for 32x32 inputs, saved as safetensors to ``folder``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from noisesearch.worlds.shapes.tokenizer import save_tokenizer, vocabulary

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


def write_t5_tokenizer(folder: Path) -> Path:
    """A word-level T5-style tokenizer (pad 0, end 1, unknown 2, end token appended)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "</s>", "<unk>", "a", "an", "cat", "dog", "photo", "of", "red", "blue"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=512)
    fast.save_pretrained(str(folder))
    return folder


def tiny_flux(folder: Path, seed: int = 0) -> Path:
    """A FluxPipeline (1 double + 1 single transformer block, 1-level VAE with 1 latent channel,
    CLIP and T5 text encoders of width 32) saved as safetensors; images are 16x16."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    tokenizer = clip_tokenizer()
    tokenizer_2, text_encoder_2 = t5_tokenizer_and_encoder()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5,
                                                max_shift=1.15, base_image_seq_len=256,
                                                max_image_seq_len=4096)
    pipe = FluxPipeline(scheduler=scheduler, vae=flow_vae(latent_channels=1),
                        text_encoder=tiny_text_encoder(len(tokenizer)), tokenizer=tokenizer,
                        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
                        transformer=transformer.eval())
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """A StableDiffusionXLPipeline (two CLIP text encoders, the second with projection; UNet with
    the text-time added embedding; DDIM) saved as safetensors; images are 32x32."""
    from diffusers import StableDiffusionXLPipeline

    torch.manual_seed(seed)
    unet, vae, scheduler = unet_vae_and_ddim(attention_head_dim=(2, 4), use_linear_projection=True,
                                             addition_embed_type="text_time", addition_time_embed_dim=8,
                                             projection_class_embeddings_input_dim=6 * 8 + 32,
                                             cross_attention_dim=64)
    tokenizer = clip_tokenizer()
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=tiny_text_encoder(len(tokenizer)),
                                     text_encoder_2=tiny_text_encoder(len(tokenizer), projection=True),
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
                                     scheduler=scheduler)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def tiny_sd3(folder: Path, seed: int = 0) -> Path:
    """A StableDiffusion3Pipeline (1-layer SD3 transformer, two CLIP encoders with projection and a
    T5 encoder, 1-level VAE with 4 latent channels, shifted flow sigmas) saved; images are 16x16."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(sample_size=16, patch_size=1, in_channels=4, num_layers=1,
                                        attention_head_dim=8, num_attention_heads=4,
                                        caption_projection_dim=32, joint_attention_dim=32,
                                        pooled_projection_dim=64, out_channels=4)
    tokenizer = clip_tokenizer()
    tokenizer_3, text_encoder_3 = t5_tokenizer_and_encoder()
    pipe = StableDiffusion3Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                    vae=flow_vae(latent_channels=4),
                                    text_encoder=tiny_text_encoder(len(tokenizer), projection=True),
                                    tokenizer=tokenizer,
                                    text_encoder_2=tiny_text_encoder(len(tokenizer), projection=True),
                                    tokenizer_2=tokenizer, text_encoder_3=text_encoder_3,
                                    tokenizer_3=tokenizer_3, transformer=transformer.eval())
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder


def tiny_dit(folder: Path, seed: int = 0) -> Path:
    """A DiTPipeline (2-layer DiT with learned sigma over 1000 classes plus the null class, a 1-level
    VAE, DDIM) saved as safetensors, with five labelled classes; images are 8x8."""
    from diffusers import AutoencoderKL, DDIMScheduler, DiTPipeline, DiTTransformer2DModel

    torch.manual_seed(seed)
    transformer = DiTTransformer2DModel(sample_size=8, num_layers=2, patch_size=4, attention_head_dim=8,
                                        num_attention_heads=2, in_channels=4, out_channels=8,
                                        activation_fn="gelu-approximate", num_embeds_ada_norm=1000,
                                        norm_type="ada_norm_zero", norm_elementwise_affine=False)
    vae = AutoencoderKL(block_out_channels=(8,), in_channels=3, out_channels=3, latent_channels=4,
                        norm_num_groups=4, sample_size=8)
    labels = {0: "tench", 1: "goldfish", 2: "white shark, great white shark", 3: "tiger shark",
              4: "hammerhead"}
    pipe = DiTPipeline(transformer=transformer.eval(), vae=vae.eval(), scheduler=DDIMScheduler())
    pipe.save_pretrained(str(folder), safe_serialization=True)
    index = json.loads((folder / "model_index.json").read_text())  # the labels, as hub DiT folders hold them
    index["id2label"] = {str(k): v for k, v in labels.items()}
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder
