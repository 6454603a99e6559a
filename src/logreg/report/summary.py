"""What a command prints when it ends: result rows, the fit summary with convergence, and the coefficient table
(``RUN/coefficients.csv`` and TensorBoard's text tab), all of the final weights unless a ``tested`` row says
otherwise."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import torch
from lightning.pytorch import Trainer

from logreg.data.indexed import IndexedDataModule
from logreg.data.threshold import ThresholdDataModule
from logreg.model.logistic import LogisticRegression, TrainingFit
from logreg.model.newton import Newton
from logreg.report.coefficients import (
    CoefficientTable,
    coefficient_table,
    information_table,
    summary_lines,
    to_markdown,
    write_csv,
)
from logreg.training import EarlyStopping, tensorboard_logger

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
    trainer: Trainer,
    model: LogisticRegression,
    datamodule: IndexedDataModule,
    separated: bool = False,
    fit: TrainingFit | None = None,
) -> Convergence:
    """scikit-learn's criterion at the final weights (max |gradient| < ``--model.tol``), or why the fit stopped short
    and what to change (``separated``: no minimum exists). ``fit``: the final weights' pass, when the caller has it."""
    fit = fit or model.training_fit(datamodule.features, datamodule.labels, datamodule.train_idx)
    gradient = float(fit.gradient)
    tol, last_epoch = model.hparams.get("tol", 1e-6), trainer.current_epoch - 1
    stopper = next((cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping) and cb.stopped_epoch), None)
    if stopper is not None:
        why = f"{stopper.monitor} did not improve for {stopper.patience} epochs"
        return Convergence(False, f"stopped early at epoch {stopper.stopped_epoch} ({why}; max |grad| {gradient:.2g})",
                           False)  # fmt: skip
    if separated and separable_by_design(datamodule):  # the tutorial's own data: expected, nothing to change
        line = (f"no minimum, as expected: the tutorial's data is separable by design, so the unpenalised weights "
                f"grow with every epoch (max |grad| {gradient:.2g} after {trainer.current_epoch} epochs)")  # fmt: skip
        return Convergence(False, line, False)
    if separated:  # a tiny gradient here only means saturated probabilities, not a minimum
        line = (f"no minimum (max |grad| {gradient:.2g}): the classes are separable, so without a penalty the "
                "weights grow without bound; add e.g. --model.l2 0.001")  # fmt: skip
        return Convergence(False, line, True)
    if gradient < tol:
        return Convergence(True, f"converged at epoch {last_epoch} (max |grad| {gradient:.1e} < tol {tol:g})", False)
    budget = f"max_epochs={trainer.max_epochs}" if trainer.current_epoch >= (trainer.max_epochs or 0) else (
        f"{trainer.current_epoch} epochs")  # fmt: skip
    no_lr = bool(trainer.optimizers) and isinstance(trainer.optimizers[0], torch.optim.LBFGS | Newton)
    advice = "raise --trainer.max_epochs" + ("" if no_lr else " or lower the learning rate")
    return Convergence(False, f"did not converge in {budget} (max |grad| {gradient:.2g}); {advice}", True)


def separable_by_design(datamodule: IndexedDataModule) -> bool:
    """The tutorial's generated data without label noise: separable by construction (no warning)."""
    return isinstance(datamodule, ThresholdDataModule) and not datamodule.hparams.get("label_noise")


def model_table(model: LogisticRegression, datamodule: IndexedDataModule) -> CoefficientTable:
    """The coefficient table of ``model`` on the training split (Newton's last pass where it stopped there); standard
    errors only for an unpenalised, unweighted maximum-likelihood fit (else the reason)."""
    reason = no_inference_reason(model)
    weight, bias = model.linear.weight.detach(), model.linear.bias.detach()
    here = model.final_pass_here()
    if here is not None and bool((model.feature_mean != 0).any() or (model.feature_scale != 1).any()):
        table = information_table(weight, bias, datamodule.feature_names, model.feature_mean, model.feature_scale,
                                  here.information, here.separated, reason is None)  # fmt: skip
        return table if reason is None else CoefficientTable(table.rows, reason, table.separated)
    model.passes += 1
    table = coefficient_table(weight, bias, datamodule.features, datamodule.labels, datamodule.feature_names,
                              mean=model.feature_mean, scale=model.feature_scale, rows=datamodule.train_idx,
                              inference=reason is None)  # fmt: skip
    if reason is not None:
        table = CoefficientTable(table.rows, reason, table.separated)
    return table


