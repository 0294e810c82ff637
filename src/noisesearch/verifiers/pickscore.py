"""The ``pickscore`` verifier: PickScore (Kirstain et al. 2023, "Pick-a-Pic", Sec. 4).

    PickScore(image, prompt) = exp(logit_scale) * cos(E_image, E_prompt)

with a CLIP-H model fine-tuned on human preferences (``yuvalkirstain/PickScore_v1``, which
uses the processor and tokenizer of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``; a folder that
holds its own processor and tokenizer uses those). It is CLIPScore's code with another formula.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import PICKSCORE_CHECKPOINT
from .clip import CLIPScore

PICKSCORE_PROCESSOR = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"


class PickScore(CLIPScore):
    """The preference model's logit for each image given its prompt."""

    name = "pickscore"

    def __init__(self, checkpoint: str | Path = PICKSCORE_CHECKPOINT, micro_batch: int = 64,
                 device: str = "cpu", processor_source: str | Path | None = PICKSCORE_PROCESSOR) -> None:
        super().__init__(checkpoint, micro_batch=micro_batch, device=device, name="pickscore",
                         processor_source=processor_source)
        self.logit_scale = float(self.model.logit_scale.exp())
        s = f"{self.logit_scale:.4g}"
        self.scale = f"PickScore {s}*cos, -{s} to {s}"

    def from_cosine(self, cos: torch.Tensor) -> torch.Tensor:
        return self.logit_scale * cos
