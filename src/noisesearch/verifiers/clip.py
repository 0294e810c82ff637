"""The ``clip`` verifier: CLIPScore (Hessel et al. 2021, Eq. 1) with any transformers CLIP checkpoint.

    CLIPScore(image, prompt) = w * max(cos(E_image, E_prompt), 0),  w = 2.5

The checkpoint is a hub id or a local folder holding a ``CLIPModel`` (safetensors weights
only), its tokenizer and its image processor's config; ``shapes-clip`` is this verifier on
the embedded folder ``weights/shapes_clip`` (``shapes_model.CLIP_DIR``). Images are
resized (shortest edge, bicubic), centre-cropped and normalised as the processor's config
says, in torch, so the score is differentiable in the image.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..batching import fixed_shape_map
from ..errors import InputError
from ..hf import quiet
from .base import Verifier

CLIPSCORE_W = 2.5


def features(output) -> torch.Tensor:
    """Projected CLIP features from ``get_image_features``/``get_text_features`` (a tensor in
    transformers 4, an output whose ``pooler_output`` holds them in transformers 5)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def load_clip(checkpoint: str | Path):
    """(model, tokenizer, image processor) from a hub id or folder, safetensors only.

    ``InputError`` with what to download and where when it is not available offline.
    """
    quiet()  # before the import, which warns when it falls back to the PIL image processor
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    try:
        model = CLIPModel.from_pretrained(str(checkpoint), use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
        processor = CLIPImageProcessor.from_pretrained(str(checkpoint))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"CLIP checkpoint {str(checkpoint)!r} is not available ({type(exc).__name__}); "
            "give a local folder with config.json, model.safetensors, the tokenizer files and "
            "preprocessor_config.json "
            "(e.g. `huggingface-cli download <id> --local-dir DIR` where a network is available), "
            "then use clip:DIR"
        ) from None
    return model.eval().requires_grad_(False), tokenizer, processor


class CLIPScore(Verifier):
    """CLIPScore between each image and its prompt."""

    name = "clip"
    differentiable = True

    def __init__(self, checkpoint: str | Path, w: float = CLIPSCORE_W, micro_batch: int = 64,
                 device: str = "cpu", name: str = "clip") -> None:
        self.name = name
        self.model, self.tokenizer, processor = load_clip(checkpoint)
        self.device = torch.device(device)
        self.model.to(self.device)
        self.w = w
        self.micro_batch = micro_batch
        size = processor.size
        self.resize = size.get("shortest_edge") or min(size.get("height", 224), size.get("width", 224))
        crop = processor.crop_size or {"height": self.resize, "width": self.resize}
        self.crop = (crop["height"], crop["width"])
        self.mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
        self.std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
        self.max_length = min(getattr(self.tokenizer, "model_max_length", 77),
                              self.model.config.text_config.max_position_embeddings)
        self._text_cache: dict[str, torch.Tensor] = {}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (B, 3, H, W) to the model's normalised input."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise InputError(f"clip expects images (B, 3, H, W), got {tuple(images.shape)}")
        x = images.float().expand(-1, 3, -1, -1)
        h, w = x.shape[-2:]
        scale = self.resize / min(h, w)
        if scale != 1.0:
            x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bicubic",
                              align_corners=False, antialias=scale < 1).clamp(0, 1)
        top = (x.shape[-2] - self.crop[0]) // 2
        left = (x.shape[-1] - self.crop[1]) // 2
        x = x[..., top:top + self.crop[0], left:left + self.crop[1]]
        return (x - self.mean.to(x.device)) / self.std.to(x.device)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.preprocess(images).to(self.device)
        return F.normalize(features(self.model.get_image_features(pixel_values=pixels)), dim=-1)

    def text_features(self, prompts: list[str]) -> torch.Tensor:
        missing = sorted({p for p in prompts if p not in self._text_cache})
        if missing:
            ids = self.tokenizer(missing, padding="max_length", max_length=self.max_length, truncation=True,
                                 return_tensors="pt").input_ids.to(self.device)
            with torch.no_grad():
                emb = F.normalize(features(self.model.get_text_features(input_ids=ids)), dim=-1)
            self._text_cache.update(zip(missing, emb, strict=True))
        return torch.stack([self._text_cache[p] for p in prompts])

    def _score(self, images, conditions):
        prompts = [str(c) for c in conditions]
        img = fixed_shape_map(self.image_features, images, size=self.micro_batch)
        cos = (img * self.text_features(prompts).to(img.device)).sum(-1)
        return (self.w * cos.clamp(min=0)).cpu()
