"""The tutorial's figures in TensorBoard: :class:`TrainingFigures` draws them when fit and test end."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

from logreg.data.indexed import IndexedDataModule, take_rows
from logreg.model import binned
from logreg.model.logistic import CURVE_THRESHOLDS
from logreg.report import plots
from logreg.training import tensorboard_logger

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_POINTS_DRAWN = 2000
MAX_ROWS_SCORED = 100_000
TENSORBOARD_THRESHOLDS = 127  # the PR-curve dashboard's default: thresholds i / 126


def log_figure(trainer: Trainer, tag: str, draw: Callable[..., Figure], *args: Any) -> None:
    """Draw ``draw(*args)`` and log it as an image; a failing figure warns instead of failing the run."""
    logger = tensorboard_logger(trainer)
    if logger is None or not trainer.is_global_zero:
        return
    try:
        logger.experiment.add_image(tag, plots.to_rgb(draw(*args)), trainer.global_step, dataformats="HWC")
    except Exception as err:  # a picture is never worth a failed run
        rank_zero_warn(f"could not draw figure {tag!r}: {type(err).__name__}: {err}")


class TrainingFigures(Callback):
    """Keeps the loss of every training step (the tutorial's ``Loss`` list; every evaluation of the objective where
    a step makes several, as L-BFGS) and logs figures when fit and test end. Losses stay on the device until the
    epoch ends (no synchronisation per step) and are saved in checkpoints."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.per_evaluation = False  # some step evaluated the objective more than once: losses are evaluations
        self._pending: list[torch.Tensor] = []
        self._evaluations: list[torch.Tensor] = []  # of the current step

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int) -> None:
        self._evaluations.clear()

    def on_before_backward(self, trainer: Trainer, pl_module: LightningModule, loss: torch.Tensor) -> None:
        self._evaluations.append(loss.detach())  # once per evaluation: the loss Lightning's closure returns

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:  # fmt: skip
        if len(self._evaluations) > 1:  # (mixed precision's GradScaler evaluates once a step: those keep the output)
            self.per_evaluation = True
            self._pending.extend(self._evaluations)
            self._evaluations.clear()
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._pending.append(loss.detach())

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush()

    def _flush(self) -> None:
        """Move this epoch's losses to the host, one synchronisation for all of them."""
        if self._pending:
            self.losses.extend(torch.stack(self._pending).float().cpu().tolist())
            self._pending.clear()

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._flush()
        what = "objective (loss + penalty)" if getattr(pl_module, "penalised", False) else "loss"
        title = f"training {what}" + (", every evaluation" if self.per_evaluation else "")
        xlabel = "evaluation of the objective (L-BFGS: several a step)" if self.per_evaluation else "training step"
        log_figure(trainer, "figures/loss_per_iteration", plots.loss_curve, self.losses, title, xlabel, what)
        self._log_model_figures(trainer, pl_module, "val")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._log_model_figures(trainer, pl_module, "test")

    def _log_model_figures(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """With one feature, the data and the fitted sigmoid (training rows at fit's end, test rows after the test);
        ROC, probabilities, confusion, precision-recall (also TensorBoard's PR curve) and reliability of ``stage``."""
        datamodule = trainer.datamodule
        if not isinstance(datamodule, IndexedDataModule) or not trainer.is_global_zero:
            return
        threshold, names = float(getattr(pl_module, "threshold", 0.5)), datamodule.classes
        split = datamodule.train_idx if stage == "val" else datamodule.test_idx
        if pl_module.hparams.get("n_inputs") == 1 and len(split):
            weight, bias = pl_module.coefficients()
            drawn, tag = ("train", "fitted_sigmoid") if stage == "val" else ("test", "test_fitted_sigmoid")
            x, y = sample_rows(datamodule, split, MAX_POINTS_DRAWN)
            log_figure(trainer, f"figures/{tag}", plots.fitted_sigmoid, x[:, 0].numpy(), y.numpy(), float(weight[0]),
                       bias, threshold, names, drawn)  # fmt: skip
        rows = datamodule.val_idx if stage == "val" else datamodule.test_idx
        if len(rows) == 0:
            return
        x, target = sample_rows(datamodule, rows, MAX_ROWS_SCORED)
        with torch.no_grad():  # in chunks: a float64 model's copy of 100,000 rows would be 25 MiB
            probs = torch.cat([pl_module(part.to(pl_module.device, pl_module.dtype)).float().view(-1).cpu()
                               for part in x.split(16384)])  # fmt: skip
        grid, fine_grid = torch.linspace(0, 1, 200), torch.linspace(0, 1, CURVE_THRESHOLDS)  # drawn, and the areas'
        curve, fine = binned.binned_confmat(probs, target, grid), binned.binned_confmat(probs, target, fine_grid)
        fpr, tpr, _ = binned.roc(curve, grid)
        log_figure(trainer, f"figures/{stage}_roc", plots.roc_curve, fpr.numpy(), tpr.numpy(),
                   float(binned.auroc(fine, fine_grid)), f"ROC ({stage})")  # fmt: skip
        log_figure(trainer, f"figures/{stage}_probabilities", plots.probability_histogram, probs.numpy(),
                   target.numpy(), f"predicted p(y = {names[1]}), {stage} rows", names)  # fmt: skip
        # [[TN, FP], [FN, TP]] of the decisions probs > threshold
        counts = torch.bincount(2 * target.long() + (probs > threshold).long(), minlength=4).view(2, 2).numpy()
        log_figure(trainer, f"figures/{stage}_confusion", plots.confusion_matrix, counts, threshold, names,
                   f"{stage} confusion")  # fmt: skip
        precision, recall, _ = binned.precision_recall_curve(curve, grid)
        (_, fp), (fn, tp) = counts.tolist()
        point = (tp / (tp + fn), tp / (tp + fp)) if tp + fn and tp + fp else None
        log_figure(trainer, f"figures/{stage}_precision_recall", plots.precision_recall_curve, precision.numpy(),
                   recall.numpy(), float(binned.average_precision(fine, fine_grid)), point,
                   f"precision-recall ({stage})", float(target.mean()))  # fmt: skip
        bins = plots.calibration_bins(probs.numpy(), target.numpy())
        log_figure(trainer, f"figures/{stage}_reliability", plots.reliability_diagram, *bins,
                   plots.expected_calibration_error(*bins), f"reliability ({stage})", names)  # fmt: skip
        logger = tensorboard_logger(trainer)
        if logger is not None:  # TensorBoard's own PR curve, from the counts (add_pr_curve would bin the rows again)
            confmat = binned.binned_confmat(probs, target, torch.linspace(0, 1, TENSORBOARD_THRESHOLDS))
            tn, fp, fn, tp = confmat.double().reshape(-1, 4).T.numpy()  # ([[TN, FP], [FN, TP]] per threshold)
            precision, recall = tp / np.maximum(tp + fp, 1e-7), tp / np.maximum(tp + fn, 1e-7)  # (as its own)
            logger.experiment.add_pr_curve_raw(f"pr_curve/{stage}", tp, fp, tn, fn, precision, recall,
                                               trainer.global_step, num_thresholds=len(confmat))  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        self._flush()  # a checkpoint may be written before the epoch's end
        return {"losses": list(self.losses), "per_evaluation": self.per_evaluation}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.losses = list(state_dict["losses"])
        self.per_evaluation = bool(state_dict.get("per_evaluation", False))  # (absent from older checkpoints)


def sample_rows(datamodule: IndexedDataModule, rows: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``limit`` of ``rows``, evenly spaced, in order, as CPU tensors x (n, D) and y (n,)."""
    rows = rows[torch.linspace(0, len(rows) - 1, min(len(rows), limit)).round().long()].sort().values.cpu()
    return take_rows(datamodule.features, rows).float().cpu(), datamodule.labels[rows].view(-1).float().cpu()
