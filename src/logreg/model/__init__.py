"""The model: :class:`~logreg.model.logistic.LogisticRegression` (the LightningModule), its Newton optimizer and the
metrics it logs (:mod:`~logreg.model.metrics`, :mod:`~logreg.model.binned`)."""

from logreg.model.logistic import LogisticRegression

__all__ = ["LogisticRegression"]
