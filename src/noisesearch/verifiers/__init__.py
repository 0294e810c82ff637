"""Verifiers by name (``name`` or ``name:argument``), or from any callable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InputError, unknown
from ..processes.shapes_model import CLIP_DIR
from .base import CallableVerifier, Verifier
from .clip import CLIPScore
from .digits_classifier import DigitsClassifier
from .image_stats import Brightness, Compressibility

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
}


def _missing(name: str, usage: str):
    raise InputError(f"verifier {name!r} needs an argument: {usage}")


def load_verifier(spec: str | Callable | Verifier, device: str = "cpu") -> Verifier:
    """A verifier from a name (``digits-classifier``, ``compressibility:80``), a callable or itself.

    ``device`` places the verifiers that run a large network (CLIP); the others run on the CPU."""
    if isinstance(spec, Verifier):
        return spec
    if callable(spec):
        return CallableVerifier(spec)
    name, _, arg = str(spec).partition(":")
    if name not in VERIFIERS:
        raise unknown("verifier", spec, VERIFIERS)
    return VERIFIERS[name]["factory"](arg or None, device=device)


__all__ = ["Verifier", "CallableVerifier", "VERIFIERS", "load_verifier"]
