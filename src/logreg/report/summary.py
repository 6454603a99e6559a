"""What a command prints when it ends: result rows, the fit summary with convergence, and the coefficient table
(also ``RUN/coefficients.csv`` and TensorBoard's text tab), of the final weights unless a ``tested`` row says not."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import torch
from lightning.pytorch import Trainer

from logreg.data.indexed import IndexedDataModule
from logreg.data.threshold import ThresholdDataModule
from logreg.model.logistic import LogisticRegression, TrainingFit, logit
from logreg.model.newton import Newton
from logreg.report import coefficients
from logreg.report.coefficients import CoefficientTable
from logreg.training import EarlyStopping, tensorboard_logger

TOP_COEFFICIENTS = 8


def print_results(trainer: Trainer, results: list[dict[str, float]]) -> None:
    if trainer.is_global_zero and results:
        print(format_rows({k: v for k, v in sorted(results[0].items()) if "/" not in k}), flush=True)


def format_rows(rows: dict[str, Any]) -> str:
    """``key  value`` lines with the keys padded to one column, floats with 4 decimals."""
    width, lines = max(map(len, rows), default=0), []
    for key, value in rows.items():
        value = value.item() if isinstance(value, torch.Tensor) else value
        lines.append(f"{key:<{width}}  {value:.4f}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    return "\n".join(lines)


class Convergence(NamedTuple):
    """Whether fit reached the minimum (``max |gradient| < tol``), in the summary's words."""

    line: str
    warn: bool  # stopped short of the minimum where a change would help: worth a warning


def convergence(trainer: Trainer, model: LogisticRegression, datamodule: IndexedDataModule, separated: bool = False,
                fit: TrainingFit | None = None) -> Convergence:  # fmt: skip
    """scikit-learn's criterion at the final weights (max |gradient| < ``--model.tol``), or why the fit stopped short
    and what to change (``separated``: no minimum exists). ``fit``: the final weights' pass, when the caller has it."""
    fit = fit or model.training_fit(datamodule.features, datamodule.labels, datamodule.train_idx)
    gradient = float(fit.gradient)
    tol, last_epoch = model.hparams.get("tol", 1e-6), trainer.current_epoch - 1
    stopper = next((cb for cb in trainer.callbacks if isinstance(cb, EarlyStopping) and cb.stopped_epoch), None)
    if stopper is not None:
        why = f"{stopper.monitor} did not improve for {stopper.patience} epochs"
        return Convergence(f"stopped early at epoch {stopper.stopped_epoch} ({why}; max |grad| {gradient:.2g})", False)
    tutorial = isinstance(datamodule, ThresholdDataModule) and not datamodule.hparams.get("label_noise")
    if separated and tutorial:  # separable by construction: expected, nothing to change
        return Convergence(f"no minimum, as expected: the tutorial's data is separable by design, so the unpenalised "
                           f"weights grow with every epoch (max |grad| {gradient:.2g} after {trainer.current_epoch} "
                           "epochs)", False)  # fmt: skip
    if separated:  # a tiny gradient here only means saturated probabilities, not a minimum
        return Convergence(f"no minimum (max |grad| {gradient:.2g}): the classes are separable, so without a penalty "
                           "the weights grow without bound; add e.g. --model.l2 0.001", True)  # fmt: skip
    if gradient < tol:
        return Convergence(f"converged at epoch {last_epoch} (max |grad| {gradient:.1e} < tol {tol:g})", False)
    limit = "max_steps" if 0 <= trainer.max_steps <= trainer.global_step else "max_epochs"  # the one that stopped it
    budget = f"{limit}={getattr(trainer, limit)}" if limit == "max_steps" or trainer.current_epoch >= (
        trainer.max_epochs or 0) else f"{trainer.current_epoch} epochs"  # fmt: skip
    no_lr = bool(trainer.optimizers) and isinstance(trainer.optimizers[0], torch.optim.LBFGS | Newton)
    advice = f"raise --trainer.{limit}" + ("" if no_lr else " or lower the learning rate")
    return Convergence(f"did not converge in {budget} (max |grad| {gradient:.2g}); {advice}", True)