def no_inference_reason(model: LogisticRegression) -> str | None:
    """Why Wald standard errors do not apply (a penalty, class weights, mse) and the flags that give them, or None."""
    hparams = model.hparams
    causes, flags = [], []
    if hparams.get("l2"):
        given_as_C = hparams.get("C") is not None  # (a checkpoint keeps C null: l2 is then the flag to name)
        causes.append(f"a penalty (C = {hparams.C:g})" if given_as_C else f"a penalty (l2 = {hparams.l2:.4g})")
        flags.append("--model.C inf (or --model.l2 0)")  # either, as fit and a test of its checkpoint both say
    if hparams.get("l1"):
        causes.append(f"{'an L1' if not causes else 'L1'} penalty (l1 = {hparams.l1:.4g})")
        flags.append("--model.l1 0")
    if float(model.pos_weight) != 1.0:
        causes.append("class weights (pos_weight)")
        flags.append("--model.pos_weight null")
    if hparams.get("loss", "bce") != "bce":
        causes.append("the mse loss")
        flags.append("--model.loss bce")
    if not causes:
        return None
    return (f"{' and '.join(causes)} {'leaves' if len(causes) == 1 else 'leave'} Wald inference undefined; "
            f"fit with {' '.join(flags)} for them")  # fmt: skip


def save_table(trainer: Trainer, table: CoefficientTable, run: Path | None = None) -> Path | None:
    """``RUN/coefficients.csv`` and the markdown table in TensorBoard's text tab; the CSV's path. ``run``: the run's
    directory when it has no TensorBoard logger."""
    logger = tensorboard_logger(trainer)
    if logger is None and run is None:
        return None
    path = Path(logger.log_dir if logger is not None else run) / "coefficients.csv"
    write_csv(table, path)
    if logger is None:
        return path
    logger.experiment.add_text("coefficients", to_markdown(table), trainer.global_step)
    # Fit has ended and finalized the logger: the text above reopened its writer (a new event file and writer
    # thread), so close it again, or the event is lost and the thread outlives the run.
    logger.finalize("success")
    return path


def penalty_line(model: LogisticRegression, datamodule: Any) -> str:
    """The penalty that trained the model: ``none``, or its ``l2`` (and the ``C`` it came from) and ``l1``."""
    hparams, parts = model.hparams, []
    C = hparams.get("C")
    if hparams.get("l2"):
        parts.append(f"l2 = {hparams.l2:.4g}")
        if C is not None and isinstance(datamodule, IndexedDataModule):
            parts[-1] += f" (C = {C:g} on {len(datamodule.train_idx)} training rows)"
    if hparams.get("l1"):
        parts.append(f"l1 = {hparams.l1:.4g}")
    return ", ".join(parts) or ("none (C = inf)" if math.inf == C else "none")


class Tested(NamedTuple):
    """Which weights fit's test evaluates, and how the summary says so."""

    ckpt_path: str | None  # "best", or None: the final weights in memory
    line: str


def weights_to_test(trainer: Trainer) -> Tested:
    """The final weights for a full-batch fit (its answer; the best checkpoint by validation loss would be an earlier
    one) or without a best checkpoint; else the best checkpoint, as Lightning's ``ckpt_path="best"``."""
    checkpoint = trainer.checkpoint_callback
    best = checkpoint.best_model_path if checkpoint is not None else ""
    if best and trainer.num_training_batches != 1:
        return Tested("best", f"the best checkpoint (lowest {checkpoint.monitor}), not the final weights above")
    why = "full batch: the fit ends at its answer" if best else "checkpointing is off" if checkpoint is None else (
        "nothing was saved as the best")  # fmt: skip
    return Tested(None, f"the final weights, as every line above ({why})")


