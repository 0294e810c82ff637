"""Shapes scenes: keyed random prompts, scenes that show them, and their 32x32 images.

A scene is a black background with 1 to 4 non-overlapping objects (circle, square or
triangle, in one of six colours, three sizes). Every scene is drawn from a numpy generator
seeded by a keyed hash, so the same key gives the same scene. ``object_mask`` is also the
template the oracle fits to what it reads out of an image.
"""

from __future__ import annotations

import numpy as np

from ...noise import Key, key_seed
from .prompts import CATEGORIES, COLORS, RELATIONS, SHAPES, Prompt, Thing
from .rules import SceneObject

SIZE = 32
BACKGROUND = (0, 0, 0)
HALF_SIZES = (4, 5, 6)  # half the side of an object's bounding box, in pixels
GAP = 2  # minimum empty pixels between two objects' bounding boxes
DRAWN_RELATION_OFFSET = 6  # drawn scenes: offset along the axis >= this and larger than across it


def rng_for(key: Key) -> np.random.Generator:
    """A numpy generator seeded from a key (the hash of ``noise.key_seed``)."""
    # key_seed is noise scheme 1's 63-bit seed, kept: the scenes (and the data and weights trained
    # on them) stay as they are; numpy keeps all 63 bits, so distinct keys do not collide here
    return np.random.default_rng(key_seed(key))


def random_prompt(rng: np.random.Generator, category: str | None = None) -> Prompt:
    """A prompt drawn uniformly over categories, then over each template's slots."""
    category = category or CATEGORIES[rng.integers(len(CATEGORIES))]
    colors = list(COLORS)

    def shape() -> str:
        return SHAPES[rng.integers(len(SHAPES))]

    def color() -> str:
        return colors[rng.integers(len(colors))]

    if category == "single_object":
        return Prompt(category, (Thing(shape()),))
    if category == "colors":
        return Prompt(category, (Thing(shape(), color()),))
    if category == "counting":
        return Prompt(category, (Thing(shape()),), count=int(rng.integers(1, 5)))
    if category in ("two_object", "color_attr"):
        first, second = rng.choice(len(SHAPES), size=2, replace=False)
        things = (Thing(SHAPES[first]), Thing(SHAPES[second]))
        if category == "color_attr":
            things = (Thing(things[0].shape, color()), Thing(things[1].shape, color()))
        return Prompt(category, things)
    if category == "position":
        relation = RELATIONS[rng.integers(len(RELATIONS))]
        if rng.random() < 0.5:  # colour-free, as GenEval's position prompts
            first, second = rng.choice(len(SHAPES), size=2, replace=False)
            return Prompt(category, (Thing(SHAPES[first]), Thing(SHAPES[second])), relation=relation)
        while True:
            a, b = Thing(shape(), color()), Thing(shape(), color())
            if a != b:
                return Prompt(category, (a, b), relation=relation)
    raise ValueError(f"unknown category {category!r}; valid: {', '.join(CATEGORIES)}")


def _overlaps(a: SceneObject, b: SceneObject) -> bool:
    reach = a.half + b.half + GAP
    return abs(a.cx - b.cx) < reach and abs(a.cy - b.cy) < reach


def _place(rng: np.random.Generator, shape: str, color: str, half: int) -> SceneObject:
    lo, hi = half + 1, SIZE - half - 1
    return SceneObject(shape, color, float(rng.integers(lo, hi + 1)), float(rng.integers(lo, hi + 1)), half)


def _drawn_relation(relation: str, a: SceneObject, b: SceneObject) -> bool:
    along = (b.cx - a.cx) if relation in ("left of", "right of") else (b.cy - a.cy)
    across = (b.cy - a.cy) if relation in ("left of", "right of") else (b.cx - a.cx)
    if relation in ("right of", "below"):
        along = -along
    return along >= DRAWN_RELATION_OFFSET and along > abs(across)


def sample_scene(prompt: Prompt, rng: np.random.Generator) -> list[SceneObject]:
    """Objects that show ``prompt`` exactly (unnamed colours and all sizes at random)."""
    colors = list(COLORS)
    things = list(prompt.things) * (prompt.count if prompt.category == "counting" else 1)
    sizes = HALF_SIZES if len(things) <= 2 else HALF_SIZES[:2]
    for _ in range(1000):
        objects: list[SceneObject] = []
        for thing in things:
            color = thing.color or colors[rng.integers(len(colors))]
            for _ in range(100):
                obj = _place(rng, thing.shape, color, int(sizes[rng.integers(len(sizes))]))
                if not any(_overlaps(obj, o) for o in objects):
                    objects.append(obj)
                    break
        if len(objects) < len(things):
            continue
        if prompt.relation is not None and not _drawn_relation(prompt.relation, objects[0], objects[1]):
            continue
        order = rng.permutation(len(objects))
        return [objects[k] for k in order]
    raise RuntimeError(f"could not place the objects of {prompt.text()!r}")


def object_mask(shape: str, cx: float, cy: float, half_w: float, half_h: float | None = None) -> np.ndarray:
    """Boolean 32x32 mask of a shape filling the box centred at (cx, cy) with the given half sizes.

    Circle (ellipse in a non-square box), square (the box shrunk to 0.85), upward triangle
    with its apex at the top centre and its base on the box's bottom edge.
    """
    half_h = half_w if half_h is None else half_h
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    dx, dy = (xs - cx) / max(half_w, 1e-6), (ys - cy) / max(half_h, 1e-6)
    if shape == "circle":
        return dx**2 + dy**2 <= 1.0
    if shape == "square":
        return (np.abs(dx) <= 0.85) & (np.abs(dy) <= 0.85)
    if shape == "triangle":
        return (dy <= 1.0) & (np.abs(dx) <= (dy + 1.0) / 2.0)
    raise ValueError(f"unknown shape {shape!r}; valid: {', '.join(SHAPES)}")


def render(objects: list[SceneObject]) -> np.ndarray:
    """The scene as uint8 RGB, shape (32, 32, 3)."""
    image = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    for obj in objects:
        image[object_mask(obj.shape, obj.cx, obj.cy, obj.half)] = COLORS[obj.color]
    return image


def draw(key: Key, category: str | None = None) -> tuple[Prompt, list[SceneObject], np.ndarray]:
    """A random prompt, a scene showing it and its image, all from ``key``."""
    rng = rng_for(key)
    prompt = random_prompt(rng, category)
    objects = sample_scene(prompt, rng)
    return prompt, objects, render(objects)