def model_table(model: LogisticRegression, datamodule: IndexedDataModule, fit_data: bool = True) -> CoefficientTable:
    """The coefficient table of ``model`` on the training split (Newton's last pass where it stopped there); standard
    errors only for an unpenalised, unweighted maximum-likelihood fit (else the reason). Not ``fit_data`` (other rows
    than the fit's): the weights alone, as the fit's data would give other stds and standard errors than these rows."""
    reason = no_inference_reason(model)
    if not fit_data:
        reason = f"{reason}; and {OTHER_DATA}" if reason else OTHER_DATA
    weight, bias = model.linear.weight.detach(), model.linear.bias.detach()
    here = model.final_pass_here()
    names, mean, scale = datamodule.feature_names, model.feature_mean, model.feature_scale
    standardised = bool((mean != 0).any() or (scale != 1).any())  # then the features' std is the scale: no pass
    if not fit_data:
        table = coefficients.information_table(weight, bias, names, mean, scale, None, False, False)
        return CoefficientTable(table.rows if standardised else without_std(table.rows), reason)
    if standardised and (here is not None or reason is not None):  # (a pass for Wald inference, where it applies)
        information, separated = (None, False) if here is None else (here.information, here.separated)
        table = coefficients.information_table(weight, bias, names, mean, scale, information, separated,
                                               reason is None)  # fmt: skip
    else:
        model.passes += 1
        table = coefficients.coefficient_table(weight, bias, datamodule.features, datamodule.labels, names, mean=mean,
                                               scale=scale, rows=datamodule.train_idx,
                                               inference=reason is None, cut=logit(float(model.threshold)),
                                               keep=lambda total, center: model.keep_table_pass(
                                                   total, center, len(datamodule.train_idx)))  # fmt: skip
    return table if reason is None else CoefficientTable(table.rows, reason, table.separated)


OTHER_DATA = (
    "these are not the rows the model was fitted on, so the table shows its weights only (the fit's table, "
    "with stds and standard errors, is the run's coefficients.csv)"
)


def without_std(rows: list[coefficients.CoefficientRow]) -> list[coefficients.CoefficientRow]:
    """``rows`` without std_weight (it needs the fit's feature stds), the features ordered by ``|weight|`` instead."""
    kept = [row._replace(std_weight=None) for row in rows]  # (NamedTuple's documented _replace: public)
    return kept[:1] + sorted(kept[1:], key=lambda row: -abs(row.weight) if math.isfinite(row.weight) else math.inf)


def no_inference_reason(model: LogisticRegression) -> str | None:
    """Why Wald standard errors do not apply (a penalty, class weights, mse) and the flags that give them, or None."""
    hparams, found = model.hparams, []
    if hparams.get("l2"):  # (a checkpoint keeps C null: l2 is then the value to name)
        penalty = f"C = {hparams.C:g}" if hparams.get("C") is not None else f"l2 = {hparams.l2:.4g}"
        found.append((f"a penalty ({penalty})", "--model.C inf (or --model.l2 0)"))
    if hparams.get("l1"):
        found.append((f"{'L1' if found else 'an L1'} penalty (l1 = {hparams.l1:.4g})", "--model.l1 0"))
    if float(model.pos_weight) != 1.0:
        found.append(("class weights (pos_weight)", "--model.pos_weight null"))
    if hparams.get("loss", "bce") != "bce":
        found.append(("the mse loss", "--model.loss bce"))
    if not found:
        return None
    causes, flags = zip(*found, strict=True)
    return (f"{' and '.join(causes)} {'leaves' if len(causes) == 1 else 'leave'} Wald inference undefined; "
            f"fit with {' '.join(flags)} for them")  # fmt: skip


def save_table(trainer: Trainer, table: CoefficientTable, run: Path | None = None) -> Path | None:
    """Writes ``RUN/coefficients.csv`` (``run``: without a TensorBoard logger) and TensorBoard's text tab; the path."""
    logger = tensorboard_logger(trainer)
    if logger is None and run is None:
        return None
    path = Path(logger.log_dir if logger is not None else run) / "coefficients.csv"
    coefficients.write_csv(table, path)
    if logger is not None:
        logger.experiment.add_text("coefficients", coefficients.to_markdown(table), trainer.global_step)
        logger.finalize("success")  # fit finalized it: the text reopened its writer, which must close again
    return path


