"""The shapes verifiers: ``shapes-clip``, CLIPScore (``verifiers/clip.py``) with the embedded small CLIP
trained on shapes scenes with hard negatives (``training/train_shapes_clip.py``), and
``shapes-vqa``, log P(the image shows the prompt) from a question-answering network trained
independently of it (``networks.SceneQA``, ``training/train_shapes_nets.py``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...batching import chunks
from ...verifiers.base import Verifier
from ...verifiers.clip import CLIPScore
from .. import WEIGHTS_DIR
from .networks import load_net
from .prompts import parse_prompt

CLIP_DIR = WEIGHTS_DIR / "shapes_clip"  # a transformers CLIPModel folder


def shapes_clip(device: str = "cpu") -> CLIPScore:
    """The ``shapes-clip`` verifier on ``device``."""
    return CLIPScore(CLIP_DIR, name="shapes-clip", device=device)


class ShapesVQA(Verifier):
    """log sigma(SceneQA(image, prompt)): the log-probability the network gives "the image shows
    the prompt", as VQAScore (Lin et al. 2024) reads P("Yes") from a vision-language model."""

    name = "shapes-vqa"
    differentiable = True
    scale = "log P(the image shows the prompt), <= 0"

    def __init__(self, micro_batch: int = 256, device: str = "cpu") -> None:
        self.device = torch.device(device)
        self.net = load_net("shapes_vqa").to(self.device)
        self.micro_batch = micro_batch

    def _score(self, images, conditions):
        prompts = [parse_prompt(str(c)).text() for c in conditions]  # InputError names the templates
        x = images.float().to(self.device).clamp(0, 1)
        logits = torch.cat([self.net(x[part], prompts[part]) for part in chunks(len(x), self.micro_batch)])
        return F.logsigmoid(logits).cpu()
