"""Verifiers: reward models that score images against their conditions. Names map to verifiers
in ``catalogue.py``; any callable is wrapped by ``CallableVerifier``. The classes are imported
on first use (``lazy.py``)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

PICKSCORE_CHECKPOINT = "yuvalkirstain/PickScore_v1"  # the ``pickscore`` verifier's default weights

__all__ = ["Verifier", "CallableVerifier", "AestheticScore", "Brightness", "CLIPScore", "Compressibility",
           "Ensemble", "HPSScore", "ImageClassifier", "ImageRewardScore", "PickScore", "SelfSupervised"]

__getattr__ = lazy_exports(__name__, {
    "AestheticScore": ".aesthetic", "Verifier": ".base", "CallableVerifier": ".base",
    "ImageClassifier": ".classifier", "CLIPScore": ".clip", "Ensemble": ".ensemble",
    "Brightness": ".image_stats", "Compressibility": ".image_stats", "HPSScore": ".optional",
    "ImageRewardScore": ".optional", "PickScore": ".pickscore", "SelfSupervised": ".self_supervised",
})

if TYPE_CHECKING:
    from .aesthetic import AestheticScore
    from .base import CallableVerifier, Verifier
    from .classifier import ImageClassifier
    from .clip import CLIPScore
    from .ensemble import Ensemble
    from .image_stats import Brightness, Compressibility
    from .optional import HPSScore, ImageRewardScore
    from .pickscore import PickScore
    from .self_supervised import SelfSupervised
