"""The embedded shapes text-to-image model: a diffusers UNet2DConditionModel on 32x32 RGB that
cross-attends to a small transformers CLIPTextModel, with a word-level tokenizer.

The weights live in a diffusers-style folder (``unet/``, ``text_encoder/``, ``tokenizer/``,
``scheduler/``), each loaded with ``from_pretrained`` from safetensors only.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...hf import quiet
from .. import WEIGHTS_DIR
from .tokenizer import BOS_ID, EOS_ID, MAX_LENGTH, PAD_ID, build_tokenizer, vocabulary

MODEL_DIR = WEIGHTS_DIR / "shapes"

UNET_CONFIG = dict(
    sample_size=32,
    in_channels=3,
    out_channels=3,
    block_out_channels=(32, 64, 96, 96),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    cross_attention_dim=64,
    attention_head_dim=8,
    norm_num_groups=8,
)

TEXT_CONFIG = dict(
    vocab_size=len(vocabulary()),
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=3,
    num_attention_heads=4,
    max_position_embeddings=16,
    projection_dim=64,
    pad_token_id=PAD_ID,
    bos_token_id=BOS_ID,
    eos_token_id=EOS_ID,
)

SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_schedule="squaredcos_cap_v2",
    prediction_type="epsilon",
    clip_sample=False,
)


def build_unet():
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**UNET_CONFIG)


def build_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG))


def build_scheduler():
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULER_CONFIG)


class ShapesModel(torch.nn.Module):
    """The three parts together: ``embed(prompts)`` then ``unet(x, t, embeddings)``."""

    def __init__(self, unet, text_encoder, tokenizer) -> None:
        super().__init__()
        self.unet = unet
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer

    def embed(self, prompts: list[str]) -> torch.Tensor:
        """Per-token text embeddings (B, MAX_LENGTH, 64); "" is the unconditional prompt."""
        ids = self.tokenizer(list(prompts), padding="max_length", max_length=MAX_LENGTH, truncation=True,
                             return_tensors="pt").input_ids
        device = next(self.text_encoder.parameters()).device
        return self.text_encoder(ids.to(device)).last_hidden_state


def build_model() -> ShapesModel:
    """A freshly initialised shapes model (random weights)."""
    return ShapesModel(build_unet(), build_text_encoder(), build_tokenizer())


def save_model(model: ShapesModel, folder: Path, card: dict | None = None) -> None:
    """Write the model as a diffusers-style folder of safetensors files and configs."""
    folder = Path(folder)
    model.unet.save_pretrained(str(folder / "unet"), safe_serialization=True)
    model.text_encoder.save_pretrained(str(folder / "text_encoder"), safe_serialization=True)
    model.tokenizer.save_pretrained(str(folder / "tokenizer"))
    build_scheduler().save_pretrained(str(folder / "scheduler"))
    if card is not None:
        (folder / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")


def load_model(folder: Path | None = None) -> ShapesModel:
    """The trained shapes model from its folder (safetensors only, never a pickle)."""
    from diffusers import UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel

    quiet()
    folder = Path(folder) if folder is not None else MODEL_DIR
    if not (folder / "unet" / "diffusion_pytorch_model.safetensors").exists():
        raise FileNotFoundError(f"shapes weights not found in {folder}; "
                                "train them with training/train_shapes.py")
    unet = UNet2DConditionModel.from_pretrained(str(folder / "unet"), use_safetensors=True)
    text_encoder = CLIPTextModel.from_pretrained(str(folder / "text_encoder"), use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder / "tokenizer"))
    model = ShapesModel(unet, text_encoder, tokenizer)
    return model.eval().requires_grad_(False)
