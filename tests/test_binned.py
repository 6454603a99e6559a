"""The binned O(rows) metrics against torchmetrics' own updates and scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve
from torchmetrics.classification import (
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryCalibrationError,
    BinaryPrecisionRecallCurve,
)

from logreg.model.binned import auroc, average_precision, binned_confmat, precision_recall_curve


def binned_curve(probs: torch.Tensor, target: torch.Tensor, thresholds: int) -> torch.Tensor:
    """logreg's (T, 2, 2) confusion matrices at torchmetrics' thresholds ``linspace(0, 1, T)``."""
    return binned_confmat(probs, target, torch.linspace(0, 1, thresholds))


def _rows(n: int = 60_000, thresholds: int = 1001, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random probabilities with ties at every threshold (torchmetrics' float32 ``linspace(0, 1, thresholds)``),
    many at 0 and at 1; labels drawn from them."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, generator=g)
    probs[: 2 * thresholds] = torch.linspace(0, 1, thresholds).repeat(2)  # exactly on the thresholds
    probs[2 * thresholds : 2 * thresholds + 100], probs[-100:] = 0.0, 1.0
    return probs, (torch.rand(n, generator=g) < probs).long()


# A batch over 50,000 rows takes torchmetrics' loop (one pass per threshold: kept to the smallest grid, for
# time), smaller ones its vectorised path.
@pytest.mark.parametrize(("n", "thresholds"), [(51_000, 11), (4_000, 1001), (4_000, 127)])
def test_binned_curves_are_torchmetrics_curves_bitwise(n, thresholds):
    """The precision-recall curve, AP and AUROC of the batches' summed confusion matrices, as torchmetrics' classes."""
    probs, target = _rows(n, thresholds)
    references = tuple(
        kind(thresholds=thresholds) for kind in (BinaryPrecisionRecallCurve, BinaryAveragePrecision, BinaryAUROC)
    )
    confmat = 0
    for p, y in zip(probs.split(50_001), target.split(50_001), strict=True):
        for reference in references:
            reference.update(p, y)
        confmat = confmat + binned_curve(p, y, thresholds)
    grid = torch.linspace(0, 1, thresholds)
    for ours, theirs in zip(precision_recall_curve(confmat, grid), references[0].compute(), strict=True):
        assert torch.equal(ours.nan_to_num(-1), theirs.nan_to_num(-1))
    assert torch.equal(average_precision(confmat, grid), references[1].compute())
    assert torch.equal(auroc(confmat, grid), references[2].compute())


def test_binned_ap_is_sklearn_ap_of_the_binned_scores_and_close_to_the_exact_one():
    """With thresholds, a score only matters through how many thresholds lie at or below it: sklearn's AP of that
    count (computed here with NumPy) is the binned AP exactly; it is close to the exact AP with 1001 bins."""
    probs, target = _rows()
    ap = float(average_precision(binned_curve(probs, target, 1001), torch.linspace(0, 1, 1001)))
    grid = np.linspace(0, 1, 1001, dtype=np.float32)
    level = np.searchsorted(grid, probs.numpy(), side="right")
    # 1e-5: torchmetrics computes precision and recall in float32 and sums about 1000 terms
    assert ap == pytest.approx(average_precision_score(target.numpy(), level), abs=1e-5)
    assert ap == pytest.approx(average_precision_score(target.numpy(), probs.numpy()), abs=2e-3)


def test_binned_auroc_is_within_the_mass_of_pairs_sharing_a_bin_of_sklearn():
    """Binned AUROC counts a positive and a negative between the same two thresholds as half-ordered, so it
    differs from the exact AUROC by at most 0.5 * sum_b P_b N_b / (P N); the ROC points are sklearn's at the grid."""
    probs, target = _rows()
    y, p = target.numpy(), probs.numpy()
    level = np.searchsorted(np.linspace(0, 1, 1001, dtype=np.float32), p, side="right")
    pos, neg = (np.bincount(level[y == c], minlength=1002).astype(float) for c in (1, 0))
    bound = 0.5 * float(pos @ neg) / (pos.sum() * neg.sum())
    area = float(auroc(binned_curve(probs, target, 1001), torch.linspace(0, 1, 1001)))
    assert abs(area - roc_auc_score(y, p)) <= bound + 1e-6
    fpr, tpr, _ = roc_curve(y, level)  # the trapezoid on the binned scores is the binned AUROC itself
    assert area == pytest.approx(float(np.trapezoid(tpr, fpr)), abs=1e-5)  # (float32 rates, as above)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_binned_confmat_compares_in_the_same_dtype_as_torchmetrics(dtype):
    probs, target = _rows(4_000)
    reference = BinaryPrecisionRecallCurve(thresholds=1001)
    reference.update(probs.to(dtype), target)
    ours = precision_recall_curve(binned_curve(probs.to(dtype), target, 1001), torch.linspace(0, 1, 1001))
    for mine, theirs in zip(ours, reference.compute(), strict=True):
        assert torch.equal(mine.nan_to_num(-1), theirs.nan_to_num(-1))


