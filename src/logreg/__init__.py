"""logreg: the tutorial's logistic regression with cross-entropy, as a PyTorch Lightning project."""

from logreg.data import ThresholdDataModule
from logreg.files import FileDataModule
from logreg.model import LogisticRegression

__all__ = ["FileDataModule", "LogisticRegression", "ThresholdDataModule"]
