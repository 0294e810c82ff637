"""The ``shapes-clip`` verifier: CLIPScore (``verifiers/clip.py``) with the embedded small CLIP trained
on shapes scenes with hard negatives (``training/train_shapes_clip.py``)."""

from __future__ import annotations

from ...verifiers.clip import CLIPScore
from .. import WEIGHTS_DIR

CLIP_DIR = WEIGHTS_DIR / "shapes_clip"  # a transformers CLIPModel folder


def shapes_clip(device: str = "cpu") -> CLIPScore:
    """The ``shapes-clip`` verifier on ``device``."""
    return CLIPScore(CLIP_DIR, name="shapes-clip", device=device)
