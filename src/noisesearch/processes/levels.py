"""Noise levels in the papers' units, and their conversion to the normalised (VP) level.

The code's noise level of a state is the standard deviation of the variance-preserving path
x = sqrt(a) x_0 + sqrt(1 - a) eps: l = sqrt(1 - a) in [0, 1] (``process.noise_levels()``).
Papers give levels in their own parameterisation; each enters through one conversion here:

- ``vp``: l itself (DDPM/DDIM, Song et al. 2021).
- ``edm``: the EDM sigma s of x = x_0 + s eps (Karras et al. 2022, Ramesh & Mardani 2025),
  in [0, inf]. Scaling x by 1 / sqrt(1 + s^2) gives the VP path with the same signal-to-noise
  ratio 1 / s^2, so l = s / sqrt(1 + s^2) and s = l / sqrt(1 - l^2).
- ``flow``: the time t in [0, 1] of the linear interpolant x = (1 - t) x_0 + t eps (rectified
  flow, SiT; Ma et al. 2025). Its signal-to-noise ratio is EDM's with s = t / (1 - t), so
  t = s / (1 + s) = l / (l + sqrt(1 - l^2)) and l = t / sqrt((1 - t)^2 + t^2).

Known points: s = 1 <-> l = 1/sqrt(2) <-> t = 1/2; s = inf <-> l = 1 <-> t = 1; 0 <-> 0 <-> 0.
"""

from __future__ import annotations

import math
from typing import TypeVar

from ..errors import InputError
from ..lazy import torch

UNITS = ("vp", "edm", "flow")
TOP = {"vp": 1.0, "edm": math.inf, "flow": 1.0}  # the pure-noise end of each unit's range

Level = TypeVar("Level", float, "torch.Tensor")


def check_unit(unit: str) -> str:
    """``unit`` if it is one of ``UNITS``, else ``InputError`` naming them."""
    if unit not in UNITS:
        raise InputError(f"unknown noise-level unit {unit!r}; valid: {', '.join(UNITS)}")
    return unit


def to_vp(value: Level, unit: str) -> Level:
    """The normalised (VP) noise level of ``value`` given in ``unit``."""
    check_unit(unit)
    x = torch.as_tensor(value, dtype=torch.float64)
    if unit == "edm":  # l = s / sqrt(1 + s^2) = 1 / sqrt(1 + 1 / s^2), which is 1 at s = inf
        x = torch.where(x == 0, x, 1 / (1 + 1 / x**2).sqrt())
    elif unit == "flow":
        x = x / ((1 - x) ** 2 + x**2).sqrt()
    return _like(x, value)


def from_vp(level: Level, unit: str) -> Level:
    """The normalised (VP) noise ``level`` expressed in ``unit``."""
    check_unit(unit)
    x = torch.as_tensor(level, dtype=torch.float64)
    if unit == "edm":  # s = l / sqrt(1 - l^2): inf at l = 1
        x = torch.where(x >= 1, torch.full_like(x, math.inf), x / (1 - x.clamp(max=1) ** 2).sqrt())
    elif unit == "flow":
        x = x / (x + (1 - x**2).clamp(min=0).sqrt())
    return _like(x, level)


def convert(value: Level, unit_from: str, unit_to: str) -> Level:
    """``value`` given in ``unit_from`` expressed in ``unit_to``."""
    return from_vp(to_vp(value, unit_from), unit_to)


def require_level(name: str, value: float, unit: str, *, zero: bool = True, top: bool = True) -> None:
    """``InputError`` unless ``value`` lies in ``unit``'s range ([0, 1], or [0, inf] for ``edm``);
    ``zero``/``top``: whether the range's ends are allowed."""
    high = TOP[check_unit(unit)]
    above = value > 0 if not zero else value >= 0
    below = value < high if not top else value <= high
    if not (above and below):
        lo, hi = "[" if zero else "(", "]" if top else ")"
        raise InputError(f"`{name}` in unit {unit} must be in {lo}0, {high:g}{hi}, got {value}")


def _like(x: torch.Tensor, original: float | torch.Tensor) -> float | torch.Tensor:
    """A float back for a number, a float64 tensor for a tensor."""
    return x if isinstance(original, torch.Tensor) else float(x)
