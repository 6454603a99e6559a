"""The model: :class:`~logreg.model.logistic.LogisticRegression` (the LightningModule: loss, optimisers, full-batch
streaming, the decision threshold), with the metrics it logs (:mod:`~logreg.model.metrics` for training's running
totals, :mod:`~logreg.model.binned` for the curves and calibration in O(thresholds) memory)."""

from logreg.model.logistic import LogisticRegression

__all__ = ["LogisticRegression"]
