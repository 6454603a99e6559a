"""What a command prints when it ends: result rows, the fit summary with convergence and the coefficient table.

At the end of fit, the model's distance from the objective's minimum is measured once, exactly, over the training
split (:meth:`~logreg.model.LogisticRegression.objective_gradient`), and the coefficient table is written to
``RUN/coefficients.csv`` and to TensorBoard's text tab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
from lightning.pytorch import Trainer

from logreg.callbacks import EarlyStopping
from logreg.coefficients import CoefficientTable, coefficient_table, summary_lines, to_markdown, write_csv
from logreg.data import IndexedDataModule
from logreg.loggers import tensorboard_logger
from logreg.model import LogisticRegression

TOP_COEFFICIENTS = 8


def print_results(trainer: Trainer, results: list[dict[str, float]]) -> None:
    if trainer.is_global_zero and results:
        print(format_rows({k: v for k, v in sorted(results[0].items()) if "/" not in k}), flush=True)


def format_rows(rows: dict[str, Any]) -> str:
    """``key  value`` lines with the keys padded to one column."""
    width = max(map(len, rows), default=0)
    return "\n".join(f"{key:<{width}}  {_fmt(value)}" for key, value in rows.items())


def _fmt(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        value = value.item()
    return f"{value:.4f}" if isinstance(value, float) else str(value)


class Convergence(NamedTuple):
    """Whether fit reached the minimum (``max |gradient| < tol``), in the summary's words."""

    converged: bool
    line: str
    warn: bool  # ran out of epochs short of the minimum: worth a warning (early stopping was asked for)


def convergence(
    trainer: Trainer, model: LogisticRegression, datamodule: IndexedDataModule, separated: bool = False
) -> Convergence:
    """scikit-learn's criterion at the final weights: the largest absolute gradient of the objective against
    ``--model.tol``; a run that stopped short says why and what to change (``separated``: the unpenalised
    model separates the training rows, so there is no minimum to reach)."""
    gradient = float(model.objective_gradient(datamodule.features, datamodule.labels, datamodule.train_idx))
    tol, last_epoch = model.hparams.get("tol", 1e-6), trainer.current_epoch - 1
    stopper = next((cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping) and cb.stopped_epoch), None)
    if stopper is not None:
        why = f"{stopper.monitor} did not improve for {stopper.patience} epochs"
        return Convergence(False, f"stopped early at epoch {stopper.stopped_epoch} ({why}; max |grad| {gradient:.2g})",
                           False)  # fmt: skip
    if separated:  # a tiny gradient here only means saturated probabilities, not a minimum
        line = (f"no minimum (max |grad| {gradient:.2g}): the classes are separable, so without a penalty the "
                "weights grow without bound; add e.g. --model.l2 0.001")  # fmt: skip
        return Convergence(False, line, True)
    if gradient < tol:
        return Convergence(True, f"converged at epoch {last_epoch} (max |grad| {gradient:.1e} < tol {tol:g})", False)
    budget = f"max_epochs={trainer.max_epochs}" if trainer.current_epoch >= (trainer.max_epochs or 0) else (
        f"{trainer.current_epoch} epochs")  # fmt: skip
    line_search = bool(trainer.optimizers) and isinstance(trainer.optimizers[0], torch.optim.LBFGS)
    advice = "raise --trainer.max_epochs" + ("" if line_search else " or lower the learning rate")
    return Convergence(False, f"did not converge in {budget} (max |grad| {gradient:.2g}); {advice}", True)


