"""Callbacks: the tutorial's figures in TensorBoard."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from matplotlib.figure import Figure

from logreg import plots

MAX_POINTS_DRAWN = 2000


def _tensorboard(trainer: Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


def log_figure(trainer: Trainer, tag: str, draw: Any, *args: Any) -> None:
    """Draw ``draw(*args)`` and log it as an image; a failing figure warns instead of failing the run."""
    logger = _tensorboard(trainer)
    if logger is None or not trainer.is_global_zero:
        return
    try:
        fig: Figure = draw(*args)
        logger.experiment.add_image(tag, plots.to_rgb(fig), trainer.global_step, dataformats="HWC")
    except Exception as err:  # a picture is never worth a failed run
        rank_zero_warn(f"could not draw figure {tag!r}: {type(err).__name__}: {err}")


class TrainingFigures(Callback):
    """Keeps the loss of every training step (the tutorial's ``Loss`` list) and logs figures when fit ends.

    Losses stay on the device until the end of each epoch, so recording them costs no synchronisation per step;
    they are saved in checkpoints so that a resumed run still draws its whole curve.
    """

    def __init__(self) -> None:
        self.losses: list[float] = []
        self._pending: list[torch.Tensor] = []

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._pending.append(loss.detach())

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._pending:
            self.losses.extend(torch.stack(self._pending).float().cpu().tolist())
            self._pending.clear()

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.on_train_epoch_end(trainer, pl_module)
        log_figure(trainer, "figures/loss_per_iteration", plots.loss_curve, self.losses)
        datamodule = trainer.datamodule
        if pl_module.hparams.get("n_inputs") == 1 and hasattr(datamodule, "features"):
            weight, bias = pl_module.coefficients()
            x, y = _sample_rows(datamodule.features, datamodule.labels)
            log_figure(trainer, "figures/fitted_sigmoid", plots.fitted_sigmoid, x[:, 0], y, float(weight[0]), bias)

    def state_dict(self) -> dict[str, Any]:
        return {"losses": list(self.losses)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.losses = list(state_dict["losses"])


def _sample_rows(features: Any, labels: Any, limit: int = MAX_POINTS_DRAWN) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` evenly spaced rows as NumPy arrays (a scatter plot needs no more)."""
    rows = np.linspace(0, len(features) - 1, num=min(limit, len(features))).round().astype(np.int64)
    x = np.asarray(features[rows] if isinstance(features, np.ndarray) else features[torch.from_numpy(rows)].cpu())
    y = np.asarray(labels[rows] if isinstance(labels, np.ndarray) else labels[torch.from_numpy(rows)].cpu())
    return x.astype(np.float32), y.reshape(-1).astype(np.float32)
