"""Modules imported when first used, so that a command loads only what it needs (not ``importlib.util.LazyLoader``:
finding a submodule's spec with it, ``pyarrow.csv``, imports the parent package at once)."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands for the module ``name``, imported at the first attribute read (in an ``except`` clause too). A dunder
    name (``__version__`` too) is read only once the module is imported: jsonargparse's look at a data module's globals
    asks each for ``__args__``, which imported pyarrow (0.17 s) into every fit of a ``.npy`` directory."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") and attribute.endswith("__") and self.__name__ not in sys.modules:
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self.__name__), attribute)


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports it when one of its attributes is first read."""
    return LazyModule(name)
