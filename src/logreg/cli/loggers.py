"""TensorBoard for the command line: each run's entry in the HPARAMS tab."""

from __future__ import annotations

import inspect
import os
import pydoc
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback

from logreg.training import tensorboard_logger

HPARAM_METRICS = ("hp_metric", "hp/test_acc")  # the HPARAMS tab compares runs by: best accuracy so far, test accuracy


class HparamsCallback(SaveConfigCallback):
    """Saves config.yaml (as LightningCLI does) and the run's entry in TensorBoard's HPARAMS tab: :func:`run_hparams`;
    ``hp_metric``, the best validation (else training) accuracy so far (kept in checkpoints), and ``hp/test_acc``."""

    best_accuracy: float | None = None

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        logger = tensorboard_logger(trainer)
        if logger is not None:
            from torch.utils.tensorboard.summary import hparams  # tensorboard: only for a run that logs to it

            for summary in hparams(run_hparams(self.config), dict.fromkeys(HPARAM_METRICS, 0.0)):
                event_writer(logger.experiment).add_summary(summary)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._best_so_far(trainer, "val_acc")

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:  # the last epoch's train_acc
        if sum(trainer.num_val_batches) == 0:
            self._best_so_far(trainer, "train_acc")

    on_train_end = on_train_epoch_start

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if "test_acc" in trainer.callback_metrics:
            self._log(trainer, "hp/test_acc", float(trainer.callback_metrics["test_acc"]))

    def _best_so_far(self, trainer: Trainer, metric: str) -> None:
        if metric in trainer.callback_metrics:
            accuracy = float(trainer.callback_metrics[metric])
            self.best_accuracy = accuracy if self.best_accuracy is None else max(self.best_accuracy, accuracy)
            self._log(trainer, "hp_metric", self.best_accuracy)

    @staticmethod
    def _log(trainer: Trainer, tag: str, value: float) -> None:
        logger = tensorboard_logger(trainer)
        if logger is not None:
            logger.log_metrics({tag: value}, step=trainer.global_step)

    def state_dict(self) -> dict[str, Any]:
        """With the directory the command ran in: a relative data path is found from there (see ``fit_directory``)."""
        return {"best_accuracy": self.best_accuracy, "fit_directory": os.getcwd()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_accuracy = state_dict.get("best_accuracy")


def event_writer(writer: Any) -> Any:
    """A ``SummaryWriter``'s writer of the run's own events file (``add_hparams`` would start another run);
    ``file_writer`` is undocumented: checked in tests/test_layouts.py."""
    return writer.file_writer


def run_hparams(config: Namespace) -> dict[str, int | float | str | bool]:
    """The comparable settings of a run, flat and of TensorBoard's types: each model argument, then data, optimizer,
    scheduler (each one ``Class(changed=...)`` column, sorted ahead of ``model.*``) and the seed."""
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
    cls = pydoc.locate(value["class_path"])
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()}
    changed = {k: v for k, v in (value.get("init_args") or {}).items() if k not in defaults or defaults[k] != v}
    return f"{cls.__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"
