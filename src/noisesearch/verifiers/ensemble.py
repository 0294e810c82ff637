"""The ``ensemble`` verifier: several verifiers combined into one score.

``ensemble:v1+v2+...`` is the mean rank of Ma et al. 2025 ("Inference-Time Scaling for
Diffusion Models beyond Scaling Denoising Steps", Sec. 3): each candidate is ranked under each
verifier (1 = worst, n = best, ties get their average rank) and the ranks are averaged, so
higher is better and the candidate best under every verifier gets the highest mean rank. Ranks
are taken among the images of the same condition *within the scored batch*: a candidate's
score depends on which candidates are scored with it (a search that scores its candidates in
several calls, e.g. with a small ``max_batch``, ranks each call on its own, and a replayed
winner scored alone gets rank 1). Rows any member scores NaN get NaN. Not differentiable.

``ensemble:w1*v1+w2*v2+...`` is the weighted sum of the members' raw scores
(``ensemble:0.7*brightness+0.3*compressibility``); it is per-image and differentiable when
every member is.

Members are any verifier specs (``clip:/path/to/folder``); the spec is split on ``+`` outside
parentheses only, a member's weight is what precedes its first ``*`` when that is a number,
and a parenthesised member may itself be an ensemble: ``ensemble:brightness+(ensemble:a+b)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..errors import InputError
from .base import Verifier


def split_top_level(spec: str, sep: str = "+") -> list[str]:
    """``spec`` split on ``sep`` outside parentheses."""
    parts, current, depth = [], [], 0
    for ch in spec:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise InputError(f"ensemble: unbalanced parentheses in {spec!r}")
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth:
        raise InputError(f"ensemble: unbalanced parentheses in {spec!r}")
    return [*parts, "".join(current)]


def enclosed(term: str) -> bool:
    """Whether ``term`` is one parenthesised group, ``(...)``."""
    depth = 0
    for i, ch in enumerate(term):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return i == len(term) - 1 and i > 0
    return False


def unwrap(term: str) -> str:
    """``term`` without parentheses enclosing all of it."""
    term = term.strip()
    while enclosed(term):
        term = term[1:-1].strip()
    return term


def parse_spec(spec: str) -> tuple[list[str], list[float] | None]:
    """(member specs, weights or None for the mean rank) from ``v1+v2`` or ``w1*v1+w2*v2``."""
    members, weights = [], []
    for term in split_top_level(spec):
        term = unwrap(term)
        left, star, right = term.partition("*")
        weight = None
        if star:
            try:
                weight = float(left)
            except ValueError:
                pass
        member = unwrap(right) if weight is not None else term
        if not member:
            raise InputError(f"ensemble: empty member in {spec!r}; use v1+v2 or w1*v1+w2*v2")
        members.append(member)
        weights.append(weight)
    if all(w is None for w in weights):
        return members, None
    if any(w is None for w in weights):
        raise InputError(f"ensemble: give every member a weight (w1*v1+w2*v2) or none (v1+v2), got {spec!r}")
    return members, weights


def mean_rank(columns: torch.Tensor, conditions: Sequence[Any]) -> torch.Tensor:
    """(members, B) scores to each row's rank averaged over the members, ranked among the rows
    of its condition (1 = worst; ties share their average rank); NaN where any member is NaN."""
    columns = columns.detach().double()
    valid = ~columns.isnan().any(0)
    result = torch.full((columns.shape[1],), float("nan"), dtype=torch.float64)
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(conditions):
        if valid[i]:
            groups.setdefault(repr(c), []).append(i)
    for rows in groups.values():
        idx = torch.tensor(rows)
        s = columns[:, idx]  # (members, n)
        below = (s[:, None, :] < s[:, :, None]).sum(-1)  # [m, i]: rows scored below row i
        tied = (s[:, None, :] == s[:, :, None]).sum(-1)  # including row i itself
        result[idx] = (1 + below + (tied - 1) / 2).double().mean(0)
    return result.float()


class Ensemble(Verifier):
    """Members' scores combined by mean rank (``weights`` None) or weighted sum."""

    name = "ensemble"

    def __init__(self, members: Sequence[Verifier], weights: Sequence[float] | None = None) -> None:
        if not members:
            raise InputError("ensemble needs at least one member")
        if weights is not None and len(weights) != len(members):
            raise InputError(f"ensemble: {len(weights)} weights for {len(members)} members")
        self.members = list(members)
        self.weights = None if weights is None else [float(w) for w in weights]
        self.differentiable = weights is not None and all(m.differentiable for m in self.members)

    @property
    def denoiser_nfe(self) -> int:
        """Every member scores every image: their NFEs add up."""
        return sum(m.denoiser_nfe for m in self.members)

    def take_usage(self) -> dict[str, torch.Tensor]:
        """The members' per-row counters, summed where two members report the same one."""
        usage: dict[str, torch.Tensor] = {}
        for member in self.members:
            for key, values in member.take_usage().items():
                usage[key] = usage[key] + values if key in usage else values
        return usage

    @property
    def scale(self) -> str:
        """A mean rank, or the weighted sum of the members' scores."""
        if self.weights is None:
            return "mean rank among a condition's candidates scored together, 1 to their number"
        terms = (f"{w:g}*{m.name}" for w, m in zip(self.weights, self.members, strict=True))
        return "weighted sum " + " + ".join(terms)

    @classmethod
    def parse(cls, spec: str, load: Callable[..., Verifier], device: str = "cpu") -> Ensemble:
        """The ensemble a spec names; ``load(member_spec, device=...)`` loads each member."""
        members, weights = parse_spec(spec)
        return cls([load(m, device=device) for m in members], weights)

    def _score(self, images, conditions, finite: bool = False):
        columns = torch.stack([member.score(images, conditions, finite=finite).float().cpu()
                               for member in self.members])
        if self.weights is None:
            return mean_rank(columns, conditions)
        return (torch.tensor(self.weights)[:, None] * columns).sum(0)

    def score(self, images: torch.Tensor, conditions: Sequence[Any], finite: bool = True) -> torch.Tensor:
        """The members' ``score`` checks each column (their errors, e.g. an ``InputError`` for an
        unknown class, pass through unchanged); the combination is then well formed."""
        return self._score(images, conditions, finite)
