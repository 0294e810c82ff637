"""Denoising processes: the interface (a denoiser and a sampler), the Gaussian mixtures and the
diffusers pipelines. The embedded models are in ``worlds/``; names map to processes in
``catalogue.py``."""

from .base import DenoisingProcess
from .ddim_pipelines import dit_process, sd_process, sdxl_process
from .denoiser import Denoiser
from .flow_pipelines import flux_process, sd3_process
from .gmm import flow_gmm_process, gmm_process
from .sampler import Sampler, Schedule

__all__ = ["DenoisingProcess", "Denoiser", "Sampler", "Schedule", "dit_process", "flow_gmm_process",
           "flux_process", "gmm_process", "sd3_process", "sd_process", "sdxl_process"]
