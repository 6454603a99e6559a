"""TensorBoard: every run claims its own version directory, and defines its entry in the HPARAMS tab."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from jsonargparse import Namespace
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams

# The scalars the HPARAMS tab compares runs by; the model logs both (best accuracy so far, and test accuracy).
HPARAM_METRICS = ("hp_metric", "hp/test_acc")


def claim_version(root: str | Path) -> int:
    """The next free ``version_N`` under ``root``, created with an atomic ``mkdir``.

    Lightning picks a version by listing the directory, so runs started at the same moment can pick the same
    one and overwrite each other's config and checkpoints. Here the first process to create the directory owns
    it and the others move on to the next number.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name.removeprefix("version_")) for p in root.glob("version_*") if p.name[8:].isdigit()]
    version = max(taken, default=-1) + 1
    while True:
        try:
            (root / f"version_{version}").mkdir()
            return version
        except FileExistsError:
            version += 1


class HparamsCallback(SaveConfigCallback):
    """Saves config.yaml (as LightningCLI does) and defines the run's HPARAMS entry in TensorBoard.

    The columns are each model argument, then data, optimizer and scheduler as one readable value each (class
    and the arguments changed from its defaults) and the seed; the metrics are :data:`HPARAM_METRICS`. Unlike
    ``logger.log_hyperparams(params, metrics)`` this writes no placeholder values for the metrics: the tab shows
    the last value each scalar gets when the run logs it.
    """

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if logger is None:
            return
        for summary in hparams(run_hparams(self.config), dict.fromkeys(HPARAM_METRICS, 0.0)):
            logger.experiment.file_writer.add_summary(summary)


def run_hparams(config: Namespace) -> dict[str, int | float | str | bool]:
    """The comparable settings of a run, flat and of TensorBoard's scalar types.

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
