"""The evaluation figures render, also on degenerate inputs, and the calibration bins give torchmetrics' ECE."""

import contextlib
import warnings

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torchmetrics.functional.classification import binary_calibration_error

from logreg.report import plots


def rendered(fig: Figure) -> np.ndarray:
    """The figure as the TensorBoard callbacks send it: an (H, W, 3) uint8 array."""
    assert isinstance(fig, Figure)
    rgb = plots.to_rgb(fig)
    assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
    assert rgb.shape[0] > 100 and rgb.shape[1] > 100
    return rgb


def with_boundaries(n: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform probabilities with Bernoulli targets, plus 0.0, 1.0 and every bin edge exactly."""
    rng = np.random.default_rng(0)
    probs = np.concatenate([rng.uniform(size=n), [0.0, 0.0, 1.0, 1.0, 1.0]]).astype(dtype)
    edges = torch.linspace(0, 1, 16, dtype=torch.from_numpy(probs[:0]).dtype).numpy()
    probs = np.concatenate([probs, edges, edges])
    target = (rng.uniform(size=probs.size) < probs).astype(np.int64)
    return probs, target


@contextlib.contextmanager
def strict():
    """Any warning (division by zero, NaN, matplotlib layout) fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ece_matches_torchmetrics(dtype):
    probs, target = with_boundaries(1000, dtype)
    mean_predicted, observed, counts = plots.calibration_bins(probs, target, n_bins=15)
    assert counts.sum() == probs.size
    assert counts[-1] == 3 + 2  # p == 1.0 is a bin of its own, as in torchmetrics
    ece = plots.expected_calibration_error(mean_predicted, observed, counts)
    expected = binary_calibration_error(torch.from_numpy(probs), torch.from_numpy(target), n_bins=15, norm="l1")
    assert ece == pytest.approx(float(expected), abs=1e-6)


def test_ece_matches_torchmetrics_with_empty_bins():
    probs = np.array([0.0, 0.01, 0.02, 0.5, 0.51, 0.99, 1.0], dtype=np.float32)
    target = np.array([0, 0, 1, 1, 0, 1, 1])
    with strict():
        mean_predicted, observed, counts = plots.calibration_bins(probs, target)
        ece = plots.expected_calibration_error(mean_predicted, observed, counts)
    empty = counts == 0
    assert empty.any() and np.isnan(mean_predicted[empty]).all() and np.isnan(observed[empty]).all()
    assert counts.sum() == probs.size
    expected = binary_calibration_error(torch.from_numpy(probs), torch.from_numpy(target), n_bins=15, norm="l1")
    assert ece == pytest.approx(float(expected), abs=1e-6)


def test_calibration_bins_without_rows():
    with strict():
        mean_predicted, observed, counts = plots.calibration_bins(np.array([]), np.array([]))
        ece = plots.expected_calibration_error(mean_predicted, observed, counts)
        rendered(plots.reliability_diagram(mean_predicted, observed, counts, ece))
    assert counts.sum() == 0 and np.isnan(ece)


def test_calibration_bins_rejects_logits():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.calibration_bins(np.array([-0.5, 2.0]), np.array([0, 1]))


def test_confusion_matrix():
    fig = plots.confusion_matrix(np.array([[37, 3], [5, 55]]), threshold=0.5, class_names=("no", "yes"))
    rendered(fig)
    ax = fig.axes[0]
    assert ax.get_title() == "confusion at threshold 0.50"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "true")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["no", "yes"]
    assert {t.get_text() for t in ax.texts} == {"37\n(92.5%)", "3\n(7.5%)", "5\n(8.3%)", "55\n(91.7%)"}


@pytest.mark.parametrize("counts", [[[0, 0], [4, 6]], [[0, 0], [0, 0]]])
def test_confusion_matrix_with_an_empty_true_class(counts):
    with strict():
        fig = plots.confusion_matrix(np.array(counts), threshold=0.3)
        rendered(fig)
    assert sum("n/a" in t.get_text() for t in fig.axes[0].texts) == 2 * sum(sum(row) == 0 for row in counts)


