"""Judges: held-out scorers the search never sees, per sample or of the whole set of winners."""

from .base import Judge, SetJudge
from .frechet import frechet_distance

__all__ = ["Judge", "SetJudge", "frechet_distance"]
