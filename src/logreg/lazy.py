"""Modules imported when first used, so that a command loads only what its run needs (``logreg convert`` needs
neither torch nor Lightning; ``logreg --help`` no pyarrow). ``importlib.util.LazyLoader`` is not used: finding a
submodule's spec with it (``pyarrow.csv``) imports the parent package at once."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands for the module ``name``; the first attribute read (``pa.float64``, in an ``except`` clause too) imports
    it, later reads are plain lookups in ``sys.modules``."""

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attribute)


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports it when one of its attributes is first read."""
    return LazyModule(name)
