"""Shapes: procedural 32x32 scenes of coloured shapes with captions a program can check.

A scene is a black background with 1 to 4 non-overlapping objects (circle, square or
triangle, in one of six colours, three sizes). A prompt comes from templates covering
GenEval's categories (Ghosh et al. 2023): single object, two objects, counting (1-4),
colours, position (left of, right of, above, below) and colour attribution.

``parse_prompt`` turns a prompt into a ``Prompt``; ``satisfies(objects, prompt)`` decides
whether a list of objects shows it. The same ``satisfies`` gives the ground truth of a
drawn scene (from its object list) and the oracle's verdict on a generated image (from the
objects parsed out of it, ``judges/shapes_oracle.py``). Every scene is drawn from a numpy
generator seeded by a keyed hash, so the same key gives the same scene.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .noise import Key, key_seed

SIZE = 32
BACKGROUND = (0, 0, 0)
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 220, 40),
    "purple": (160, 60, 220),
    "cyan": (40, 220, 230),
}
SHAPES = ("circle", "square", "triangle")
PLURALS = {s + "s": s for s in SHAPES}
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4}
RELATIONS = ("left of", "right of", "above", "below")
CATEGORIES = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
HALF_SIZES = (4, 5, 6)  # half the side of an object's bounding box, in pixels
GAP = 2  # minimum empty pixels between two objects' bounding boxes
RELATION_MARGIN = 2.0  # the oracle's rule: centroids differ by more than this along the axis
DRAWN_RELATION_OFFSET = 6  # drawn scenes: offset along the axis >= this and larger than across it


@dataclass(frozen=True)
class Thing:
    """An object as a prompt names it: a shape and maybe a colour."""

    shape: str
    color: str | None = None

    def text(self) -> str:
        return f"{self.color} {self.shape}" if self.color else self.shape


@dataclass(frozen=True)
class Prompt:
    """A parsed prompt: its category, the things it names, a count or a relation."""

    category: str
    things: tuple[Thing, ...]
    count: int = 1
    relation: str | None = None

    def text(self) -> str:
        if self.category == "counting":
            word = next(w for w, n in NUMBERS.items() if n == self.count)
            thing = self.things[0]
            noun = thing.shape if self.count == 1 else thing.shape + "s"
            return " ".join([word] + ([thing.color] if thing.color else []) + [noun])
        if self.category == "position":
            return f"a {self.things[0].text()} {self.relation} a {self.things[1].text()}"
        return " and ".join(f"a {t.text()}" for t in self.things)


@dataclass
class SceneObject:
    """An object in a scene (drawn or parsed from an image): centroid in pixels."""

    shape: str
    color: str
    cx: float
    cy: float
    half: float = 0.0
    area: int = 0
    extra: dict = field(default_factory=dict)


def prompt_words(text: str) -> list[str]:
    """Lower-cased words of a prompt, without punctuation."""
    cleaned = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in str(text).lower())
    return cleaned.split()


def _thing(words: list[str], at: int, plural: bool = False) -> tuple[Thing, int]:
    color = None
    if at < len(words) and words[at] in COLORS:
        color, at = words[at], at + 1
    if at >= len(words):
        raise ValueError("expected a shape")
    noun = words[at]
    shape = PLURALS.get(noun) if plural else (noun if noun in SHAPES else None)
    if shape is None:
        raise ValueError(f"expected {'a plural shape' if plural else 'a shape'}, got {noun!r}")
    return Thing(shape, color), at + 1


def parse_prompt(text: str) -> Prompt:
    """The ``Prompt`` a text states; ``InputError`` naming the templates when it fits none."""
    words = prompt_words(text)
    try:
        if words and words[0] in NUMBERS:
            count = NUMBERS[words[0]]
            thing, end = _thing(words, 1, plural=count > 1)
            if end != len(words):
                raise ValueError("unexpected words after the count")
            return Prompt("counting", (thing,), count=count)
        if not words or words[0] not in ("a", "an"):
            raise ValueError("a prompt starts with 'a' or a number")
        first, at = _thing(words, 1)
        if at == len(words):
            return Prompt("colors" if first.color else "single_object", (first,))
        rest = words[at:]
        for relation in RELATIONS:
            rel = relation.split()
            if rest[: len(rel)] == rel and rest[len(rel):len(rel) + 1] == ["a"]:
                second, end = _thing(rest, len(rel) + 1)
                if end != len(rest):
                    raise ValueError("unexpected words after the second object")
                return Prompt("position", (first, second), relation=relation)
        if rest[:2] == ["and", "a"]:
            second, end = _thing(rest, 2)
            if end != len(rest):
                raise ValueError("unexpected words after the second object")
            colored = first.color is not None or second.color is not None
            return Prompt("color_attr" if colored else "two_object", (first, second))
        raise ValueError(f"unexpected {' '.join(rest)!r}")
    except ValueError as exc:
        raise InputError(
            f"shapes prompt {text!r} fits no template ({exc}); templates: 'a [color] SHAPE', "
            "'a [color] SHAPE and a [color] SHAPE', 'NUMBER SHAPEs', "
            "'a [color] SHAPE RELATION a [color] SHAPE'"
            f" with SHAPE in {', '.join(SHAPES)}, color in {', '.join(COLORS)}, NUMBER in "
            f"{', '.join(NUMBERS)}, RELATION in {', '.join(RELATIONS)}"
        ) from None


def prompt_category(text: str) -> str:
    """The GenEval category of a prompt."""
    return parse_prompt(str(text)).category


def _matches(obj: SceneObject, thing: Thing) -> bool:
    return obj.shape == thing.shape and (thing.color is None or obj.color == thing.color)


def holds(relation: str, a: SceneObject, b: SceneObject, margin: float = RELATION_MARGIN) -> bool:
    """Whether ``a`` is ``relation`` ``b``: centroids differ by more than ``margin`` pixels
    along the relation's axis (y grows downwards)."""
    if relation == "left of":
        return b.cx - a.cx > margin
    if relation == "right of":
        return a.cx - b.cx > margin
    if relation == "above":
        return b.cy - a.cy > margin
    if relation == "below":
        return a.cy - b.cy > margin
    raise ValueError(f"unknown relation {relation!r}")


