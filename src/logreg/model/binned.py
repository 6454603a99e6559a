"""Threshold metrics in O(rows): one ``bucketize`` and a count per batch instead of torchmetrics' pass per threshold
(its binned curves compare every row with each of the T thresholds for batches over 50,000 rows). Only ``update`` is
replaced: states, ``compute`` and the DDP reduction stay torchmetrics' own."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryPrecisionRecallCurve,
    BinaryROC,
)


def class_histograms(probs: Tensor, target: Tensor, thresholds: Tensor) -> Tensor:
    """(2, T + 1) int64: ``[c, k]`` counts the rows of class ``c`` whose probability is ``>=`` exactly ``k`` of the
    ascending ``thresholds`` (NaN below all, as in torchmetrics' comparisons)."""
    probs, positive = probs.reshape(-1), (target.reshape(-1) == 1).long()
    common = torch.promote_types(probs.dtype, thresholds.dtype)  # as torchmetrics' ``preds >= thresholds[i]``
    above = torch.bucketize(probs.to(common), thresholds.to(common), right=True)  # (N,) thresholds <= p
    above = above.masked_fill(probs.isnan(), 0)
    width = len(thresholds) + 1
    index = above + width * positive
    # scatter_add_ into a fixed size, not bincount: on CUDA bincount waits for the device to size its output
    counts = torch.zeros(2 * width, dtype=torch.long, device=probs.device)
    return counts.scatter_add_(0, index, torch.ones_like(index)).view(2, width)


def confmat_from_histograms(histograms: Tensor) -> Tensor:
    """The (T, 2, 2) confusion matrices ``[[TN, FP], [FN, TP]]`` of ``p >= threshold`` for every threshold."""
    at_or_above = histograms.flip(-1).cumsum(-1).flip(-1)  # (2, T + 1): rows with at least k thresholds below
    predicted_positive = at_or_above[:, 1:]  # (2, T): threshold t is below p iff k > t
    totals = histograms.sum(-1, keepdim=True)  # (2, 1)
    predicted_negative = totals - predicted_positive
    return torch.stack([predicted_negative, predicted_positive], dim=-1).transpose(0, 1)  # (T, 2, 2)


def binned_confmat(probs: Tensor, target: Tensor, thresholds: Tensor) -> Tensor:
    """torchmetrics' multi-threshold confusion matrix of probabilities (no sigmoid, no ignore_index) in O(rows)."""
    return confmat_from_histograms(class_histograms(probs, target, thresholds))


def confmat_state(metric: Metric) -> Tensor:
    """A binned curve's (T, 2, 2) ``confmat`` state, itself (torchmetrics' undocumented layout, read through the public
    ``metric_state``; tests/test_layouts.py checks it)."""
    return metric.metric_state["confmat"]


class _BinnedUpdate:
    """A binned torchmetrics curve whose ``update`` is :func:`binned_confmat`; inputs must be probabilities with 0/1
    targets (no sigmoid, no ignore_index)."""

    thresholds: Tensor

    def __init__(self, thresholds: int, **kwargs: Any) -> None:
        if not isinstance(thresholds, int):
            raise TypeError("binned metrics need a number of thresholds (an int)")
        super().__init__(thresholds=thresholds, ignore_index=None, **kwargs)

    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add the batch's confusion matrices at every threshold to the ``confmat`` state."""
        confmat_state(self).add_(binned_confmat(preds, target, self.thresholds))


class BinnedPrecisionRecallCurve(_BinnedUpdate, BinaryPrecisionRecallCurve):
    """``BinaryPrecisionRecallCurve(thresholds=T)`` with an O(rows) update."""


class BinnedROC(_BinnedUpdate, BinaryROC):
    """``BinaryROC(thresholds=T)`` with an O(rows) update."""


class BinnedAveragePrecision(_BinnedUpdate, BinaryAveragePrecision):
    """``BinaryAveragePrecision(thresholds=T)`` with an O(rows) update."""


class BinnedAUROC(_BinnedUpdate, BinaryAUROC):
    """``BinaryAUROC(thresholds=T)`` with an O(rows) update: off the exact AUROC only through a positive and a negative
    row between the same two thresholds, by at most ``0.5 * sum_b P_b N_b / (P N)``."""


def add_bin_sums(preds: Tensor, target: Tensor, rows: Tensor, probabilities: Tensor, positives: Tensor) -> None:
    """Add per-bin row counts, probability sums and positives to the (n_bins + 1,) sums, in torchmetrics' bins."""
    preds = preds.reshape(-1)
    edges = torch.linspace(0, 1, len(rows), dtype=preds.dtype, device=preds.device)
    bins = torch.bucketize(preds, edges, right=True) - 1  # (N,) in [0, n_bins] for p in [0, 1]
    # 1-D scatter_add_ rather than a weighted bincount: on CUDA it stays usable, and deterministic, under
    # torch.use_deterministic_algorithms (Trainer(deterministic=True)), where a weighted bincount raises.
    rows.scatter_add_(0, bins, torch.ones_like(preds, dtype=rows.dtype))
    probabilities.scatter_add_(0, bins, preds.to(probabilities.dtype))
    positives.scatter_add_(0, bins, (target.reshape(-1) == 1).to(positives.dtype))


def calibration_error(rows: Tensor, probabilities: Tensor, positives: Tensor) -> Tensor:
    """ECE from per-bin sums: ``sum_b |positives_b - probabilities_b| / rows`` (NaN for no rows)."""
    return (positives - probabilities).abs().sum() / rows.sum()
