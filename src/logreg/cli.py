"""``logreg fit|validate|test|predict``: a LightningCLI over the model and the data modules.

With no config at all, ``logreg fit`` runs the tutorial's experiment (seed 0, 50 epochs, SGD lr 2, batch 2)
on a stratified train/val/test split, logs to ``./lightning_logs/version_N``, prints a summary and tests the
best checkpoint. User mistakes end in one ``logreg: error: ...`` line and exit code 2, never a traceback
(set ``LOGREG_DEBUG=1`` to see one).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pickle
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from jsonargparse import ArgumentError, Namespace
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from logreg.callbacks import CSVPredictionWriter, TrainingFigures
from logreg.data import IndexedDataModule
from logreg.loggers import log_hparams_summary
from logreg.model import LogisticRegression

CHECKPOINT_KEYWORDS = {"last", "best", "hpc", "registry"}


def trainer_defaults() -> dict[str, Any]:
    """The Trainer's defaults for logreg (fresh callback objects for every CLI)."""
    return {
        "max_epochs": 50,
        "accelerator": "auto",
        "logger": {
            "class_path": "logreg.loggers.RunLogger",
            # hparams are logged once per run by RunConfigSaver (the whole config, hp_metric and test accuracy)
            "init_args": {"save_dir": ".", "name": "lightning_logs", "default_hp_metric": False, "log_graph": True},
        },
        # Validation runs the training step's own code; a two-batch sanity pass over a tiny split only produces
        # single-class metric warnings.
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,  # everything is logged per epoch; this only silences a warning about short epochs
        "enable_model_summary": False,  # two parameters need no table
        # Lightning's progress bar on a terminal; none in pipes, logs and CI, where it only spams redraws.
        "enable_progress_bar": sys.stderr.isatty(),
        # last.ckpt is rewritten after every epoch: the resume point. (Lightning >= 2.5 writes ModelCheckpoint's
        # own save_last only when the monitored metric improves, which would resume from a stale epoch.)
        "callbacks": [TrainingFigures(), ModelCheckpoint(filename="last", enable_version_counter=False)],
    }


def monitor_for(val_fraction: float) -> str:
    """The metric that picks the best checkpoint: validation loss, or training loss without a validation split."""
    return "val_loss" if val_fraction > 0 else "train_loss"


class RunConfigSaver(SaveConfigCallback):
    """Saves config.yaml (as LightningCLI does) and logs the run's settings as TensorBoard hyperparameters.

    Data, model, optimizer and seed become the HPARAMS tab's columns, with two metrics: ``hp_metric`` (best
    validation accuracy, or training accuracy without validation) and ``hp/test_acc``.
    """

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if isinstance(trainer.logger, TensorBoardLogger):
            log_hparams_summary(trainer.logger, run_hparams(self.config), ["hp_metric", "hp/test_acc"])


def run_hparams(config: Namespace) -> dict[str, Any]:
    """The comparable settings of a run: each model argument, then data, optimizer and scheduler as one readable
    value each (their class and the arguments changed from its defaults), and the seed.

    TensorBoard's HPARAMS table sorts columns by name and shows the first five unless asked for more, so the data
    module is one ``data`` column ahead of the ``model.*`` ones instead of a dozen ``data.*`` columns.
    """
    cfg = config.as_dict()
    params: dict[str, Any] = {f"model.{k}": v for k, v in (cfg.get("model") or {}).items()}
    params["data"] = described(cfg["data"])
    params["optimizer"] = described(cfg["optimizer"]) if cfg.get("optimizer") else "SGD(lr=model.lr)"
    if cfg.get("lr_scheduler"):
        params["lr_scheduler"] = described(cfg["lr_scheduler"])
    params["seed"] = cfg.get("seed_everything")
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}


def described(value: dict[str, Any]) -> str:
    """``Class(arg=value, ...)`` with only the arguments that differ from the class's defaults."""
    module, name = value["class_path"].rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()}
    changed = {k: v for k, v in (value.get("init_args") or {}).items() if k not in defaults or defaults[k] != v}
    return f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


