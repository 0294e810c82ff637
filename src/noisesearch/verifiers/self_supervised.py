"""The ``self-supervised`` verifier (Ma et al. 2025, "Inference-Time Scaling for Diffusion Models
beyond Scaling Denoising Steps", Sec. 3.1): the cosine similarity between the features of the
clean prediction x0_hat at a low noise level (sigma = 0.4) and those of the final sample. A
sample the model would re-create from a partly noised copy of itself scores high; no prompt
or reward model is involved.

    score(x) = cos(f(decode(x0_hat(x_s))), f(x)),   x_s = renoise(encode(x), s),
    s the state whose normalised noise level is nearest ``level`` (converted from ``unit``),

``level`` is in ``unit`` (``processes/levels.py``), by default ``flow``: Ma et al.'s sigma = 0.4
is the time t of SiT's linear interpolant x_t = (1 - t) x_0 + t eps, a normalised (VP) level
of 0.555; ``unit="vp"`` takes ``level`` as the normalised level itself.

with f the unit-norm image embedding of a CLIP checkpoint (``self-supervised:CHECKPOINT``).

Deviation: Ma et al. take x0_hat from the candidate's own trajectory at sigma = 0.4; a verifier
sees only finished samples, so the sample is encoded (``process.encode_image``) and re-noised
to that level by the exact forward process, with noise keyed by the sample's bytes (the same
sample always gets the same score). The verifier needs the process: the command line binds it
(``bind``); from Python pass ``process=``.

Cost: each score is one verifier call and one denoiser evaluation of the searched model
(``process.nfe_per_step`` NFEs: two with guidance), and searches charge both to the ledger, so
its NFEs count every evaluation. A budget sizes the search's own NFEs (its candidates); the
verifier's are added on top: random search of N candidates reports N x (generation + 1 step) NFEs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..batching import fixed_shape_map
from ..errors import InputError
from ..noise import keyed_normal
from ..processes.levels import check_unit, require_level, to_vp
from .clip import CLIPImageVerifier

LEVEL = 0.4  # Ma et al.'s sigma for the clean prediction
UNIT = "flow"  # ... on SiT's interpolant time


def digest(image: torch.Tensor) -> str:
    """A key for one sample: the hash of its bytes."""
    data = image.detach().float().cpu().contiguous().numpy().tobytes()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class SelfSupervised(CLIPImageVerifier):
    """Feature agreement of a sample with the model's clean prediction from its re-noised copy."""

    differentiable = False
    scale = "cosine of the CLIP features of a sample and of its re-noised and denoised copy, -1 to 1"

    def __init__(self, checkpoint: str | Path, process: Any = None, level: float = LEVEL, unit: str = UNIT,
                 micro_batch: int = 16, device: str = "cpu") -> None:
        super().__init__(checkpoint, "self-supervised", micro_batch=micro_batch, device=device, text=False,
                         usage="self-supervised:DIR")
        require_level("level", level, check_unit(unit), zero=False, top=False)
        self.level, self.unit, self.process = level, unit, process

    def bind(self, process: Any) -> None:
        """Use ``process`` (the one being searched) to re-noise and denoise samples."""
        self.process = process

    @property
    def denoiser_nfe(self) -> int:
        """One prediction of the bound process per scored image (0 until one is bound)."""
        return 0 if self.process is None else self.process.nfe_per_step

    def state(self) -> int:
        """The index of the state whose normalised noise level is nearest ``level`` (in ``unit``)."""
        return int((self.process.noise_levels() - to_vp(self.level, self.unit)).abs().argmin())

    def _score(self, images: torch.Tensor, conditions: Sequence[Any]) -> torch.Tensor:
        process = self.process
        if process is None:
            raise InputError("the self-supervised verifier needs the process it scores samples of; "
                             "pass process= (the command line does this itself)")
        i = self.state()
        with torch.no_grad():
            x0 = process.encode_image(images)
            # noise scheme 1 (noise.py), as in 0.1.0: a sample's score stays what it was
            noise = keyed_normal([("self-supervised", digest(img)) for img in images], process.sample_shape,
                                 process.device, process.dtype, scheme=1)
            x_i = process.renoise(x0.to(process.dtype), process.steps, i, noise)
            predicted, _ = process.predict(x_i, i, process.encode(list(conditions)))
            again = process.decode(predicted)
            f_again = fixed_shape_map(self.image_features, again.float(), size=self.micro_batch)
            f_sample = fixed_shape_map(self.image_features, images.float(), size=self.micro_batch)
        return (f_again * f_sample).sum(-1).cpu()
