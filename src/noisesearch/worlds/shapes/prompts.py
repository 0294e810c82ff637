"""The shapes prompt grammar: the vocabulary and GenEval-style templates (Ghosh et al. 2023).

A prompt comes from templates covering GenEval's categories: single object, two objects,
counting (1-4), colours, position (left of, right of, above, below) and colour attribution.
``parse_prompt`` turns a prompt into a ``Prompt``, or raises an ``InputError`` that lists the
templates; ``Prompt.text`` writes its canonical form. Common phrasings of the relations and
articles ("to the left of", "on top of", "under", "an") are read as the grammar's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError

COLORS: dict[str, tuple[int, int, int]] = {  # the colour words and the RGB each is drawn in
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
# common phrasings of the grammar's words, rewritten to them before parsing
PHRASINGS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("to", "the", "left", "of"), ("left", "of")), (("on", "the", "left", "of"), ("left", "of")),
    (("to", "the", "right", "of"), ("right", "of")), (("on", "the", "right", "of"), ("right", "of")),
    (("on", "top", "of"), ("above",)), (("over",), ("above",)),
    (("under",), ("below",)), (("underneath",), ("below",)), (("beneath",), ("below",)),
    (("an",), ("a",)),
)
PHRASING_WORDS = tuple(dict.fromkeys(word for phrase, _ in PHRASINGS for word in phrase))
CATEGORIES = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


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


def prompt_words(text: str) -> list[str]:
    """Lower-cased words of a prompt, without punctuation."""
    cleaned = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in str(text).lower())
    return cleaned.split()


def canonical_words(words: list[str]) -> list[str]:
    """``words`` with every common phrasing (``PHRASINGS``) rewritten to the grammar's own words:
    "to the left of" -> "left of", "on top of" -> "above", "under" -> "below", "an" -> "a"."""
    out, at = [], 0
    while at < len(words):
        for phrase, replacement in PHRASINGS:
            if tuple(words[at:at + len(phrase)]) == phrase:
                out += replacement
                at += len(phrase)
                break
        else:
            out.append(words[at])
            at += 1
    return out


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
    words = canonical_words(prompt_words(text))
    try:
        if words and words[0] in NUMBERS:
            count = NUMBERS[words[0]]
            thing, end = _thing(words, 1, plural=count > 1)
            if end != len(words):
                raise ValueError("unexpected words after the count")
            return Prompt("counting", (thing,), count=count)
        if not words or words[0] != "a":
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
            f"{', '.join(NUMBERS)}, RELATION in {', '.join(RELATIONS)} (also: to/on the left of, "
            "to/on the right of, on top of, over, under, underneath, beneath; 'an' for 'a')"
        ) from None


def prompt_category(text: str) -> str:
    """The GenEval category of a prompt."""
    return parse_prompt(str(text)).category
