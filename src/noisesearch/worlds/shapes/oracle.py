"""The ``shapes-oracle`` judge: a program that reads a shapes image and checks its prompt.

GenEval (Ghosh et al. 2023) checks a generated image with an object detector; on shapes
the objects can be read exactly instead:

1. a pixel whose brightest channel is under ``FOREGROUND`` is background; any other
   takes the palette colour closest in direction (cosine), so darker edges keep their hue;
2. the foreground splits into 8-connected components, the objects (drawn objects never
   touch); components under ``MIN_AREA`` pixels are noise;
3. an object's colour is the colour of most of its pixels, or mixed when that covers less
   than ``MIN_COLOR_SHARE`` of it; its shape is the template (circle, square, upward
   triangle) fitted to its bounding box that overlaps it best (intersection over union),
   or a blob when even the best overlaps less than ``MIN_IOU`` or the object is larger
   than ``MAX_AREA``; its position is its centroid;
4. ``rules.satisfies`` decides the prompt on these objects, by the same rules that
   give a drawn scene's ground truth.

It is a judge only: the search never sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from ...judges.base import Judge
from .prompts import COLORS, SHAPES, parse_prompt
from .rules import SceneObject, satisfies
from .scenes import object_mask

MIN_AREA = 16  # half the smallest object drawn (32 pixels)
MIN_IOU = 0.7  # a component that fits no template this well is a blob, which no prompt names
BLOB = "blob"
MAX_AREA = 256  # a 16x16 box, over twice the largest object drawn: larger components are blobs
MIN_COLOR_SHARE = 0.75  # below this share of its main colour, an object's colour is mixed
MIXED = "mixed"  # like a blob, named by no prompt
FOREGROUND = 0.4  # a pixel whose brightest channel is below this is background
UNIT_COLORS = np.array(list(COLORS.values()), dtype=np.float32)
UNIT_COLORS /= np.linalg.norm(UNIT_COLORS, axis=1, keepdims=True)
SQUARE_FILL = 0.85  # scenes.py draws a square at 0.85 of its box


def to_array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """An image as float (H, W, 3) in [0, 1], from a (3, H, W) tensor in [0, 1] or uint8 (H, W, 3)."""
    if isinstance(image, torch.Tensor):
        return image.detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy()
    array = np.asarray(image)
    return array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)


def classify_shape(mask: np.ndarray) -> tuple[str, float]:
    """The shape whose template, fitted to the mask's bounding box, has the highest IoU with
    the mask, and that IoU."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    best, best_iou = SHAPES[0], -1.0
    for shape in SHAPES:
        scale = 1 / SQUARE_FILL if shape == "square" else 1.0
        template = object_mask(shape, cx, cy, hw * scale, hh * scale)
        iou = (template & mask).sum() / max((template | mask).sum(), 1)
        if iou > best_iou:
            best, best_iou = shape, float(iou)
    return best, best_iou


def parse_image(image: torch.Tensor | np.ndarray) -> list[SceneObject]:
    """The objects an image shows: colour, shape, centroid and area of each."""
    pixels = to_array(image)
    direction = pixels / np.maximum(np.linalg.norm(pixels, axis=-1, keepdims=True), 1e-6)
    colors = (direction @ UNIT_COLORS.T).argmax(-1)
    foreground = pixels.max(-1) >= FOREGROUND
    components, count = ndimage.label(foreground, structure=np.ones((3, 3)))
    names = list(COLORS)
    objects = []
    for k in range(1, count + 1):
        mask = components == k
        area = int(mask.sum())
        if area < MIN_AREA:
            continue
        shares = np.bincount(colors[mask], minlength=len(names)) / area
        color = names[int(shares.argmax())] if shares.max() >= MIN_COLOR_SHARE else MIXED
        shape, iou = classify_shape(mask)
        ys, xs = np.nonzero(mask)
        blob = iou < MIN_IOU or area > MAX_AREA
        objects.append(SceneObject(BLOB if blob else shape, color, float(xs.mean() + 0.5),
                                   float(ys.mean() + 0.5), area=area,
                                   extra={"iou": iou, "color_share": float(shares.max())}))
    return objects


def check(image: torch.Tensor | np.ndarray, prompt: str) -> bool:
    """Whether the image satisfies the prompt."""
    return satisfies(parse_image(image), parse_prompt(prompt))


class ShapesOracle(Judge):
    """Per image: ``accuracy`` (1 when the prompt is satisfied) and ``objects`` (how many were read)."""

    name = "shapes-oracle"
    metrics = {"accuracy": "1 when the oracle reads the prompt in the image, else 0",
               "objects": "how many shapes the oracle found"}

    def evaluate(self, images: torch.Tensor, conditions: Sequence[Any]) -> dict[str, torch.Tensor]:
        verdicts, counts = [], []
        for image, prompt in zip(images, conditions, strict=True):
            objects = parse_image(image)
            verdicts.append(float(satisfies(objects, parse_prompt(str(prompt)))))
            counts.append(float(len(objects)))
        return {"accuracy": torch.tensor(verdicts), "objects": torch.tensor(counts)}