class LogRegCLI(LightningCLI):
    """LightningCLI for logreg: the data's feature count linked into the model, the best and the last checkpoint,
    checkpoints checked before use, resumed runs continued in place, summaries printed, ``--predictions``."""

    _ckpt_hparams: dict[str, Any] | None = None  # hyperparameters of the --ckpt_path checkpoint, once checked

    def _parse_ckpt_path(self) -> None:
        """Read the checkpoint's hyperparameters, with ``weights_only=True`` and a one-line error for bad files."""
        ckpt_path = self.config.get(self.config.get("subcommand") or "", {}).get("ckpt_path")
        if ckpt_path and ckpt_path not in CHECKPOINT_KEYWORDS:
            self._ckpt_hparams = check_checkpoint(ckpt_path).get("hyper_parameters", {})
        super()._parse_ckpt_path()

    def before_instantiate_classes(self) -> None:
        if self.subcommand == "fit":
            self._resume_into_checkpoint_run()

    def _resume_into_checkpoint_run(self) -> None:
        """``fit --ckpt_path RUN/checkpoints/last.ckpt`` keeps logging into RUN: same TensorBoard run, same
        checkpoint directory (so "best" keeps its history), config.yaml rewritten with the resumed settings."""
        ckpt_path = self.config.fit.get("ckpt_path")
        logger = self.config.fit.trainer.get("logger")
        if not ckpt_path or ckpt_path in CHECKPOINT_KEYWORDS or not isinstance(logger, Namespace):
            return
        run = Path(ckpt_path).resolve().parent.parent
        if Path(ckpt_path).resolve().parent.name != "checkpoints" or not (run / "config.yaml").is_file():
            return
        logger.init_args.save_dir, logger.init_args.name = str(run.parent.parent), run.parent.name
        logger.init_args.version = run.name
        self.save_config_kwargs["overwrite"] = True

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        self._check_checkpoint_matches_data()  # before the Trainer prints anything
        return super().instantiate_trainer(**kwargs)

    def _check_checkpoint_matches_data(self) -> None:
        if self._ckpt_hparams is None:
            return
        trained, given = self._ckpt_hparams.get("n_inputs"), self.model.hparams.n_inputs
        if trained is not None and trained != given:
            ckpt_path = self.config[self.subcommand].ckpt_path
            raise ValueError(f"{ckpt_path}: the checkpoint's model takes {trained} features, the data has {given}")

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"data": {"class_path": "logreg.data.ThresholdDataModule"}})
        parser.link_arguments("data.n_features", "model.n_inputs", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {"checkpoint.filename": "best-epoch={epoch}-step={step}", "checkpoint.auto_insert_metric_name": False}
        )
        parser.link_arguments("data.val_fraction", "checkpoint.monitor", compute_fn=monitor_for, apply_on="instantiate")

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs: Any) -> LightningArgumentParser:
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        parser.set_defaults({"weights_only": True})  # checkpoints are data, never code: see check_checkpoint
        if subcommand in ("validate", "test"):
            parser.set_defaults({"verbose": False})  # logreg prints its own compact rows (after_test)
        if subcommand == "predict":
            parser.add_argument("--predictions", type=str | None, default=None, help="Write predictions to this CSV.")
            parser.add_argument("--overwrite", type=bool, default=False, help="Replace an existing --predictions file.")
        return parser

    def before_predict(self) -> None:
        path = self.config.predict.get("predictions")
        if path:
            writer = CSVPredictionWriter(path, overwrite=self.config.predict.get("overwrite", False))
            writer.check_target()
            self.trainer.callbacks.append(writer)

    def after_predict(self) -> None:
        path = self.config.predict.get("predictions")
        if self.trainer.is_global_zero:
            print(f"predictions written to {path}" if path else "pass --predictions FILE.csv to save the predictions")

    def after_fit(self) -> None:
        trainer, datamodule = self.trainer, self.datamodule
        if trainer.interrupted:
            return
        if trainer.is_global_zero:
            print(fit_summary(trainer, self.model), flush=True)
        if isinstance(datamodule, IndexedDataModule) and len(datamodule.test_idx):
            ckpt = "best" if trainer.checkpoint_callback and trainer.checkpoint_callback.best_model_path else None
            print_results(trainer, trainer.test(self.model, datamodule=datamodule, ckpt_path=ckpt, verbose=False))

    def test(self, **kwargs: Any) -> None:
        print_results(self.trainer, self.trainer.test(**kwargs))

    def validate(self, **kwargs: Any) -> None:
        print_results(self.trainer, self.trainer.validate(**kwargs))


