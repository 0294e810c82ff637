"""The two kinds of failure the tool reports in one line."""

from __future__ import annotations

from collections.abc import Iterable


class InputError(ValueError):
    """Bad input: an unknown name, a value out of range, a folder holding another run."""


class RunError(RuntimeError):
    """A failure while computing: NaN from a model, a verifier that raised."""


def unknown(kind: str, name: object, valid: Iterable[object]) -> InputError:
    """An ``InputError`` naming the unknown ``kind`` and the valid choices."""
    return InputError(f"unknown {kind} {name!r}; valid: {', '.join(map(str, valid))}")
