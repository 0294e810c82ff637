"""Denoising processes: the interface, the Gaussian mixtures and the diffusers pipelines. The
embedded models are in ``worlds/``; names map to processes in ``catalogue.py``."""

from .base import DenoisingProcess
from .ddim_pipelines import DiTProcess, StableDiffusionProcess, StableDiffusionXLProcess
from .flow_pipelines import FluxProcess, StableDiffusion3Process
from .gmm import FlowGMMProcess, GMMProcess

__all__ = ["DenoisingProcess", "FlowGMMProcess", "GMMProcess", "StableDiffusionProcess",
           "StableDiffusionXLProcess", "DiTProcess", "StableDiffusion3Process", "FluxProcess"]
