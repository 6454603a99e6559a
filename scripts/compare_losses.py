#!/usr/bin/env python
"""The tutorial's claim as an experiment: cross-entropy vs MSE, from PyTorch's random start and from a bad start.

Runs {BCE, MSE} x {random init, w=-5 b=-10} with the tutorial's settings (src/logreg/configs/tutorial.yaml:
all 40 points, SGD lr 2, batch 2, 50 epochs, seed 0) through `logreg fit`, logs each run to TensorBoard under
<root>/compare/<loss>-<init>/ (replacing an earlier comparison), prints a table and saves one PNG with the four
loss curves and the four fitted sigmoids.

    python scripts/compare_losses.py [--epochs 50] [--root lightning_logs]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from logreg.cli.lightning import build_cli
from logreg.report import plots
from logreg.report.figures import TrainingFigures
from logreg.report.summary import format_rows
from logreg.training import quiet_known_noise

TUTORIAL = Path(__file__).resolve().parents[1] / "src" / "logreg" / "configs" / "tutorial.yaml"
INITS = {"random": [], "bad (-5, -10)": ["--model.init_weight", "-5", "--model.init_bias", "-10"]}


def run_one(loss: str, init: str, epochs: int, root: Path) -> dict:
    """One `logreg fit` of the tutorial config; returns the fitted parameters, losses and 40-point accuracy."""
    version = f"{loss}-{init.split()[0]}"
    shutil.rmtree(root / "compare" / version, ignore_errors=True)
    cli = build_cli(
        [
            "fit",
            "--config", str(TUTORIAL),
            "--trainer.max_epochs", str(epochs),
            "--trainer.enable_progress_bar", "false",
            "--trainer.logger.init_args.save_dir", str(root),
            "--trainer.logger.init_args.name", "compare",
            "--trainer.logger.init_args.version", version,
            "--model.loss", loss,
            *INITS[init],
        ]
    )  # fmt: skip
    model, data = cli.model, cli.datamodule
    weight, bias = model.coefficients()
    with torch.no_grad():
        accuracy = ((model(data.features) > 0.5).float() == data.labels).float().mean().item()
    history = next(cb for cb in cli.trainer.callbacks if isinstance(cb, TrainingFigures))
    return {
        "name": f"{loss.upper()}, {init} init",
        "loss": loss.upper(),
        "init": init,
        "weight": float(weight[0]),
        "bias": bias,
        "accuracy": accuracy,
        "losses": list(history.losses),
        "x": data.features.view(-1).numpy(),
        "y": data.labels.view(-1).numpy(),
    }


def table(runs: list[dict]) -> str:
    header = f"{'loss':<5} {'init':<14} {'weight':>9} {'bias':>9} {'accuracy':>9}"
    lines = [header, "-" * len(header)]
    for r in runs:
        lines.append(f"{r['loss']:<5} {r['init']:<14} {r['weight']:>9.4f} {r['bias']:>9.4f} {r['accuracy']:>9.4f}")
    return "\n".join(lines)


def loss_comparison(runs: list[dict], x: np.ndarray, y: np.ndarray, epochs: int) -> Figure:
    """Left: each run's mean training loss per epoch. Right: the data with each run's fitted sigmoid."""
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
        ax.legend(fontsize=8)
    return plots.done(fig, curves, fits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50, help="epochs per run (the tutorial's 50)")
    parser.add_argument("--root", type=Path, default=Path("lightning_logs"), help="TensorBoard log root")
    args = parser.parse_args()
    quiet_known_noise()
    runs = [run_one(loss, init, args.epochs, args.root) for loss in ("bce", "mse") for init in INITS]
    png = args.root / "compare" / "compare_losses.png"
    fig = loss_comparison(runs, runs[0]["x"], runs[0]["y"], args.epochs)
    fig.savefig(png)
    print()
    print(table(runs))
    print()
    print(format_rows({"figure": png, "tensorboard": f"tensorboard --logdir {args.root / 'compare'}"}))


if __name__ == "__main__":
    main()
