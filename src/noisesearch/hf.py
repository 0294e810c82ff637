"""Quiet loading of diffusers and transformers components (no progress bars or advisory warnings)."""

from __future__ import annotations


def quiet() -> None:
    """Silence the libraries' info logs and loading bars; errors still raise."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
