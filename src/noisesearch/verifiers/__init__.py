"""Verifiers: reward models that score images against their conditions. Names map to verifiers
in ``catalogue.py``; any callable is wrapped by ``CallableVerifier``."""

from .aesthetic import AestheticScore
from .base import CallableVerifier, Verifier
from .classifier import ImageClassifier
from .clip import CLIPScore
from .ensemble import Ensemble
from .image_stats import Brightness, Compressibility
from .optional import HPSScore, ImageRewardScore
from .pickscore import PickScore
from .self_supervised import SelfSupervised

__all__ = ["Verifier", "CallableVerifier", "AestheticScore", "Brightness", "CLIPScore", "Compressibility",
           "Ensemble", "HPSScore", "ImageClassifier", "ImageRewardScore", "PickScore", "SelfSupervised"]
