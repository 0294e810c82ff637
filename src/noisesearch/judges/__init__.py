"""Judges: held-out scorers the search never sees, reporting per-sample metrics."""

from __future__ import annotations

from typing import Any

import torch

from ..batching import fixed_shape_map
from ..digits_nets import load_net
from ..errors import unknown
from .base import Judge
from .frechet import DigitsFrechet, SetJudge
from .shapes_oracle import ShapesOracle


class DigitsEvaluator(Judge):
    """A CNN of another architecture, trained on the disjoint ``judge`` half of the digits."""

    name = "digits-evaluator"

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


JUDGES: dict[str, dict[str, Any]] = {
    "digits-evaluator": {
        "factory": DigitsEvaluator,
        "summary": "held-out digits CNN: target-class probability and accuracy",
    },
    "shapes-oracle": {
        "factory": ShapesOracle,
        "summary": "program that parses a shapes image (palette segmentation, components, shape templates) "
                   "and checks its prompt, GenEval-style: accuracy per sample",
    },
    "digits-fd": {
        "factory": DigitsFrechet,
        "summary": "Frechet distance of the set of winners to real digits in the judge CNN's features "
                   "(fidelity and diversity; lower is better)",
    },
}

DEFAULT_JUDGES = {"digits": ["digits-evaluator"], "gmm": [], "flow-gmm": [], "shapes": ["shapes-oracle"]}


def load_judge(name: str) -> Judge | SetJudge:
    """A judge by name: per-sample (``Judge``) or of the whole set of winners (``SetJudge``)."""
    if name not in JUDGES:
        raise unknown("judge", name, JUDGES)
    return JUDGES[name]["factory"]()


__all__ = ["Judge", "SetJudge", "DigitsEvaluator", "ShapesOracle", "DigitsFrechet", "JUDGES",
           "DEFAULT_JUDGES", "load_judge"]
