"""Modules imported when first used, so that a command loads only what it needs (not ``importlib.util.LazyLoader``:
finding a submodule's spec with it, ``pyarrow.csv``, imports the parent package at once)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands for the module ``name``, imported at the first attribute read (in an ``except`` clause too)."""

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attribute)


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports it when one of its attributes is first read."""
    return LazyModule(name)