def satisfies(objects: list[SceneObject], prompt: Prompt) -> bool:
    """Whether a scene's objects show the prompt (GenEval's rules, per category).

    Counting needs exactly ``count`` matching objects; every other category needs each
    named thing present as a distinct object, and position also needs the relation.
    """
    if prompt.category == "counting":
        return sum(_matches(o, prompt.things[0]) for o in objects) == prompt.count
    if len(prompt.things) == 1:
        return any(_matches(o, prompt.things[0]) for o in objects)
    first, second = prompt.things
    for i, a in enumerate(objects):
        for j, b in enumerate(objects):
            if i != j and _matches(a, first) and _matches(b, second):
                if prompt.relation is None or holds(prompt.relation, a, b):
                    return True
    return False


def rng_for(key: Key) -> np.random.Generator:
    """A numpy generator seeded from a key (the hash of ``noise.key_seed``)."""
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


FLIP = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def mutate(prompt: Prompt, rng: np.random.Generator) -> Prompt:
    """The prompt with one slot changed: a shape, a colour, the relation (another or its
    opposite), the count, or the two things' colours swapped."""
    def other(values, current):
        choices = [v for v in values if v != current]
        return choices[rng.integers(len(choices))]

    things = list(prompt.things)
    k = int(rng.integers(len(things)))
    move = rng.integers(4)
    if move == 0:
        things[k] = Thing(other(SHAPES, things[k].shape), things[k].color)
    elif move == 1 and things[k].color is not None:
        things[k] = Thing(things[k].shape, other(list(COLORS), things[k].color))
    elif move == 2 and prompt.relation is not None:
        return dataclasses.replace(prompt, relation=other(RELATIONS, prompt.relation)
                                   if rng.random() < 0.5 else FLIP[prompt.relation])
    elif move == 2 and prompt.category == "counting":
        return dataclasses.replace(prompt, count=other(list(NUMBERS.values()), prompt.count))
    elif len(things) == 2 and things[0].color and things[1].color:
        things = [Thing(things[0].shape, things[1].color), Thing(things[1].shape, things[0].color)]
    else:
        things[k] = Thing(other(SHAPES, things[k].shape), things[k].color)
    return dataclasses.replace(prompt, things=tuple(things))


def hard_negatives(prompt: Prompt, objects: list[SceneObject], rng: np.random.Generator,
                   n: int) -> list[str]:
    """``n`` captions with one slot of ``prompt`` changed, each false for ``objects``."""
    out: list[str] = []
    while len(out) < n:
        candidate = mutate(prompt, rng)
        if not satisfies(objects, candidate):
            out.append(candidate.text())
    return out


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


def draw_batch(seed: int, indices: range | list[int]) -> tuple[list[str], np.ndarray]:
    """Captions and uint8 images (N, 32, 32, 3) of the scenes ``(seed, "scene", index)``."""
    captions, images = [], []
    for index in indices:
        prompt, _, image = draw((seed, "scene", int(index)))
        captions.append(prompt.text())
        images.append(image)
    return captions, np.stack(images)


PROMPTS_FILE = Path(__file__).resolve().parent / "data" / "shapes_prompts.json"
SPLITS = {"dev": 20, "test": 40}  # prompts per category in each split


def make_benchmark_prompts(seed: int = 0) -> dict[str, list[str]]:
    """The benchmark prompt set: per category, 20 ``dev`` and 40 ``test`` prompts drawn by
    ``random_prompt``, distinct where the category has enough distinct prompts (single
    object, colours, counting and two objects have 3, 18, 12 and 6, so those repeat), in
    turn by category."""
    splits: dict[str, list[list[str]]] = {name: [] for name in SPLITS}
    total = sum(SPLITS.values())
    for category in CATEGORIES:
        rng = rng_for((seed, "benchmark-prompts", category))
        drawn: list[str] = []
        for _ in range(100 * total):
            if len(drawn) == total:
                break
            text = random_prompt(rng, category).text()
            if text not in drawn or len(set(drawn)) >= _distinct(category):
                drawn.append(text)
        start = 0
        for name, size in SPLITS.items():
            splits[name].append(drawn[start:start + size])
            start += size
    # interleaved (one prompt of each category in turn), so any prefix covers every category
    return {name: [p for group in zip(*lists, strict=True) for p in group] for name, lists in splits.items()}


def _distinct(category: str) -> int:
    n_colors, n_shapes = len(COLORS), len(SHAPES)
    return {"single_object": n_shapes, "colors": n_colors * n_shapes, "counting": n_shapes * len(NUMBERS),
            "two_object": n_shapes * (n_shapes - 1)}.get(category, 10**6)


def benchmark_prompts(split: str = "test") -> list[str]:
    """The fixed prompts of a split (``dev`` or ``test``), as committed in ``data/shapes_prompts.json``."""
    if split not in SPLITS:
        raise InputError(f"unknown shapes split {split!r}; valid: {', '.join(SPLITS)}")
    return json.loads(PROMPTS_FILE.read_text())[split]