def check_checkpoint(path: str) -> dict[str, Any]:
    """Load ``path`` with ``weights_only=True``, or fail with one line naming it: missing, unloadable, not a checkpoint.

    ``weights_only`` loading refuses any pickle that would import or call code, so a crafted file cannot run
    anything here; logreg's own checkpoints keep only tensors and plain values, and load this way.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint file not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        reason = f"it would load {found.group(1)}" if found else "it holds more than tensors and plain values"
        raise ValueError(f"{path}: refused to load, not a plain-weights checkpoint ({reason})") from None
    except Exception as err:
        raise ValueError(f"{path}: not a readable checkpoint ({type(err).__name__}: {one_line(err)})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


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


def fit_summary(trainer: Trainer, model: LogisticRegression) -> str:
    """Final metrics, learned parameters, the best checkpoint and how to open TensorBoard."""
    metrics = trainer.callback_metrics
    rows: dict[str, Any] = {
        name: metrics[name] for name in ("train_loss", "train_acc", "val_loss", "val_acc") if name in metrics
    }
    classes = getattr(trainer.datamodule, "classes", None)
    if classes and classes != ["0", "1"]:
        rows["labels"] = f"0 = {classes[0]!r}, 1 = {classes[1]!r}"
    weight, bias = model.coefficients()
    rows["weight"] = ", ".join(f"{w:.4f}" for w in weight.tolist()[:8]) + (" ..." if len(weight) > 8 else "")
    rows["bias"] = bias
    if len(weight) == 1:
        rows["decision boundary"] = model.decision_boundary()
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.best_model_path:
        rows["best checkpoint"] = checkpoint.best_model_path
    if trainer.logger is not None and trainer.logger.log_dir:
        rows["tensorboard"] = f"tensorboard --logdir {Path(trainer.logger.log_dir).parent}"
    return format_rows(rows)


def one_line(err: BaseException) -> str:
    """The first meaningful line of an error message, from the innermost user error that caused it."""
    while isinstance(err.__cause__, USER_ERRORS):
        err = err.__cause__
    text = str(err).strip() or type(err).__name__
    if isinstance(err, ArgumentError) and "Given value" in text:
        return _describe_bad_value(text)
    return " ".join(line.strip() for line in text.splitlines()[:2])


def _describe_bad_value(text: str) -> str:
    """Turn jsonargparse's multi-line type error into ``invalid value 'x' for key (expected int)``."""
    key = re.search(r'Parser key "([^"]+)"', text)
    name = key.group(1) if key else "an argument"
    nested = re.search(r"NestedArg\(key='([^']+)', val='([^']*)'\)", text)
    given = re.search(r"Given value: (.*)", text)
    if nested:
        name, value = f"{name}.{nested.group(1)}", nested.group(2)
    else:
        value = given.group(1).strip() if given else "?"
    if not nested and "Expected a path but" in text:
        return f"invalid value {value!r} for {name}: not a known class name or import path"
    expected = [t for t in re.findall(r"Expected a <class '([^']+)'>", text) if t != "NoneType"]
    hint = f" (expected {' or '.join(expected)})" if expected else ""
    return f"invalid value {value!r} for {name}{hint}"


USER_ERRORS = (
    ArgumentError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
)


def quiet_known_noise() -> None:
    """Silence messages that say nothing to a logreg user: the seed (it is in config.yaml), Lightning's
    "GPU available"/tips/restoring info lines (the summary says what matters) and known harmless warnings."""
    warnings.filterwarnings("ignore", message=r"Total length of .* across ranks is zero")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r"Couldn't infer the batch indices")  # predictions keep input order
    warnings.filterwarnings("ignore", message=r".*multiple `ModelCheckpoint` callbacks")  # the first is "best"
    warnings.filterwarnings("ignore", message=r".*configure_optimizers` will be overridden by")  # --optimizer's job
    warnings.filterwarnings("ignore", message=r"Detected pickle protocol")  # hostile files are refused anyway
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from")  # test/predict never checkpoint
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)


def build_cli(args: list[str] | None = None) -> LogRegCLI:
    """Parse ``args`` (``sys.argv`` when None), build model, data and trainer, and run the subcommand."""
    return LogRegCLI(
        LogisticRegression,
        IndexedDataModule,
        subclass_mode_data=True,
        trainer_defaults=trainer_defaults(),
        save_config_callback=RunConfigSaver,
        seed_everything_default=0,
        parser_kwargs={"exit_on_error": False, "allow_abbrev": False},
        args=args,
    )


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``logreg`` command."""
    quiet_known_noise()
    try:
        build_cli(args)
    except USER_ERRORS as err:
        if os.environ.get("LOGREG_DEBUG"):
            raise
        if rank_zero_only.rank == 0:  # under DDP every process fails alike; one message is enough
            print(f"logreg: error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)


__all__ = ["LogRegCLI", "build_cli", "main"]
