"""Figures on matplotlib ``Figure`` objects with the Agg canvas: no pyplot state, no GUI backend. Earns its size:
one short function per figure, each with the labels that make it readable alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from logreg.lazy import lazy_module
from logreg.model.binned import add_bin_sums, calibration_error
from logreg.model.logistic import boundary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib draws only at the end of a run (and not at all for predict or convert): imported when first drawn
figure = lazy_module("matplotlib.figure")
backend_agg = lazy_module("matplotlib.backends.backend_agg")
ticker = lazy_module("matplotlib.ticker")
Names = Sequence[str]
HISTOGRAM_BINS = 25  # of the probability histogram


def axes(size: tuple[float, float]) -> tuple[Figure, Any]:
    """A new figure of ``size`` inches and its one pair of axes."""
    fig = figure.Figure(figsize=size, dpi=100)
    return fig, fig.add_subplot()


def done(fig: Figure, *grids: Any) -> Figure:
    """Fixed margins that fit these labels (``tight_layout`` costs 0.15 s a figure), titles at the top (no tick labels
    there: matplotlib's search for them cost a tenth of a render, same pixels); a light grid on ``grids``."""
    for ax in grids:
        ax.grid(alpha=0.3)
    for ax in fig.axes:
        ax.set_title(ax.get_title(), y=1.0)
    fig.subplots_adjust(left=0.15, right=0.95, bottom=0.13, top=0.9, hspace=0.4, wspace=0.3)
    return fig


def loss_curve(losses: Sequence[float], title: str = "training loss", xlabel: str = "no. of iterations",
               ylabel: str = "loss") -> Figure:  # fmt: skip
    """The tutorial's plot: the loss of every training step, on integer steps and a plain value axis (no offset)."""
    fig, ax = axes((6, 4))
    ax.plot(np.arange(len(losses)), losses, linewidth=1, marker="." if len(losses) <= 100 else None)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter(useOffset=False))
    return done(fig, ax)


def fitted_sigmoid(x: np.ndarray, y: np.ndarray, weight: float, bias: float, threshold: float = 0.5,
                   class_names: Names = ("0", "1"), rows: str = "") -> Figure:  # fmt: skip
    """Data points (x, y) of ``rows`` (e.g. "test"), the fitted ``sigmoid(weight * x + bias)`` and the x where p =
    ``threshold``."""
    fig, ax = axes((6, 4))
    ax.scatter(x, y, s=14, c=y, cmap="coolwarm", vmin=0, vmax=1, label=f"{rows} rows".strip(), zorder=3)
    lo, hi = float(np.min(x)), float(np.max(x))
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, 400)
    curve = 0.5 * (1 + np.tanh(0.5 * (weight * grid + bias)))  # the sigmoid, without overflow for huge weights
    ax.plot(grid, curve, color="black", label="sigmoid(w x + b)")
    if weight != 0:
        at = boundary(weight, bias, threshold)
        ax.axvline(at, color="green", linestyle="--", label=f"boundary x = {at:.3f} (p = {threshold:.3g})")
        if threshold != 0.5:
            ax.axhline(threshold, color="green", linestyle=":", linewidth=1)
    ax.set(xlabel="x", ylabel=f"p(y = {class_names[1]})", title=f"fit: w = {weight:.3f}, b = {bias:.3f}",
           ylim=(-0.05, 1.05))  # fmt: skip
    ax.legend(loc="upper left", fontsize=8)
    return done(fig, ax)


def roc_curve(fpr: np.ndarray, tpr: np.ndarray, auroc: float, title: str = "ROC") -> Figure:
    """Receiver operating characteristic with its area."""
    fig, ax = axes((4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUROC = {auroc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    return done(fig)


def probability_histogram(probs: np.ndarray, target: np.ndarray, title: str = "predicted p(y=1)",
                          class_names: Names = ("0", "1")) -> Figure:  # fmt: skip
    """Histogram of predicted probabilities, one colour per true class (named as the data names them)."""
    edges = np.linspace(0, 1, HISTOGRAM_BINS + 1)
    return class_histogram(np.stack([np.histogram(probs[target == cls], edges)[0] for cls in (0, 1)]), title,
                           class_names)  # fmt: skip


def class_histogram(counts: np.ndarray, title: str = "predicted p(y=1)", class_names: Names = ("0", "1")) -> Figure:
    """:func:`probability_histogram` of ``counts`` (2, ``HISTOGRAM_BINS``): each class's rows in bins of [0, 1]."""
    fig, ax = axes((6, 4))
    bins = np.linspace(0, 1, HISTOGRAM_BINS + 1)
    for cls, color in ((0, "tab:blue"), (1, "tab:red")):  # ax.hist's look, one outline per class: 3x faster
        ax.stairs(counts[cls], bins, fill=True, alpha=0.6, color=color, label=f"true class {class_names[cls]}")
    ax.set(xlabel=f"p(y = {class_names[1]})", ylabel="rows", title=title)
    ax.legend()
    return done(fig)


def confusion_matrix(counts: np.ndarray, threshold: float, class_names: Names = ("0", "1"),
                     title: str = "confusion") -> Figure:  # fmt: skip
    """``[[TN, FP], [FN, TP]]`` at ``threshold``: counts and rates within the true class, coloured by rate (a rare
    class's misses stand out); "n/a" for a class without rows."""
    counts = np.asarray(counts)
    row_totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    fig, ax = axes((4.5, 4))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(counts):
        rate = f"{rates[row, col]:.1%}" if row_totals[row, 0] > 0 else "n/a"
        color = "white" if rates[row, col] > 0.5 else "black"
        ax.text(col, row, f"{count}\n({rate})", ha="center", va="center", color=color, fontsize=11)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=list(class_names))
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set(xlabel="predicted", ylabel="true", title=f"{title} at threshold {threshold:.2f}")
    fig.colorbar(image, ax=ax, label="rate within true class")
    return done(fig)


def precision_recall_curve(precision: np.ndarray, recall: np.ndarray, ap: float,
                           operating_point: tuple[float, float] | None, title: str = "precision-recall",
                           positive_rate: float | None = None) -> Figure:  # fmt: skip
    """Precision against recall with its AP, the ``operating_point`` ``(recall, precision)`` and the no-skill line:
    the view that ROC flatters on imbalanced data."""
    fig, ax = axes((4.5, 4.5))
    ax.plot(recall, precision, drawstyle="steps-post", label=f"AP = {ap:.3f}")
    if positive_rate is not None:
        ax.axhline(positive_rate, color="grey", linestyle=":", label=f"no skill ({positive_rate:.3f})")
    if operating_point is not None:
        r, p = operating_point
        label = f"threshold: R = {r:.3f}, P = {p:.3f}"
        ax.plot([r], [p], marker="o", markersize=8, color="tab:red", linestyle="none", label=label)
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1.01), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize=8)
    return done(fig, ax)


