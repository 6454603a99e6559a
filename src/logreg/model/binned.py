"""Threshold metrics in O(rows): one ``bucketize`` and a count per batch instead of torchmetrics' pass per threshold
(its binned curves compare every row with each of the T thresholds for batches over 50,000 rows), and the curves,
areas and calibration error from those counts, as torchmetrics' classes compute them (tests/test_binned.py)."""

from __future__ import annotations

import torch
from torch import Tensor


def class_histograms(probs: Tensor, target: Tensor, thresholds: Tensor) -> Tensor:
    """(2, T + 1) int64: ``[c, k]`` counts the rows of class ``c`` whose probability is ``>=`` exactly ``k`` of the
    ascending ``thresholds`` (NaN below all, as in torchmetrics' comparisons)."""
    probs, positive = probs.reshape(-1), (target.reshape(-1) == 1).long()
    common, width = torch.promote_types(probs.dtype, thresholds.dtype), len(thresholds) + 1  # (as torchmetrics' >=)
    even = width > 2 and torch.equal(thresholds, torch.linspace(0, 1, width - 1).to(thresholds))
    probs, thresholds = probs.to(common), thresholds.to(common)
    if even:  # i / (T - 1): p (T - 1) rounded down is within 1 of the count; two comparisons settle it (not a search)
        low = (probs * (width - 2)).nan_to_num(0).long().clamp_(0, width - 3)
        above = (thresholds[low] <= probs).long().add_(thresholds[low + 1] <= probs).add_(low)
    else:
        above = torch.bucketize(probs, thresholds, right=True)  # (N,) thresholds <= p
    above = above.masked_fill(probs.isnan(), 0)
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


# The curves of the (T, 2, 2) confusion matrices ``[[TN, FP], [FN, TP]]``, as torchmetrics' BinaryROC,
# BinaryPrecisionRecallCurve and BinaryAveragePrecision compute them (bitwise): its functions of them are private.
def roc(confmat: Tensor, thresholds: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(fpr, tpr, thresholds)`` from the highest threshold down (0 where a rate's denominator is)."""
    negative, false_positive, false_negative, true_positive = confmat.reshape(-1, 4).T
    fpr, tpr = rate(false_positive, false_positive + negative), rate(true_positive, true_positive + false_negative)
    return fpr.flip(0), tpr.flip(0), thresholds.flip(0)


def precision_recall_curve(confmat: Tensor, thresholds: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(precision, recall, thresholds)``, ending at (1, 0); NaN where a denominator is 0."""
    _, false_positive, false_negative, true_positive = confmat.reshape(-1, 4).T.float()
    end = torch.ones(1, device=confmat.device)
    precision = torch.cat([true_positive / (true_positive + false_positive), end])
    return precision, torch.cat([true_positive / (true_positive + false_negative), end - 1]), thresholds


def auroc(confmat: Tensor, thresholds: Tensor) -> Tensor:
    """The trapezoid area under the ROC curve."""
    fpr, tpr, _ = roc(confmat, thresholds)
    return torch.trapezoid(tpr, fpr)


def average_precision(confmat: Tensor, thresholds: Tensor) -> Tensor:
    """The step-wise area under the precision-recall curve (its NaNs as 0)."""
    precision, recall, _ = (value.nan_to_num(0.0) for value in precision_recall_curve(confmat, thresholds))
    return -torch.sum((recall[1:] - recall[:-1]) * precision[:-1])


def rate(count: Tensor, total: Tensor) -> Tensor:
    """``count / total`` in float32, 0 where ``total`` is 0 (torchmetrics' ``zero_division=0``)."""
    return torch.where(total != 0, count.float() / total.float(), torch.zeros((), device=total.device))
