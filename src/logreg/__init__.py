"""logreg: the tutorial's logistic regression with cross-entropy, as a PyTorch Lightning project.

The classes are imported on first use, so that ``logreg convert`` loads without torch."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from logreg.data.arrays import ArrayDataModule
    from logreg.data.files import FileDataModule
    from logreg.data.threshold import ThresholdDataModule
    from logreg.model.logistic import LogisticRegression
    from logreg.sklearn import LogisticRegressionClassifier

_HOMES = {
    "ArrayDataModule": "logreg.data.arrays",
    "FileDataModule": "logreg.data.files",
    "LogisticRegression": "logreg.model.logistic",
    "LogisticRegressionClassifier": "logreg.sklearn",  # needs scikit-learn
    "ThresholdDataModule": "logreg.data.threshold",
}

__all__ = ["ArrayDataModule", "FileDataModule", "LogisticRegression", "LogisticRegressionClassifier",
           "ThresholdDataModule"]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'logreg' has no attribute {name!r}")
