"""The shapes world's training data: batches of keyed scenes for the diffusion model, and hard
negative captions for ``shapes-clip`` (a caption with one slot changed, false for the scene)."""

from __future__ import annotations

import dataclasses

import numpy as np

from noisesearch.worlds.shapes.prompts import COLORS, NUMBERS, RELATIONS, SHAPES, Prompt, Thing
from noisesearch.worlds.shapes.rules import SceneObject, satisfies
from noisesearch.worlds.shapes.scenes import draw


def draw_batch(seed: int, indices: range | list[int]) -> tuple[list[str], np.ndarray]:
    """Captions and uint8 images (N, 32, 32, 3) of the scenes ``(seed, "scene", index)``."""
    captions, images = [], []
    for index in indices:
        prompt, _, image = draw((seed, "scene", int(index)))
        captions.append(prompt.text())
        images.append(image)
    return captions, np.stack(images)


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
