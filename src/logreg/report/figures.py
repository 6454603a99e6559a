"""The tutorial's figures in TensorBoard: :class:`TrainingFigures` draws them when fit and test end."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn

from logreg.data.indexed import IndexedDataModule, one_thread, take_rows
from logreg.model import binned
from logreg.model.logistic import CURVE_THRESHOLDS
from logreg.model.metrics import EvaluationTotals
from logreg.report import plots
from logreg.training import tensorboard_logger

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_POINTS_DRAWN = 2000
MAX_ROWS_SCORED = 100_000


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
        self._test_sums: tuple[torch.Tensor, ...] | None = None  # of the last test pass (on_test_epoch_end)

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

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Keep the test pass's sums of every rank (a collective under DDP), which the model resets after this hook:
        the test figures are of every row the test scored, at no pass of their own."""
        totals = getattr(pl_module, "test_totals", None)
        if isinstance(totals, EvaluationTotals):
            with totals.sync_context():
                self._test_sums = tuple(s.clone() for s in (totals.histograms, totals.decided, totals.calibration))

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._log_model_figures(trainer, pl_module, "test")
        self._test_sums = None

    def _log_model_figures(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """With one feature, the data and the fitted sigmoid (training rows at fit's end, test rows after the test);
        the figures of :func:`log_score_figures` for ``stage``: at fit's end of (at most ``MAX_ROWS_SCORED``)
        validation rows scored here, after the test of the test pass's sums."""
        datamodule, sums = trainer.datamodule, self._test_sums if stage == "test" else None
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
        if stage == "val" and len(datamodule.val_idx):
            # one thread, as the evaluation steps (torch's sort of these rows: 0.15 s on 2 busy threads, 1.5 ms on one)
            with one_thread(), torch.no_grad():
                x, target = sample_rows(datamodule, datamodule.val_idx, MAX_ROWS_SCORED)
                # in chunks: a float64 model's copy of 100,000 rows would be 25 MiB
                probs = torch.cat([pl_module(part.to(pl_module.device, pl_module.dtype)).float().view(-1).cpu()
                                   for part in x.split(16384)])  # fmt: skip
                totals = EvaluationTotals(stage, CURVE_THRESHOLDS)
                totals.update(probs, target, torch.zeros(()), threshold)
            sums = (totals.histograms, totals.decided, totals.calibration)
        if sums is not None and sums[0].sum() > 0:
            log_score_figures(trainer, stage, *(part.cpu() for part in sums), threshold, names)

    def state_dict(self) -> dict[str, Any]:
        self._flush()  # a checkpoint may be written before the epoch's end
        return {"losses": list(self.losses), "per_evaluation": self.per_evaluation}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.losses = list(state_dict["losses"])
        self.per_evaluation = bool(state_dict.get("per_evaluation", False))  # (absent from older checkpoints)


def log_score_figures(trainer: Trainer, stage: str, histograms: torch.Tensor, decided: torch.Tensor,
                      calibration: torch.Tensor, threshold: float, names: Sequence[str]) -> None:  # fmt: skip
    """ROC, probabilities, confusion, precision-recall (also TensorBoard's PR curve) and reliability of ``stage``'s
    scored rows from :class:`~logreg.model.metrics.EvaluationTotals`' sums (each class's histogram over the thresholds,
    the decisions ``p > threshold``: predicted 1, of them right; the calibration bins), as the metrics logged."""
    thresholds = torch.linspace(0, 1, CURVE_THRESHOLDS)
    confmat = binned.confmat_from_histograms(histograms)  # (T, 2, 2) [[TN, FP], [FN, TP]] of p >= each threshold
    fpr, tpr, _ = binned.roc(confmat, thresholds)
    log_figure(trainer, f"figures/{stage}_roc", plots.roc_curve, fpr.numpy(), tpr.numpy(),
               float(binned.auroc(confmat, thresholds)), f"ROC ({stage})")  # fmt: skip
    per_bin = histograms[:, 1:-1].reshape(2, plots.HISTOGRAM_BINS, -1).sum(-1)  # rows in [t_k, t_k+1) per bin
    per_bin[:, -1] += histograms[:, -1]  # p = 1 in the last bin, closed as NumPy's
    log_figure(trainer, f"figures/{stage}_probabilities", plots.class_histogram, per_bin.numpy(),
               f"predicted p(y = {names[1]}), {stage} rows", names)  # fmt: skip
    (negatives, positives), (predicted, tp) = histograms.sum(-1).tolist(), decided.tolist()
    fp, fn = predicted - tp, positives - tp
    counts = np.array([[negatives - fp, fp], [fn, tp]])
    log_figure(trainer, f"figures/{stage}_confusion", plots.confusion_matrix, counts, threshold, names,
               f"{stage} confusion")  # fmt: skip
    precision, recall, _ = binned.precision_recall_curve(confmat, thresholds)
    point = (tp / (tp + fn), tp / (tp + fp)) if tp + fn and tp + fp else None
    log_figure(trainer, f"figures/{stage}_precision_recall", plots.precision_recall_curve, precision.numpy(),
               recall.numpy(), float(binned.average_precision(confmat, thresholds)), point,
               f"precision-recall ({stage})", positives / (negatives + positives))  # fmt: skip
    log_figure(trainer, f"figures/{stage}_reliability", plots.reliability_diagram,
               *plots.calibration_means(*calibration.numpy()), float(binned.calibration_error(*calibration)),
               f"reliability ({stage})", names)  # fmt: skip
    logger = tensorboard_logger(trainer)
    if logger is not None:  # TensorBoard's own PR curve, from the counts (add_pr_curve would bin the rows again)
        tn, fp, fn, tp = confmat.double().reshape(-1, 4).T.numpy()  # ([[TN, FP], [FN, TP]] per threshold)
        precision, recall = tp / np.maximum(tp + fp, 1e-7), tp / np.maximum(tp + fn, 1e-7)  # (as its own)
        logger.experiment.add_pr_curve_raw(f"pr_curve/{stage}", tp, fp, tn, fn, precision, recall,
                                           trainer.global_step, num_thresholds=len(confmat))  # fmt: skip


def sample_rows(datamodule: IndexedDataModule, rows: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``limit`` of ``rows``, evenly spaced, in order, as CPU tensors x (n, D) and y (n,)."""
    rows = rows[torch.linspace(0, len(rows) - 1, min(len(rows), limit)).round().long()].sort().values.cpu()
    return take_rows(datamodule.features, rows).float().cpu(), datamodule.labels[rows].view(-1).float().cpu()
