"""Verifiers over optional third-party packages (not dependencies of noisesearch).

``imagereward``: ImageReward (Xu et al. 2023), a BLIP-based human-preference reward,
``ImageReward.load("ImageReward-v1.0").score(prompt, image)``; ``pip install image-reward``.
``hps``: HPS v2.1 (Wu et al. 2023, "Human Preference Score v2"), a preference-tuned CLIP-H,
``hpsv2.score(images, prompt, hps_version="v2.1")``; ``pip install hpsv2``.

Both take 8-bit PIL images, so they are not differentiable. Each image is scored in its own
call (both packages then encode one image at a time), which keeps a row's score independent
of the batch it came in, as ``fixed_shape_map`` does for the networks run here. The packages
download their weights on first use; without a network, load them once where one is available.
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

from ..errors import InputError
from .base import Verifier
from .image_stats import to_pil


def require(module: str, package: str, verifier: str, install: str | None = None):
    """The module, or ``InputError`` saying which package to install (``install``: the command)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        command = install or f"pip install {package}"
        raise InputError(f"verifier {verifier!r} needs the optional package {package!r} "
                         f"(`{command}`; import {module!r} failed: {exc})") from None


def as_float(value) -> float:
    """One score from a float, a one-element list or array."""
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


class ImageRewardScore(Verifier):
    """ImageReward's preference score of each image for its prompt."""

    name = "imagereward"
    scale = "ImageReward, standardised on human ratings: mostly -2 to 2"

    def __init__(self, checkpoint: str = "ImageReward-v1.0", device: str = "cpu") -> None:
        rm = require("ImageReward", "image-reward", "imagereward")
        try:
            self.model = rm.load(checkpoint, device=device)
        except Exception as exc:  # the package's own download or loading failure, in one line
            raise InputError(f"imagereward: ImageReward.load({checkpoint!r}) failed ({type(exc).__name__}: "
                             f"{(str(exc).strip().splitlines() or [''])[0]}); it downloads its weights "
                             "on first use, so load it once where a network is available") from None

    def _score(self, images, conditions):
        with torch.no_grad():
            return torch.tensor([as_float(self.model.score(str(c), [to_pil(image)]))
                                 for image, c in zip(images, conditions, strict=True)])


class HPSScore(Verifier):
    """HPS v2.1's preference score of each image for its prompt."""

    name = "hps"
    scale = "HPS cosine of image and prompt, -1 to 1 (mostly 0.2 to 0.35)"

    def __init__(self, version: str = "v2.1") -> None:
        self.hpsv2 = require("hpsv2", "hpsv2", "hps")
        self.version = version

    def _score(self, images, conditions):
        with torch.no_grad():
            return torch.tensor([as_float(self.hpsv2.score([to_pil(image)], str(c), hps_version=self.version))
                                 for image, c in zip(images, conditions, strict=True)])
