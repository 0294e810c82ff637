"""Imports deferred to first use, so that naming the algorithms, models and verifiers (``list``,
the command line's checks) imports no model library (torch, diffusers, transformers).

- A module that computes with torch but is needed to name things (the algorithms, the keyed
  noise) imports ``from .lazy import torch``: torch itself for type checkers, a
  ``LazyModule("torch")`` when running.
- A package exports its names with ``__getattr__ = lazy_exports(__name__, {name: module})``.
- A registry names a constructor with ``lazy_callable("module:name", __package__)``.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

__all__ = ["LazyModule", "lazy_callable", "lazy_exports", "torch"]


class LazyModule(types.ModuleType):
    """Stands for the module of the same name, imported when one of its attributes is first read."""

    def __getattr__(self, attribute: str) -> Any:
        module = sys.modules.get(self.__name__) or importlib.import_module(self.__name__)
        return getattr(module, attribute)


if TYPE_CHECKING:
    import torch
else:
    torch = LazyModule("torch")


def lazy_exports(package: str, sources: dict[str, str]) -> Callable[[str], Any]:
    """A package's module ``__getattr__``: each name in ``sources`` is read from its module
    (relative to ``package``) on first use."""
    def __getattr__(name: str) -> Any:
        if name not in sources:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(sources[name], package), name)

    return __getattr__


def lazy_callable(target: str, package: str) -> Callable[..., Any]:
    """Calls ``module:name`` (``module`` relative to ``package``, ``name`` possibly dotted, as
    ``Class.method``), importing the module on the first call."""
    module, _, name = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        value: Any = importlib.import_module(module, package)
        for part in name.split("."):
            value = getattr(value, part)
        return value(*args, **kwargs)

    return call