def calibration_bins(probs: np.ndarray, target: np.ndarray, n_bins: int = 15) -> tuple[np.ndarray, ...]:
    """Per bin: mean predicted probability, observed frequency of class 1, and count (NaN means for empty bins), in
    the logged ECE's bins (:func:`~logreg.model.binned.add_bin_sums`: ``n_bins`` equal ones and one for exactly 1)."""
    probs, target = np.asarray(probs).ravel(), np.asarray(target).ravel()
    probs = probs if np.issubdtype(probs.dtype, np.floating) else probs.astype(np.float64)
    if probs.shape != target.shape:
        raise ValueError(f"probs and target differ in length: {probs.size} and {target.size}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    if probs.size and not (np.all(probs >= 0) and np.all(probs <= 1)):
        raise ValueError("probs must be probabilities in [0, 1]")
    sums = [torch.zeros(n_bins + 1, dtype=torch.float64) for _ in range(3)]
    add_bin_sums(torch.from_numpy(probs.copy()), torch.from_numpy(target.copy()), *sums)
    return calibration_means(*(s.numpy() for s in sums))


def calibration_means(counts: np.ndarray, sum_p: np.ndarray, sum_y: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`calibration_bins` from the bins' sums (rows, probabilities, positives: ``add_bin_sums``')."""
    means = [np.divide(s, counts, out=np.full(len(counts), np.nan), where=counts > 0) for s in (sum_p, sum_y)]
    return means[0], means[1], counts.astype(np.int64)


def expected_calibration_error(mean_predicted: np.ndarray, observed: np.ndarray, counts: np.ndarray) -> float:
    """:func:`~logreg.model.binned.calibration_error` of the bins (NaN when all are empty)."""
    counts = np.asarray(counts, dtype=np.float64)
    sums = (torch.from_numpy(np.where(counts > 0, v * counts, 0.0)) for v in (mean_predicted, observed))
    return float(calibration_error(torch.from_numpy(counts), *sums))


def reliability_diagram(mean_predicted: np.ndarray, observed: np.ndarray, counts: np.ndarray, ece: float,
                        title: str = "reliability", class_names: Names = ("0", "1")) -> Figure:  # fmt: skip
    """Observed frequency of class 1 against mean predicted probability per bin, the diagonal of a calibrated model,
    and below it each bin's rows (a far-off point of few rows matters little)."""
    mean_predicted, observed, counts = (np.asarray(a, dtype=np.float64) for a in (mean_predicted, observed, counts))
    shown = (counts > 0) & np.isfinite(mean_predicted) & np.isfinite(observed)
    fig = figure.Figure(figsize=(4.5, 5.5), dpi=100)
    curve, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    curve.plot([0, 1], [0, 1], color="grey", linestyle=":", label="calibrated")
    curve.plot(mean_predicted[shown], observed[shown], marker="o", markersize=4, label=f"ECE = {ece:.3f}")
    curve.set(ylabel=f"observed frequency of class {class_names[1]}", title=title, xlim=(0, 1.01), ylim=(0, 1.01))
    curve.legend(loc="upper left", fontsize=8)
    hist.bar(mean_predicted[shown], counts[shown], width=0.8 / max(len(counts) - 1, 1), color="tab:blue")
    hist.set(xlabel=f"mean predicted p(y = {class_names[1]}) in bin", ylabel="rows")
    return done(fig, curve, hist)


def to_rgb(fig: Figure) -> np.ndarray:
    """Render a figure to an (H, W, 3) uint8 array (what TensorBoard's ``add_image`` takes with HWC)."""
    canvas = backend_agg.FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
