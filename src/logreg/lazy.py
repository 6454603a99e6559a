"""Modules imported when first used, so that a command loads only what its run needs.

``logreg --help`` and a default ``logreg fit`` on the built-in data never read a file, so they need not pay for
pyarrow; ``logreg convert`` needs neither torch nor Lightning. ``pa = lazy_module("pyarrow")`` binds a name that
behaves like the module: the first attribute read (``pa.float64``, or ``pa.ArrowException`` in an ``except``
clause) imports it. The standard library's ``importlib.util.LazyLoader`` is not used because finding a submodule's
spec with it (``pyarrow.csv``) imports the parent package at once.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands for the module ``name`` and imports it at the first attribute read (later reads are plain lookups
    in ``sys.modules`` by :func:`importlib.import_module`)."""

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self.__name__), attribute)


def lazy_module(name: str) -> Any:
    """A stand-in for ``import name`` that imports it when one of its attributes is first read."""
    return LazyModule(name)
