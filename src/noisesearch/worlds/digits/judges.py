"""The digits judges: the held-out CNN's accuracy per sample, and the Frechet distance of the set
of winners to real digits in its features.

The judge CNN has another architecture than the verifier's and was trained on the disjoint
``judge`` half of the data; the Frechet distance compares its 128-d penultimate features of the
generated set with those of the real digits it was not trained on (the ``verifier`` half). A
search that finds the right class but collapses onto a few prototypes shows there even when
accuracy is perfect.
"""

from __future__ import annotations

import torch

from ...batching import fixed_shape_map
from ...judges.base import Judge, SetJudge
from ...judges.frechet import frechet_distance
from .classifiers import load_net
from .data import load_digits_16


class DigitsEvaluator(Judge):
    """A CNN of another architecture, trained on the disjoint ``judge`` half of the digits."""

    name = "digits-evaluator"
    metrics = {"target_prob": "the held-out CNN's p(target class), 0 to 1",
               "accuracy": "1 when its most likely class is the target, else 0"}

    def __init__(self, micro_batch: int = 64) -> None:
        self.net = load_net("digits_judge")
        self.micro_batch = micro_batch

    @torch.no_grad()
    def evaluate(self, images, conditions):
        targets = torch.tensor([int(c) for c in conditions])
        probs = torch.softmax(fixed_shape_map(self.net, images.float().cpu(), size=self.micro_batch), 1)
        return {
            "target_prob": probs.gather(1, targets[:, None])[:, 0],
            "accuracy": (probs.argmax(1) == targets).float(),
        }


class DigitsFrechet(SetJudge):
    """Frechet distance in the digits judge's feature space to the real digits it never saw."""

    name = "digits-fd"
    metrics = {"fd": "Frechet distance of all winners to real digits in the held-out CNN's features "
                     "(lower is better)"}

    def __init__(self, micro_batch: int = 64) -> None:
        net = load_net("digits_judge")
        self.micro_batch = micro_batch
        self.features = torch.nn.Sequential(net.features, *list(net.head)[:4]).eval()  # up to the 128-d ReLU
        real, _ = load_digits_16("verifier")
        self.real = self.embed(real)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        return fixed_shape_map(lambda x: self.features(x - 0.5), images.float().cpu(), size=self.micro_batch)

    def evaluate_set(self, images, conditions):
        if len(images) < 2:
            return {"fd": float("nan")}
        return {"fd": frechet_distance(self.embed(images), self.real)}