def penalty_line(model: LogisticRegression, datamodule: Any) -> str:
    """The penalty that trained the model: ``none``, or its ``l2`` (and the ``C`` it came from) and ``l1``."""
    hparams, parts, C = model.hparams, [], model.hparams.get("C")
    if hparams.get("l2"):
        parts.append(f"l2 = {hparams.l2:.4g}")
        if C is not None and isinstance(datamodule, IndexedDataModule):
            parts[-1] += f" (C = {C:g} on {len(datamodule.train_idx)} training rows)"
    if hparams.get("l1"):
        parts.append(f"l1 = {hparams.l1:.4g}")
    return ", ".join(parts) or ("none (C = inf)" if math.inf == C else "none")


class Tested(NamedTuple):
    """Which weights fit's test evaluates (``ckpt_path`` "best", or None: the final weights), in the summary's words."""

    ckpt_path: str | None
    line: str


def weights_to_test(trainer: Trainer) -> Tested:
    """The best checkpoint, as Lightning's ``ckpt_path="best"``; but the final weights for a full-batch fit (its
    answer) or without a best checkpoint."""
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


def fit_summary(trainer: Trainer, model: LogisticRegression, converged: Convergence | None,
                table: CoefficientTable | None, table_path: Path | None, fit: TrainingFit | None = None,
                tested: Tested | None = None) -> str:  # fmt: skip
    """Final metrics, optimizer, passes, convergence, checkpoint and TensorBoard rows, then the coefficients. ``fit``:
    the final weights on the training rows (else the logged ``train_*``); ``tested``: what the test evaluates."""
    values = dict(trainer.callback_metrics)
    if fit is not None:  # the final weights' own, replacing the epoch's running values
        values.update(train_loss=fit.loss, train_acc=fit.accuracy)
        values.update({"train_objective": fit.objective} if model.penalised else {})
    names = ("train_loss", "train_objective", "train_acc", "val_loss", "val_acc")
    rows: dict[str, Any] = {name: values[name] for name in names if name in values}
    datamodule, checkpoint, precision = trainer.datamodule, trainer.checkpoint_callback, trainer.precision
    if isinstance(datamodule, IndexedDataModule) and datamodule.classes != ["0", "1"]:
        rows["labels"] = f"0 = {datamodule.classes[0]!r}, 1 = {datamodule.classes[1]!r}"
    if trainer.optimizers:  # which optimizer and lr trained the model: --model.lr applies only without --optimizer
        optimizer = trainer.optimizers[0]  # (Newton's lr is the fraction of its last step, not a setting)
        rows["optimizer"] = "Newton" if isinstance(optimizer, Newton) else (
            f"{type(optimizer).__name__}(lr={optimizer.param_groups[0]['lr']:g})")  # fmt: skip
    if trainer.num_training_batches == 1 and model.passes:  # full batch: what the fit cost, in reads of the rows
        rows["passes"] = f"{model.passes} over the training rows (the solver's and this summary's)"
    if half_precision(trainer):  # validation ran in it; the train rows above and the test are computed wider
        rows["precision"] = f"{precision} (val_* in {precision}; train_* in float64)"
    rows["penalty"] = penalty_line(model, datamodule)
    threshold, criterion = float(model.threshold), model.hparams.get("tune_threshold")
    if criterion or threshold != 0.5:
        rows["threshold"] = f"{threshold:.4g}" + (f" (tuned for {criterion} on validation)" if criterion else "")
    if converged is not None:
        rows["convergence"] = converged.line
    weight, bias = model.coefficients()
    if len(weight) == 1:  # the tutorial's view: one weight, one bias and where the decision changes
        where = "" if threshold == 0.5 else f" (the x where p = the threshold {threshold:.4g})"
        rows |= {"weight": float(weight[0]), "bias": bias}
        rows["decision boundary"] = f"{model.decision_boundary():.4f}{where}"
    if checkpoint is not None and checkpoint.best_model_path:
        rows["best checkpoint"] = checkpoint.best_model_path
    if table_path is not None:
        rows["coefficients"] = f"{table_path} (final weights)"
    if trainer.logger is not None and trainer.logger.log_dir:
        rows["tensorboard"] = f"tensorboard --logdir {Path(trainer.logger.log_dir).parent}"
    if tested is not None:
        wider = f"; in float32 (trained in {precision})" if half_precision(trainer) else ""
        rows["tested"] = tested.line + wider
    table_lines = ["", *coefficients.summary_lines(table, top=TOP_COEFFICIENTS)] if table is not None else []
    return "\n".join([format_rows(rows), *table_lines])
