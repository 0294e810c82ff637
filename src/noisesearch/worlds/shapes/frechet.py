"""The ``shapes-fd`` judge: fidelity and diversity of a set of winners, as ``digits-fd`` is for digits.

The Frechet distance (``judges/frechet.py``) between the winners and freshly drawn scenes of
the same prompts (``SCENES_PER_PROMPT`` per winner, keyed by the prompt and its occurrence, so
the reference is the same for every method run on the same prompts), both in the 128-d
features of ``networks.SceneEncoder``: a network trained on its own scenes to count objects
and place them, which no search verifier uses. A search that satisfies its verifier with
smeared, off-palette or always-the-same scenes shows here even when the oracle's accuracy
rises.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ...batching import chunks
from ...judges.base import SetJudge
from ...judges.frechet import frechet_distance
from .networks import load_net
from .prompts import parse_prompt
from .scenes import render, rng_for, sample_scene

SCENES_PER_PROMPT = 8


def reference_scenes(conditions: Sequence[Any], per_prompt: int = SCENES_PER_PROMPT) -> torch.Tensor:
    """``per_prompt`` drawn scenes for every condition, in [0, 1] (N * per_prompt, 3, 32, 32); the
    k-th occurrence of a prompt gets the scenes keyed ("shapes-fd", prompt, k, j)."""
    seen: Counter[str] = Counter()
    images = []
    for condition in conditions:
        prompt = parse_prompt(str(condition))
        text = prompt.text()
        for j in range(per_prompt):
            images.append(render(sample_scene(prompt, rng_for(("shapes-fd", text, seen[text], j)))))
        seen[text] += 1
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0


class ShapesFrechet(SetJudge):
    """Frechet distance to drawn scenes of the same prompts, in a held-out encoder's features."""

    name = "shapes-fd"
    metrics = {"fd": "Frechet distance of all winners to drawn scenes of their prompts in the held-out "
                     "scene encoder's features (lower is better)"}

    def __init__(self, per_prompt: int = SCENES_PER_PROMPT, micro_batch: int = 256) -> None:
        self.encoder = load_net("shapes_encoder")
        self.per_prompt = per_prompt
        self.micro_batch = micro_batch
        self.reference: tuple[tuple[str, ...], torch.Tensor] | None = None  # the last prompts' features

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().cpu().clamp(0, 1)
        return torch.cat([self.encoder.embed(x[part]) for part in chunks(len(x), self.micro_batch)])

    def evaluate_set(self, images, conditions):
        if len(images) < 2:
            return {"fd": float("nan")}
        return {"fd": frechet_distance(self.embed(images), self.reference_features(conditions))}

    def reference_features(self, conditions: Sequence[Any]) -> torch.Tensor:
        """The features of ``reference_scenes(conditions)``, kept for the next set of the same
        prompts (a bench judges every cell on the same ones)."""
        key = tuple(str(c) for c in conditions)
        if self.reference is None or self.reference[0] != key:
            self.reference = (key, self.embed(reference_scenes(conditions, self.per_prompt)))
        return self.reference[1]
