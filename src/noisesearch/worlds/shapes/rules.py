"""The rules that decide whether a scene's objects show a prompt (GenEval's, per category).

The same ``satisfies`` gives the ground truth of a drawn scene (from its object list,
``scenes.py``) and the oracle's verdict on a generated image (from the objects parsed out
of it, ``oracle.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .prompts import Prompt, Thing

RELATION_MARGIN = 2.0  # the oracle's rule: centroids differ by more than this along the axis


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
