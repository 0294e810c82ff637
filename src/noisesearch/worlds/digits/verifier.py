"""The ``digits-classifier`` verifier: the target class's log-probability (or probability)."""

from __future__ import annotations

import torch

from ...batching import fixed_shape_map
from ...errors import InputError
from ...verifiers.base import Verifier
from .classifiers import load_net

OUTPUTS = ("logprob", "prob")


class DigitsClassifier(Verifier):
    """log p(target | image) from a small CNN trained on the ``verifier`` half of the digits."""

    name = "digits-classifier"
    differentiable = True

    def __init__(self, output: str = "logprob", micro_batch: int = 64) -> None:
        if output not in OUTPUTS:
            raise InputError(f"digits-classifier output {output!r} is unknown; valid: {', '.join(OUTPUTS)}")
        self.output = output
        self.scale = "p(target class), 0 to 1" if output == "prob" else "log p(target class), <= 0"
        self.net = load_net("digits_verifier")
        self.micro_batch = micro_batch

    def log_probs(self, images: torch.Tensor) -> torch.Tensor:
        logits = fixed_shape_map(self.net, images.float().cpu(), size=self.micro_batch)
        return torch.log_softmax(logits, dim=1)

    def _score(self, images, conditions):
        targets = torch.tensor([int(c) for c in conditions])
        logp = self.log_probs(images).gather(1, targets[:, None])[:, 0]
        return logp.exp() if self.output == "prob" else logp
