"""Verifiers by name (``name`` or ``name:argument``), or from any callable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import unknown
from .base import CallableVerifier, Verifier
from .digits_classifier import DigitsClassifier
from .image_stats import Brightness, Compressibility

VERIFIERS: dict[str, dict[str, Any]] = {
    "digits-classifier": {
        "factory": lambda arg=None: DigitsClassifier(output=arg or "logprob"),
        "summary": "log p(target class) from a CNN trained on half the digits; "
                   "'digits-classifier:prob' for the probability",
        "differentiable": True,
    },
    "brightness": {"factory": lambda arg=None: Brightness(), "summary": "mean pixel value",
                   "differentiable": True},
    "compressibility": {
        "factory": lambda arg=None: Compressibility(int(arg) if arg else 95),
        "summary": "negative JPEG size in kB (Ramesh & Mardani 2025); 'compressibility:QUALITY', default 95",
        "differentiable": False,
    },
}


def load_verifier(spec: str | Callable | Verifier) -> Verifier:
    """A verifier from a name (``digits-classifier``, ``compressibility:80``), a callable or itself."""
    if isinstance(spec, Verifier):
        return spec
    if callable(spec):
        return CallableVerifier(spec)
    name, _, arg = str(spec).partition(":")
    if name not in VERIFIERS:
        raise unknown("verifier", spec, VERIFIERS)
    return VERIFIERS[name]["factory"](arg or None)


__all__ = ["Verifier", "CallableVerifier", "VERIFIERS", "load_verifier"]