def half_precision(trainer: Trainer) -> bool:
    """Whether the trainer computes in 16-bit floats (``16-true``, ``bf16-true`` or the ``-mixed`` ones)."""
    return str(trainer.precision).startswith(("16", "bf16"))


def fit_summary(
    trainer: Trainer, model: LogisticRegression, converged: Convergence | None, table: CoefficientTable | None,
    table_path: Path | None, fit: TrainingFit | None = None, tested: Tested | None = None,
) -> str:  # fmt: skip
    """Final metrics, optimizer, passes, convergence, checkpoint and TensorBoard rows, then the coefficients. ``fit``:
    the final weights on the training rows (else the logged ``train_*``); ``tested``: what the test evaluates."""
    metrics = trainer.callback_metrics
    names = ("train_loss", "train_objective", "train_acc", "val_loss", "val_acc")
    rows: dict[str, Any] = {name: metrics[name] for name in names if name in metrics}
    if fit is not None:  # the final weights' own, replacing the epoch's running values
        rows.update(train_loss=fit.loss, train_acc=fit.accuracy)
        if model.penalised:
            rows["train_objective"] = fit.objective
        rows = {name: rows[name] for name in names if name in rows}  # (in the order of names)
    datamodule = trainer.datamodule
    if isinstance(datamodule, IndexedDataModule) and datamodule.classes != ["0", "1"]:
        rows["labels"] = f"0 = {datamodule.classes[0]!r}, 1 = {datamodule.classes[1]!r}"
    if trainer.optimizers:  # which optimizer and lr trained the model: --model.lr applies only without --optimizer
        optimizer = trainer.optimizers[0]
        newton = isinstance(optimizer, Newton)  # (its lr is the fraction of its last step, not a setting)
        rows["optimizer"] = (
            "Newton" if newton else f"{type(optimizer).__name__}(lr={optimizer.param_groups[0]['lr']:g})"
        )
    if trainer.num_training_batches == 1 and model.passes:  # full batch: what the fit cost, in reads of the rows
        rows["passes"] = f"{model.passes} over the training rows (the solver's and this summary's)"
    if half_precision(trainer):  # validation ran in it; the train rows above and the test are computed wider
        rows["precision"] = f"{trainer.precision} (val_* in {trainer.precision}; train_* in float64)"
    rows["penalty"] = penalty_line(model, datamodule)
    if model.hparams.get("tune_threshold") or float(model.threshold) != 0.5:
        criterion = model.hparams.get("tune_threshold")
        tuned = f" (tuned for {criterion} on validation)" if criterion else ""
        rows["threshold"] = f"{float(model.threshold):.4g}{tuned}"
    if converged is not None:
        rows["convergence"] = converged.line
    weight, bias = model.coefficients()
    if len(weight) == 1:  # the tutorial's view: one weight, one bias and where the decision changes
        threshold = float(model.threshold)
        where = "" if threshold == 0.5 else f" (the x where p = the threshold {threshold:.4g})"
        rows |= {"weight": float(weight[0]), "bias": bias}
        rows["decision boundary"] = f"{model.decision_boundary():.4f}{where}"
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.best_model_path:
        rows["best checkpoint"] = checkpoint.best_model_path
    if table_path is not None:
        rows["coefficients"] = f"{table_path} (final weights)"
    if trainer.logger is not None and trainer.logger.log_dir:
        rows["tensorboard"] = f"tensorboard --logdir {Path(trainer.logger.log_dir).parent}"
    if tested is not None:
        wider = f"; in float32 (trained in {trainer.precision})" if half_precision(trainer) else ""
        rows["tested"] = tested.line + wider
    lines = [format_rows(rows)]
    if table is not None:
        lines += ["", *summary_lines(table, top=TOP_COEFFICIENTS)]
    return "\n".join(lines)
