"""The metrics of an epoch from running sums updated once per step or batch: training's loss and accuracy, and an
evaluation epoch's loss, decisions, binned curves and calibration (the per-batch cost of torchmetrics' classes was more
than the work they measure)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from logreg.model.binned import (
    add_bin_sums,
    auroc,
    average_precision,
    calibration_error,
    class_histograms,
    confmat_from_histograms,
    precision_recall_curve,
    rate,
    roc,
)


class TrainingTotals(Metric):
    """``train_loss`` and ``train_acc`` of an epoch from three sums, summed across DDP ranks by torchmetrics: its
    ``MeanMetric`` and ``BinaryAccuracy`` took about 450 us of a 4,096-row SGD step on a CPU, more than the step."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("loss_sum", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("correct", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("rows", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, loss: Tensor, decisions: Tensor | int, target: Tensor | int, rows_per_loss: int = 1) -> None:
        """``loss``: detached, the sum of the rows' losses, or their mean with ``rows_per_loss`` the row count;
        ``decisions`` and ``target``: 0/1 or bool, of the same shape, or the counts of correct decisions and rows."""
        # In place: ``+=`` would also go through torchmetrics' and torch's ``__setattr__``, a few us each.
        self.loss_sum.add_(loss, alpha=rows_per_loss)
        counted = isinstance(target, int)
        self.correct.add_(decisions if counted else torch.count_nonzero(torch.eq(decisions, target)))
        self.rows.add_(target if counted else target.numel())

    def compute(self) -> dict[str, Tensor]:
        """NaN for an epoch without rows, as 0 / 0."""
        return {"train_loss": self.loss_sum / self.rows, "train_acc": self.correct / self.rows}


class EvaluationTotals(Metric):
    """A validation or test epoch's ``loss``, ``acc``, ``f1``, ``precision``, ``recall`` (decisions ``p >
    threshold``), binned ``auroc`` and ``ap`` and ``ece``, each ``{stage}_``-prefixed, from four sums a batch: the
    loss, the decisions' counts, each class's histogram over ``thresholds`` (the curves' confusion
    matrices, :mod:`logreg.model.binned`) and the 15 calibration bins. Values as torchmetrics' classes compute them;
    one object and two ``bucketize`` a batch instead of nine objects' updates. Summed across DDP ranks."""

    full_state_update = False
    is_differentiable = False
    higher_is_better = None

    def __init__(self, stage: str, thresholds: int, n_bins: int = 15, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.register_buffer("thresholds", torch.linspace(0, 1, thresholds), persistent=False)  # as torchmetrics'
        # the loss in the default dtype, as MeanMetric's (the model's under 64-true): val_loss keeps its dtype
        self.add_state("loss_sum", torch.zeros(()), dist_reduce_fx="sum")
        self.add_state("decided", torch.zeros(2, dtype=torch.long), dist_reduce_fx="sum")  # predicted 1, of them right
        self.add_state("histograms", torch.zeros(2, thresholds + 1, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("calibration", torch.zeros(3, n_bins + 1, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, probs: Tensor, target: Tensor, loss: Tensor, threshold: Tensor | float) -> None:
        """A batch's probabilities and 0/1 ``target`` (any shape of B rows), the sum of its rows' ``loss``."""
        probs, positive = probs.reshape(-1), target.reshape(-1) == 1
        decided = probs > threshold
        self.loss_sum.add_(loss)
        self.decided.add_(torch.stack([torch.count_nonzero(decided), torch.count_nonzero(decided & positive)]))
        self.histograms.add_(class_histograms(probs, positive, self.thresholds))
        add_bin_sums(probs, positive, *self.calibration)

    def compute(self) -> dict[str, Tensor]:
        """The metrics (float32 rates, 0 where a rate's denominator is, as torchmetrics'; NaN loss for no rows)."""
        rows, positives = self.histograms.sum(), self.histograms[1].sum()
        predicted, right = self.decided
        wrong_positive, missed = predicted - right, positives - right
        confmat = confmat_from_histograms(self.histograms)
        values = {
            "loss": self.loss_sum / rows,
            "acc": rate(rows - wrong_positive - missed, rows),
            "f1": rate(2 * right, 2 * right + wrong_positive + missed),
            "precision": rate(right, predicted),
            "recall": rate(right, positives),
            "auroc": auroc(confmat, self.thresholds),
            "ap": average_precision(confmat, self.thresholds),
            "ece": calibration_error(*self.calibration).float(),
        }
        return {f"{self.stage}_{name}": value for name, value in values.items()}

    def curve(self, precision_recall: bool) -> tuple[Tensor, Tensor, Tensor]:
        """The epoch's binned ROC ``(fpr, tpr, thresholds)``, or precision-recall curve ``(precision, recall,
        thresholds)``, of every rank's rows."""
        with self.sync_context():
            confmat = confmat_from_histograms(self.histograms)
        return (precision_recall_curve if precision_recall else roc)(confmat, self.thresholds)
