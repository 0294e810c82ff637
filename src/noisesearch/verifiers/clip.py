"""The ``clip`` verifier: CLIPScore (Hessel et al. 2021, Eq. 1) with any transformers CLIP checkpoint.

    CLIPScore(image, prompt) = w * max(cos(E_image, E_prompt), 0),  w = 2.5

The checkpoint is a hub id or a local folder holding a ``CLIPModel`` (safetensors weights
only), its tokenizer and its image processor's config; ``shapes-clip`` is this verifier on
the embedded folder ``weights/shapes_clip`` (``worlds/shapes/verifier.py``). Images are
resized (shortest edge, bicubic), centre-cropped and normalised as the processor's config
says, in torch (``preprocess.ImageTransform``), so the score is differentiable in the image.
``CLIPImageVerifier`` (loading, preprocessing, unit image embeddings) is shared with
``pickscore`` and ``aesthetic``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..batching import fixed_shape_map
from ..errors import InputError
from ..hf import quiet
from .base import Verifier
from .preprocess import ImageTransform

CLIPSCORE_W = 2.5
LOAD_ERRORS = (OSError, ValueError)


def features(output) -> torch.Tensor:
    """Projected CLIP features from ``get_image_features``/``get_text_features`` (a tensor in
    transformers 4, an output whose ``pooler_output`` holds them in transformers 5)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def load_clip(checkpoint: str | Path, processor_source: str | Path | None = None, text: bool = True,
              usage: str = "clip:DIR"):
    """(model, tokenizer or None when not ``text``, image processor) from a hub id or folder,
    safetensors only. The tokenizer and processor come from ``checkpoint`` or, when it has
    none, from ``processor_source`` (PickScore's weights use another model's processor).

    ``InputError`` with what to download and where when it is not available offline.
    """
    quiet()  # before the import, which warns when it falls back to the PIL image processor
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    files = "the tokenizer files and preprocessor_config.json" if text else "preprocessor_config.json"
    try:
        model = CLIPModel.from_pretrained(str(checkpoint), use_safetensors=True)
    except LOAD_ERRORS as exc:
        raise InputError(
            f"CLIP checkpoint {str(checkpoint)!r} is not available ({type(exc).__name__}); "
            f"give a local folder with config.json, model.safetensors, {files} "
            "(e.g. `huggingface-cli download <id> --local-dir DIR` where a network is available), "
            f"then use {usage}"
        ) from None
    sources = [checkpoint] + ([processor_source] if processor_source is not None else [])
    for source in sources:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(source)) if text else None
            processor = CLIPImageProcessor.from_pretrained(str(source))
            break
        except LOAD_ERRORS as exc:
            error = type(exc).__name__
    else:
        tried = " or ".join(repr(str(s)) for s in sources)
        raise InputError(
            f"the image processor{' and tokenizer' if text else ''} of CLIP checkpoint {str(checkpoint)!r} "
            f"are not available from {tried} ({error}); put {files} in the checkpoint folder "
            f"(e.g. from `huggingface-cli download {sources[-1]} --local-dir DIR` where a network "
            f"is available), then use {usage}"
        )
    return model.eval().requires_grad_(False), tokenizer, processor


class CLIPImageVerifier(Verifier):
    """The shared part of the CLIP-based verifiers: the model on ``device``, the processor's
    preprocessing in torch, and unit-norm image embeddings."""

    differentiable = True

    def __init__(self, checkpoint: str | Path, name: str, micro_batch: int = 64, device: str = "cpu",
                 text: bool = True, processor_source: str | Path | None = None,
                 usage: str = "clip:DIR") -> None:
        self.name = name
        self.model, self.tokenizer, processor = load_clip(checkpoint, processor_source, text, usage)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.micro_batch = micro_batch
        self.transform = ImageTransform.from_processor(processor, name=name)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (B, 1 or 3, H, W) to the model's normalised input."""
        return self.transform(images)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings (call through ``fixed_shape_map`` for batch invariance)."""
        pixels = self.preprocess(images).to(self.device)
        return F.normalize(features(self.model.get_image_features(pixel_values=pixels)), dim=-1)


class CLIPScore(CLIPImageVerifier):
    """CLIPScore between each image and its prompt."""

    name = "clip"

    def __init__(self, checkpoint: str | Path, w: float = CLIPSCORE_W, micro_batch: int = 64,
                 device: str = "cpu", name: str = "clip", processor_source: str | Path | None = None) -> None:
        super().__init__(checkpoint, name, micro_batch=micro_batch, device=device,
                         processor_source=processor_source, usage=f"{name}:DIR")
        self.w = w
        self.scale = f"CLIPScore {w:g}*max(cos, 0), 0 to {w:g}"
        self.max_length = min(getattr(self.tokenizer, "model_max_length", 77),
                              self.model.config.text_config.max_position_embeddings)
        self._text_cache: dict[str, torch.Tensor] = {}

    def text_features(self, prompts: list[str]) -> torch.Tensor:
        missing = sorted({p for p in prompts if p not in self._text_cache})
        if missing:
            ids = self.tokenizer(missing, padding="max_length", max_length=self.max_length, truncation=True,
                                 return_tensors="pt").input_ids.to(self.device)
            with torch.no_grad():
                emb = F.normalize(features(self.model.get_text_features(input_ids=ids)), dim=-1)
            self._text_cache.update(zip(missing, emb, strict=True))
        return torch.stack([self._text_cache[p] for p in prompts])

    def from_cosine(self, cos: torch.Tensor) -> torch.Tensor:
        """The score from the image-prompt cosine similarity."""
        return self.w * cos.clamp(min=0)

    def _score(self, images, conditions):
        prompts = [str(c) for c in conditions]
        img = fixed_shape_map(self.image_features, images, size=self.micro_batch)
        cos = (img * self.text_features(prompts).to(img.device)).sum(-1)
        return self.from_cosine(cos).cpu()
