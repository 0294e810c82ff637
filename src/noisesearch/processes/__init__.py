"""Denoising processes: the interface (a denoiser and a sampler), the Gaussian mixtures and the
diffusers pipelines. The embedded models are in ``worlds/``; names map to processes in
``catalogue.py``. The names are imported on first use (``lazy.py``)."""

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

__all__ = ["DenoisingProcess", "Denoiser", "Sampler", "Schedule", "dit_process", "flow_gmm_process",
           "flux_process", "gmm_process", "sd3_process", "sd_process", "sdxl_process"]

__getattr__ = lazy_exports(__name__, {
    "DenoisingProcess": ".base", "Denoiser": ".denoiser", "Sampler": ".sampler", "Schedule": ".sampler",
    "dit_process": ".ddim_pipelines", "sd_process": ".ddim_pipelines", "sdxl_process": ".ddim_pipelines",
    "flux_process": ".flow_pipelines", "sd3_process": ".flow_pipelines", "gmm_process": ".gmm",
    "flow_gmm_process": ".gmm",
})

if TYPE_CHECKING:
    from .base import DenoisingProcess
    from .ddim_pipelines import dit_process, sd_process, sdxl_process
    from .denoiser import Denoiser
    from .flow_pipelines import flux_process, sd3_process
    from .gmm import flow_gmm_process, gmm_process
    from .sampler import Sampler, Schedule