def model_table(model: LogisticRegression, datamodule: IndexedDataModule) -> CoefficientTable:
    """The coefficient table of ``model`` on the data module's training split.

    Standard errors need an unpenalised maximum-likelihood fit: with a penalty or class weights the weights are
    not the likelihood's maximum and the Wald formulas do not hold, so those cells stay empty and say why.
    """
    unpenalised = not model.penalised and float(model.pos_weight) == 1.0 and model.hparams.get("loss") == "bce"
    weight, bias = model.linear.weight.detach(), model.linear.bias.detach()
    table = coefficient_table(weight, bias, datamodule.features, datamodule.labels, datamodule.feature_names,
                              mean=model.feature_mean, scale=model.feature_scale, rows=datamodule.train_idx,
                              inference=unpenalised)  # fmt: skip
    if not unpenalised:
        reason = "a penalty, class weights or the mse loss leave Wald inference undefined"
        table = CoefficientTable(table.rows, reason, table.separated)
    return table


def save_table(trainer: Trainer, table: CoefficientTable) -> Path | None:
    """``RUN/coefficients.csv`` and the table as markdown in TensorBoard's text tab; the CSV's path."""
    logger = tensorboard_logger(trainer)
    if logger is None:
        return None
    path = Path(logger.log_dir) / "coefficients.csv"
    write_csv(table, path)
    logger.experiment.add_text("coefficients", to_markdown(table), trainer.global_step)
    # Fit has ended and finalized the logger: the text above reopened its writer (a new event file and writer
    # thread), so close it again, or the event is lost and the thread outlives the run.
    logger.finalize("success")
    return path


def penalty_line(model: LogisticRegression, datamodule: Any) -> str:
    """The L2 penalty that trained the model, and where it came from when given as scikit-learn's ``C``."""
    line = f"l2 = {model.hparams.l2:.4g}"
    if model.hparams.get("C") is not None and isinstance(datamodule, IndexedDataModule):
        line += f" (C = {model.hparams.C:g} on {len(datamodule.train_idx)} training rows)"
    return line


def fit_summary(
    trainer: Trainer, model: LogisticRegression, converged: Convergence | None, table: CoefficientTable | None,
    table_path: Path | None,
) -> str:  # fmt: skip
    """Final metrics, optimizer, convergence, the best checkpoint, how to open TensorBoard, then the coefficients."""
    metrics = trainer.callback_metrics
    names = ("train_loss", "train_objective", "train_acc", "val_loss", "val_acc")
    rows: dict[str, Any] = {name: metrics[name] for name in names if name in metrics}
    datamodule = trainer.datamodule
    if isinstance(datamodule, IndexedDataModule) and datamodule.classes != ["0", "1"]:
        rows["labels"] = f"0 = {datamodule.classes[0]!r}, 1 = {datamodule.classes[1]!r}"
    if trainer.optimizers:  # which optimizer and lr trained the model: --model.lr applies only without --optimizer
        optimizer = trainer.optimizers[0]
        rows["optimizer"] = f"{type(optimizer).__name__}(lr={optimizer.param_groups[0]['lr']:g})"
    if model.hparams.get("l2"):
        rows["penalty"] = penalty_line(model, datamodule)
    if model.hparams.get("tune_threshold") or float(model.threshold) != 0.5:
        criterion = model.hparams.get("tune_threshold")
        tuned = f" (tuned for {criterion} on validation)" if criterion else ""
        rows["threshold"] = f"{float(model.threshold):.4g}{tuned}"
    if converged is not None:
        rows["convergence"] = converged.line
    weight, bias = model.coefficients()
    if len(weight) == 1:  # the tutorial's view: one weight, one bias and where p = 0.5
        rows |= {"weight": float(weight[0]), "bias": bias, "decision boundary": model.decision_boundary()}
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.best_model_path:
        rows["best checkpoint"] = checkpoint.best_model_path
    if table_path is not None:  # (the summary's weights are the final ones; fit's test below uses the best checkpoint)
        rows["coefficients"] = f"{table_path} (final weights)"
    if trainer.logger is not None and trainer.logger.log_dir:
        rows["tensorboard"] = f"tensorboard --logdir {Path(trainer.logger.log_dir).parent}"
    lines = [format_rows(rows)]
    if table is not None:
        lines += ["", *summary_lines(table, top=TOP_COEFFICIENTS)]
    return "\n".join(lines)
