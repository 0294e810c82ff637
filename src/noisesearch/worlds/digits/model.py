"""The embedded digits model: a class-conditional diffusers UNet2DModel on 16x16 digits."""

from __future__ import annotations

from pathlib import Path

from diffusers import DDPMScheduler, UNet2DModel
from safetensors.torch import load_file

from .. import WEIGHTS_DIR

NULL_CLASS = 10  # the class embedding used for the unconditional branch of guidance

UNET_CONFIG = dict(
    sample_size=16,
    in_channels=1,
    out_channels=1,
    block_out_channels=(32, 64, 64),
    layers_per_block=1,
    down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
    up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
    num_class_embeds=11,
    norm_num_groups=8,
    attention_head_dim=32,
)

SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_schedule="squaredcos_cap_v2",
    prediction_type="epsilon",
    clip_sample=False,
)


def build_unet() -> UNet2DModel:
    """A freshly initialised digits UNet (random weights)."""
    return UNet2DModel(**UNET_CONFIG)


def build_scheduler() -> DDPMScheduler:
    """The training noise schedule of the digits model."""
    return DDPMScheduler(**SCHEDULER_CONFIG)


def load_unet(path: Path | None = None) -> UNet2DModel:
    """The trained digits UNet from its safetensors file (never a pickle)."""
    path = Path(path) if path is not None else WEIGHTS_DIR / "digits_unet.safetensors"
    if not path.exists():
        raise FileNotFoundError(
            f"digits weights not found at {path}; train them with training/train_digits.py"
        )
    unet = build_unet()
    unet.load_state_dict(load_file(str(path)))
    return unet.eval().requires_grad_(False)
