"""logreg: the tutorial's logistic regression with cross-entropy, as a PyTorch Lightning project.

The classes are imported on first use, so that ``logreg.readers`` and ``logreg convert`` load without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logreg.arrays import ArrayDataModule
    from logreg.data import ThresholdDataModule
    from logreg.files import FileDataModule
    from logreg.model import LogisticRegression
    from logreg.sklearn import LogisticRegressionClassifier

_HOMES = {
    "ArrayDataModule": "logreg.arrays",
    "FileDataModule": "logreg.files",
    "LogisticRegression": "logreg.model",
    "LogisticRegressionClassifier": "logreg.sklearn",  # needs scikit-learn
    "ThresholdDataModule": "logreg.data",
}

__all__ = [
    "ArrayDataModule",
    "FileDataModule",
    "LogisticRegression",
    "LogisticRegressionClassifier",
    "ThresholdDataModule",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'logreg' has no attribute {name!r}")
