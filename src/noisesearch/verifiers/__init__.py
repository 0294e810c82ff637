"""Verifiers by name (``name`` or ``name:argument``), or from any callable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InputError, unknown
from ..processes.shapes_model import CLIP_DIR
from .aesthetic import LAYOUT, AestheticScore
from .base import CallableVerifier, Verifier
from .classifier import ImageClassifier
from .clip import CLIPScore
from .digits_classifier import DigitsClassifier
from .ensemble import Ensemble
from .image_stats import Brightness, Compressibility
from .optional import HPSScore, ImageRewardScore
from .pickscore import PICKSCORE_CHECKPOINT, PickScore
from .self_supervised import SelfSupervised

VERIFIERS: dict[str, dict[str, Any]] = {
    "digits-classifier": {
        "factory": lambda arg=None, device="cpu": DigitsClassifier(output=arg or "logprob"),
        "summary": "log p(target class) from a CNN trained on half the digits; "
                   "'digits-classifier:prob' for the probability",
        "differentiable": True,
    },
    "clip": {
        "factory": lambda arg=None, device="cpu": CLIPScore(
            arg or _missing("clip", "clip:CHECKPOINT (hub id or folder)"), device=device),
        "summary": "CLIPScore 2.5 * max(cos, 0) with any transformers CLIP checkpoint: 'clip:CHECKPOINT'",
        "differentiable": True,
    },
    "shapes-clip": {
        "factory": lambda arg=None, device="cpu": CLIPScore(CLIP_DIR, name="shapes-clip", device=device),
        "summary": "CLIPScore with the embedded small CLIP trained on shapes scenes with hard negatives",
        "differentiable": True,
    },
    "brightness": {"factory": lambda arg=None, device="cpu": Brightness(), "summary": "mean pixel value",
                   "differentiable": True},
    "compressibility": {
        "factory": lambda arg=None, device="cpu": Compressibility(int(arg) if arg else 95),
        "summary": "negative JPEG size in kB (Ramesh & Mardani 2025); 'compressibility:QUALITY', default 95",
        "differentiable": False,
    },
    "pickscore": {
        "factory": lambda arg=None, device="cpu": PickScore(arg or PICKSCORE_CHECKPOINT, device=device),
        "summary": "PickScore (Kirstain et al. 2023) exp(logit_scale) * cos of a preference-tuned CLIP; "
                   f"'pickscore:CHECKPOINT', default {PICKSCORE_CHECKPOINT}",
        "differentiable": True,
    },
    "aesthetic": {
        "factory": lambda arg=None, device="cpu": AestheticScore(
            arg or _missing("aesthetic", f"aesthetic:FOLDER with {LAYOUT}"), device=device),
        "summary": "LAION aesthetic predictor v2: an MLP on the unit CLIP image embedding, prompt ignored; "
                   "'aesthetic:FOLDER' (FOLDER/clip/, FOLDER/mlp.safetensors)",
        "differentiable": True,
    },
    "classifier": {
        "factory": lambda arg=None, device="cpu": ImageClassifier(
            arg or _missing("classifier", "classifier:CHECKPOINT (hub id or folder of a transformers "
                                          "image classifier)"), device=device),
        "summary": "log p(target class) from any transformers image classifier; 'classifier:CHECKPOINT', "
                   "conditions are class indices or labels",
        "differentiable": True,
    },
    "ensemble": {
        "factory": lambda arg=None, device="cpu": Ensemble.parse(
            arg or _missing("ensemble", "ensemble:v1+v2 (mean rank) or ensemble:w1*v1+w2*v2 (weighted sum)"),
            load_verifier, device=device),
        "summary": "'ensemble:v1+v2' mean rank among a condition's images scored together (Ma et al. 2025); "
                   "'ensemble:0.7*v1+0.3*v2' weighted sum, differentiable when its members are",
        "differentiable": False,
    },
    "imagereward": {
        "factory": lambda arg=None, device="cpu": ImageRewardScore(arg or "ImageReward-v1.0", device=device),
        "summary": "ImageReward (Xu et al. 2023) preference score; needs `pip install image-reward`",
        "differentiable": False,
    },
    "hps": {
        "factory": lambda arg=None, device="cpu": HPSScore(arg or "v2.1"),
        "summary": "HPS v2.1 (Wu et al. 2023) preference score; needs `pip install hpsv2`; 'hps:v2.0' for v2",
        "differentiable": False,
    },
    "self-supervised": {
        "factory": lambda arg=None, device="cpu": SelfSupervised(
            arg or _missing("self-supervised", "self-supervised:CHECKPOINT (a CLIP hub id or folder)"),
            device=device),
        "summary": "cosine of CLIP features of the sample and of the model's x0_hat from it re-noised to "
                   "level 0.4 (Ma et al. 2025); 'self-supervised:CHECKPOINT'",
        "differentiable": False,
    },
}


def _missing(name: str, usage: str):
    raise InputError(f"verifier {name!r} needs an argument: {usage}")


def load_verifier(spec: str | Callable | Verifier, device: str = "cpu") -> Verifier:
    """A verifier from a name (``digits-classifier``, ``compressibility:80``), a callable or itself.

    ``device`` places the verifiers that run a large network (CLIP, classifiers); the others run on
    the CPU. ``ensemble:`` members are loaded by this function too."""
    if isinstance(spec, Verifier):
        return spec
    if callable(spec):
        return CallableVerifier(spec)
    name, _, arg = str(spec).partition(":")
    if name not in VERIFIERS:
        raise unknown("verifier", spec, VERIFIERS)
    return VERIFIERS[name]["factory"](arg or None, device=device)


def bind(verifier: Verifier, process: Any) -> Verifier:
    """Give ``process`` to a verifier that scores with it (``self-supervised``, also inside ensembles)."""
    if hasattr(verifier, "bind"):
        verifier.bind(process)
    for member in getattr(verifier, "members", []):
        bind(member, process)
    return verifier


__all__ = ["Verifier", "CallableVerifier", "VERIFIERS", "bind", "load_verifier"]
