"""A transformers image processor's resize / centre-crop / rescale / normalise, in torch.

Reward models take images in [0, 1] (B, C, H, W) and must stay differentiable in them, so
the processor's own (PIL, numpy) pipeline cannot be used. ``ImageTransform.from_processor``
reads its config (``size``, ``resample``, ``do_center_crop``/``crop_size``, ``image_mean``,
``image_std``, ``rescale_factor``, and ConvNeXt's ``crop_pct``) and reproduces it: exactly
when no resize is needed, and when resizing up to the 8-bit rounding of PIL's two passes
(about 1/255 before normalising; see ``resize``). Grey images are repeated to the
processor's channel count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError

# PIL's resampling filters (PIL.Image.Resampling, transformers' PILImageResampling) in torch
MODES = {0: "nearest-exact", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear", 5: "bilinear"}


def _get(mapping, key):
    """``mapping[key]`` or None, for dicts (transformers 4) and ``SizeDict`` (transformers 5)."""
    if mapping is None:
        return None
    return mapping.get(key) if hasattr(mapping, "get") else getattr(mapping, key, None)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """``x`` in [0, 1] resized as PIL resizes: a horizontal then a vertical pass with PIL's
    filters (torch's antialiased kernels, bicubic a = -0.5, also when enlarging) and the result
    clamped after each pass, as PIL's 8-bit intermediate is; PIL's rounding is not applied."""
    smooth = not mode.startswith("nearest")
    for shape in ((x.shape[-2], size[1]), size):
        if shape != tuple(x.shape[-2:]):
            x = F.interpolate(x, size=shape, mode=mode, align_corners=False if smooth else None,
                              antialias=smooth).clamp(0, 1)
    return x


@dataclass
class ImageTransform:
    """Images in [0, 1] to a model's input: resize, centre-crop, rescale, normalise.

    ``resize`` is an int (the shortest edge, aspect kept) or ``(height, width)``; ``crop`` a
    ``(height, width)`` centre crop or None."""

    resize: int | tuple[int, int] | None
    crop: tuple[int, int] | None
    mean: torch.Tensor
    std: torch.Tensor
    mode: str = "bicubic"
    scale: float = 1.0
    name: str = "verifier"

    @classmethod
    def from_processor(cls, processor, name: str = "verifier") -> ImageTransform:
        size = getattr(processor, "size", None)
        resize: int | tuple[int, int] | None = None
        if getattr(processor, "do_resize", True) and size is not None:
            if _get(size, "shortest_edge"):
                resize = int(_get(size, "shortest_edge"))
            elif _get(size, "height") and _get(size, "width"):
                resize = (int(_get(size, "height")), int(_get(size, "width")))
            else:
                raise InputError(f"{name}: cannot read the image processor's size {size!r}; "
                                 "expected shortest_edge or height and width")
        crop = None
        crop_size = getattr(processor, "crop_size", None)
        if getattr(processor, "do_center_crop", False) and crop_size is not None:
            crop = (int(_get(crop_size, "height")), int(_get(crop_size, "width")))
        crop_pct = getattr(processor, "crop_pct", None)
        if crop_pct and isinstance(resize, int) and crop is None:  # ConvNeXt: enlarge, then crop
            edge = resize
            resize, crop = ((int(edge / crop_pct), (edge, edge)) if edge < 384 else ((edge, edge), None))
        channels = len(getattr(processor, "image_mean", None) or [0.0, 0.0, 0.0])
        if getattr(processor, "do_normalize", True):
            mean, std = processor.image_mean, processor.image_std
        else:
            mean, std = [0.0] * channels, [1.0] * channels
        scale = 255.0 * processor.rescale_factor if getattr(processor, "do_rescale", True) else 255.0
        resample = getattr(processor, "resample", None)
        mode = "bicubic" if resample is None else MODES.get(int(resample), "bicubic")
        return cls(resize=resize, crop=crop, mode=mode, scale=scale, name=name,
                   mean=torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1),
                   std=torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        channels = self.mean.shape[1]
        if images.ndim != 4 or images.shape[1] not in (1, channels):
            raise InputError(f"{self.name} expects images (B, {channels}, H, W), got {tuple(images.shape)}")
        x = images.float().expand(-1, channels, -1, -1)
        h, w = x.shape[-2:]
        if isinstance(self.resize, int):  # as transformers' get_resize_output_image_size
            long = int(self.resize * max(h, w) / min(h, w))
            target = (long, self.resize) if w <= h else (self.resize, long)
        else:
            target = self.resize or (h, w)
        if target != (h, w):
            x = resize(x, target, self.mode)
        if self.crop is not None:
            top = (x.shape[-2] - self.crop[0]) // 2
            left = (x.shape[-1] - self.crop[1]) // 2
            x = x[..., top:top + self.crop[0], left:left + self.crop[1]]
        if self.scale != 1.0:
            x = x * self.scale
        return (x - self.mean.to(x.device)) / self.std.to(x.device)