def test_evaluation_totals_are_torchmetrics_values():
    """One set of sums a batch gives what torchmetrics' classes give on the same batches: the rates of the decisions
    ``p > 0.3`` bitwise, AUROC, AP and the ROC curve of 1001 thresholds bitwise, the ECE and the mean loss closely."""
    from torchmetrics import classification as tm

    from logreg.model.metrics import EvaluationTotals

    probs, target = _rows(9_000)
    probs = probs.double()
    decisions = {"acc": tm.BinaryAccuracy(), "f1": tm.BinaryF1Score(), "precision": tm.BinaryPrecision(),
                 "recall": tm.BinaryRecall()}  # fmt: skip
    references = {"auroc": tm.BinaryAUROC(thresholds=1001), "ap": tm.BinaryAveragePrecision(thresholds=1001),
                  "ece": BinaryCalibrationError(n_bins=15), "roc": tm.BinaryROC(thresholds=1001)}  # fmt: skip
    totals, losses = EvaluationTotals("val", 1001), []
    for p, y in zip(probs.split(4_000), target.split(4_000), strict=True):
        loss = torch.nn.functional.binary_cross_entropy(p, y.double(), reduction="sum")
        totals.update(p, y, loss, torch.tensor(0.3))
        losses.append(loss)
        for reference in references.values():
            reference.update(p, y)
        for reference in decisions.values():
            reference.update((p > torch.tensor(0.3)).double(), y)  # the model's float32 threshold
    values = totals.compute()
    for name, reference in (decisions | references).items():
        if name in ("acc", "f1", "precision", "recall", "auroc", "ap"):
            assert torch.equal(values[f"val_{name}"], reference.compute()), name
    assert float(values["val_ece"]) == pytest.approx(float(references["ece"].compute()), rel=1e-6)  # float64 sums
    assert float(values["val_ece"]) > 0
    assert float(values["val_loss"]) == pytest.approx(float(sum(losses)) / len(probs), rel=1e-6)  # float32 sums
    for ours, theirs in zip(totals.curve(precision_recall=False), references["roc"].compute(), strict=True):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_histograms_count_thresholds_exactly_next_to_each_one(dtype):
    """Evenly spaced thresholds are counted without a search: a probability on each threshold and one float step
    either side of it falls in the bin that comparing it with every threshold (torchmetrics' way) gives."""
    from logreg.model.binned import class_histograms

    thresholds = torch.linspace(0, 1, 1001)
    on = thresholds.to(dtype)
    probs = torch.cat(
        [
            on,
            torch.nextafter(on, torch.tensor(2.0, dtype=dtype)),
            torch.nextafter(on, torch.tensor(-1.0, dtype=dtype)),
            torch.tensor([float("nan")], dtype=dtype),
        ]
    )
    probs = probs.clamp(0, 1).nan_to_num(nan=float("nan"))
    target = torch.arange(len(probs)) % 2
    above = (probs[:, None] >= thresholds.to(torch.promote_types(dtype, thresholds.dtype))).sum(1)  # NaN: none
    expected = torch.zeros(2, 1002, dtype=torch.long).index_put_(
        (target, above), torch.ones_like(above), accumulate=True
    )
    assert torch.equal(class_histograms(probs, target, thresholds), expected)
