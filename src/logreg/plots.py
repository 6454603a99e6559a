"""Figures, drawn on matplotlib ``Figure`` objects with the Agg canvas: no pyplot state, no GUI backend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def loss_curve(losses: Sequence[float], title: str = "training loss") -> Figure:
    """The tutorial's plot: the loss of every training step."""
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot(np.arange(len(losses)), losses, linewidth=1)
    ax.set(xlabel="no. of iterations", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def fitted_sigmoid(x: np.ndarray, y: np.ndarray, weight: float, bias: float) -> Figure:
    """Data points (x, y) with the fitted ``sigmoid(weight * x + bias)`` and the boundary ``-bias / weight``."""
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(x, y, s=14, c=y, cmap="coolwarm", vmin=0, vmax=1, label="data", zorder=3)
    lo, hi = float(np.min(x)), float(np.max(x))
    pad = 0.05 * (hi - lo or 1.0)
    grid = np.linspace(lo - pad, hi + pad, 400)
    ax.plot(grid, 1 / (1 + np.exp(-(weight * grid + bias))), color="black", label="sigmoid(w x + b)")
    if weight != 0:
        boundary = -bias / weight
        ax.axvline(boundary, color="green", linestyle="--", label=f"boundary x = {boundary:.3f}")
    ax.set(xlabel="x", ylabel="p(y = 1)", title=f"fit: w = {weight:.3f}, b = {bias:.3f}", ylim=(-0.05, 1.05))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def roc_curve(fpr: np.ndarray, tpr: np.ndarray, auroc: float, title: str = "ROC") -> Figure:
    """Receiver operating characteristic with its area."""
    fig = Figure(figsize=(4.5, 4.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(fpr, tpr, label=f"AUROC = {auroc:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def probability_histogram(probs: np.ndarray, target: np.ndarray, title: str = "predicted p(y=1)") -> Figure:
    """Histogram of predicted probabilities, one colour per true class."""
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 26)
    for cls, color in ((0, "tab:blue"), (1, "tab:red")):
        ax.hist(probs[target == cls], bins=bins, alpha=0.6, color=color, label=f"true class {cls}")
    ax.set(xlabel="p(y = 1)", ylabel="rows", title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def to_rgb(fig: Figure) -> np.ndarray:
    """Render a figure to an (H, W, 3) uint8 array (what TensorBoard's ``add_image`` takes with HWC)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def loss_comparison(runs: Sequence[dict], x: np.ndarray, y: np.ndarray, epochs: int) -> Figure:
    """Left: each run's mean training loss per epoch. Right: the data with each run's fitted sigmoid.

    ``runs`` holds dicts with ``name``, ``losses`` (one per iteration), ``weight`` and ``bias``.
    """
    fig = Figure(figsize=(12, 4.5), dpi=100)
    curves, fits = fig.subplots(1, 2)
    grid = np.linspace(float(x.min()), float(x.max()), 400)
    fits.scatter(x, y, s=14, color="black", label="data", zorder=3)
    for run in runs:
        per_epoch = np.asarray(run["losses"]).reshape(epochs, -1).mean(axis=1)
        curves.plot(np.arange(1, epochs + 1), per_epoch, linewidth=1.5, label=run["name"])
        fits.plot(grid, 1 / (1 + np.exp(-(run["weight"] * grid + run["bias"]))), label=run["name"])
    curves.set(xlabel="epoch", ylabel="mean training loss", title="training loss (own scale per loss)")
    fits.set(xlabel="x", ylabel="p(y = 1)", title="fitted sigmoids", ylim=(-0.05, 1.05))
    for ax in (curves, fits):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
