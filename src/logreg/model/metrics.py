"""The training epoch's loss and accuracy, from running sums updated once per step."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric


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