def test_precision_recall_curve():
    recall = np.array([1.0, 0.8, 0.5, 0.2, 0.0])
    precision = np.array([0.4, 0.6, 0.8, 0.9, 1.0])
    fig = plots.precision_recall_curve(precision, recall, ap=0.8734, operating_point=(0.8, 0.6), positive_rate=0.4)
    rendered(fig)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == "AP = 0.873"
    assert any(label.startswith("threshold") for label in labels) and any("no skill" in label for label in labels)
    assert fig.axes[0].get_xlim()[0] == 0 and fig.axes[0].get_ylim()[0] == 0


def test_precision_recall_curve_of_one_point():
    with strict():
        rendered(plots.precision_recall_curve(np.array([1.0]), np.array([0.0]), ap=0.0, operating_point=None))


def test_reliability_diagram():
    probs, target = with_boundaries(1000, np.float32)
    mean_predicted, observed, counts = plots.calibration_bins(probs, target)
    fig = plots.reliability_diagram(mean_predicted, observed, counts, ece=0.0213)
    rendered(fig)
    curve, hist = fig.axes
    assert "ECE = 0.021" in [t.get_text() for t in curve.get_legend().get_texts()]
    assert len(hist.patches) == (counts > 0).sum()


def test_reliability_diagram_of_one_class():
    """All rows of class 1 and probabilities in four bins: most bins are empty, observed is all 1."""
    cls = 1
    probs = np.array([0.05, 0.05, 0.5, 0.95, 1.0])
    target = np.full(probs.size, cls)
    with strict():
        mean_predicted, observed, counts = plots.calibration_bins(probs, target)
        ece = plots.expected_calibration_error(mean_predicted, observed, counts)
        fig = plots.reliability_diagram(mean_predicted, observed, counts, ece)
        rendered(fig)
    assert np.nanmax(observed) == np.nanmin(observed) == cls
    assert len(fig.axes[1].patches) == 4


def test_loss_curve_of_a_short_flat_run_is_readable():
    """Three full-batch epochs whose objective differs in the 8th digit: whole-number steps, values written out (no
    ``1e-7+5.6986e-2`` offset above the axis), and the title and labels given."""
    fig = plots.loss_curve([0.0569860003, 0.0569860001, 0.0569860000], "training objective (loss + penalty)",
                           "evaluation of the objective", "objective")  # fmt: skip
    rendered(fig)
    ax = fig.axes[0]
    assert ax.get_title() == "training objective (loss + penalty)" and ax.get_ylabel() == "objective"
    assert all(float(tick).is_integer() for tick in ax.get_xticks())
    assert ax.yaxis.get_offset_text().get_text() == ""
    assert all(label.get_text().startswith("0.05698") for label in ax.get_yticklabels() if label.get_text())


def test_fitted_sigmoid_marks_the_boundary_at_the_threshold():
    """p = sigmoid(2 x - 1) crosses 0.8 at x = (logit(0.8) + 1) / 2 = 1.193, not at 0.5's x = 0.5."""
    x = np.linspace(-2, 3, 20)
    fig = plots.fitted_sigmoid(x, (x > 1).astype(float), 2.0, -1.0, threshold=0.8, class_names=("no", "yes"),
                               rows="test")  # fmt: skip
    rendered(fig)
    ax = fig.axes[0]
    [line] = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert line.get_xdata()[0] == pytest.approx((np.log(4) + 1) / 2)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == "test rows" and "boundary x = 1.193 (p = 0.8)" in labels
    assert ax.get_ylabel() == "p(y = yes)"


def test_histogram_and_reliability_name_the_classes():
    """The label names the confusion matrix shows, not "class 0/1"."""
    probs, target = with_boundaries(200, np.float64)
    names = ("benign", "malignant")
    histogram = plots.probability_histogram(probs, target, class_names=names)
    rendered(histogram)
    ax = histogram.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["true class benign", "true class malignant"]
    assert ax.get_xlabel() == "p(y = malignant)"
    bins = plots.calibration_bins(probs, target)
    reliability = plots.reliability_diagram(*bins, ece=0.01, class_names=names)
    rendered(reliability)
    curve, hist = reliability.axes
    assert curve.get_ylabel() == "observed frequency of class malignant"
    assert hist.get_xlabel() == "mean predicted p(y = malignant) in bin"
