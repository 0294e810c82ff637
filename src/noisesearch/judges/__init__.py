"""Judges: held-out scorers the search never sees, per sample or of the whole set of winners.
The names are imported on first use (``lazy.py``)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

__all__ = ["Judge", "SetJudge", "frechet_distance"]

__getattr__ = lazy_exports(__name__, {"Judge": ".base", "SetJudge": ".base", "frechet_distance": ".frechet"})

if TYPE_CHECKING:
    from .base import Judge, SetJudge
    from .frechet import frechet_distance
