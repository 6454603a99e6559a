"""Around Lightning's training: early stopping off by default, one validation of a full-batch fit, a clean stop on
SIGTERM and Ctrl-C, the run directory each run claims, its TensorBoard logger, and quiet logs."""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer, callbacks
from lightning.pytorch.callbacks import ModelCheckpoint, Timer
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from logreg.data.indexed import IndexedDataModule


class EarlyStopping(callbacks.EarlyStopping):
    """Lightning's ``EarlyStopping``, off unless ``patience`` is given (Lightning's has no "off", and the flag group
    is always there); its state is in every checkpoint, so a resumed run stops where a straight one would."""

    def __init__(
        self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int | None = None, verbose: bool = False
    ) -> None:
        if patience is not None and patience < 1:
            raise ValueError(f"early_stopping.patience must be >= 1 (or null: off), got {patience}")
        if not min_delta >= 0:
            raise ValueError(f"early_stopping.min_delta must be >= 0, got {min_delta}")
        super().__init__(monitor=monitor, min_delta=min_delta, patience=patience or 0, verbose=verbose, mode="min")
        self.enabled = patience is not None

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.enabled:
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.enabled:
            super().on_validation_end(trainer, pl_module)


class FinalValidation(Callback):
    """A full-batch fit (``--data.batch_size 0``) validates once, on its final weights, in the epoch it stops in
    (converged, ``max_epochs``, ``max_steps``): a validation costs more than a solver step. Every epoch with
    ``--validation.every_epoch true``, early stopping or ``--trainer.max_time``; a ``check_val_every_n_epoch`` above 1
    is kept. Lightning validates when ``(epoch + 1) % trainer.check_val_every_n_epoch == 0``, read after the batch:
    this sets it there, and back to 1 before the checkpoints (they save at an epoch's end only while it is 1). The
    decision is the same on every DDP rank (convergence is of all-reduced sums)."""

    def __init__(self, every_epoch: bool = False) -> None:
        self.every_epoch = every_epoch
        self.active = False

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        data = trainer.datamodule
        stopping = [cb for cb in trainer.callbacks if isinstance(cb, callbacks.EarlyStopping | Timer)]
        asked = self.every_epoch or any(getattr(cb, "enabled", True) for cb in stopping)  # (logreg's: maybe off)
        full_batch = isinstance(data, IndexedDataModule) and not data.batch_size
        self.active = full_batch and not asked and trainer.check_val_every_n_epoch == 1

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        if self.active:
            epochs, steps = trainer.max_epochs, trainer.max_steps
            final = trainer.should_stop or (epochs not in (None, -1) and trainer.current_epoch + 1 >= epochs) or (
                steps != -1 and trainer.global_step >= steps)  # fmt: skip
            trainer.check_val_every_n_epoch = 1 if final else trainer.current_epoch + 2

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.active:
            trainer.check_val_every_n_epoch = 1

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self.on_train_epoch_end(trainer, pl_module)


class GracefulStop(Callback):
    """Stops fit cleanly on SIGTERM or a first Ctrl-C (sent on as SIGTERM; a second interrupts at once), writing
    ``last.ckpt`` where it stopped. Not ``OnExceptionCheckpoint``: that saves on a crash too, and mid-validation."""

    def __init__(self, last: ModelCheckpoint) -> None:
        self.last = last  # the checkpoint callback that writes last.ckpt after each epoch
        self.signal_name: str | None = None  # the signal that stopped the run
        self._previous_handler: Any = None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # (not on_fit_start: Lightning records the handlers after it, and would put this one back at its teardown)
        self.signal_name = None
        if threading.current_thread() is threading.main_thread():  # Python runs handlers in the main thread only
            self._previous_handler = signal.signal(signal.SIGINT, self._on_ctrl_c)

    def _on_ctrl_c(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = "SIGINT"
        signal.raise_signal(signal.SIGTERM)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self.teardown(trainer, pl_module, "fit")
        if not isinstance(exception, SIGTERMException):
            self.signal_name = self.signal_name or ("SIGINT" if isinstance(exception, KeyboardInterrupt) else None)
            return
        self.signal_name = self.signal_name or "SIGTERM"
        # Not while validating: its partial metrics are not in checkpoints; last.ckpt stays at the epoch before.
        if self.last.dirpath and trainer.state.fn == "fit" and not trainer.validating:
            path = Path(self.last.dirpath) / f"{self.last.filename}{self.last.FILE_EXTENSION}"
            trainer.save_checkpoint(path, weights_only=False)  # all of it: the resume point

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None


def claim_version(root: str | Path) -> int:
    """The next free ``version_N`` under ``root``, created with an atomic ``mkdir`` (Lightning lists the directory,
    so runs started at once could share one)."""
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


def claim_name(root: str | Path, version: int | str) -> Path:
    """Create the run directory a logger's ``version`` names under ``root`` (``version_N`` for a number) with an
    atomic ``mkdir``, or refuse a name another run has taken."""
    if not str(version).strip():
        raise ValueError("--trainer.logger.version: an empty name; give a name, or leave it out for the next version_N")
    run = Path(root) / (f"version_{version}" if isinstance(version, int) else str(version))
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        run.mkdir()
    except FileExistsError:
        raise ValueError(
            f"--trainer.logger.version {version}: {run} already exists (another run's); choose another name, or "
            "leave it out for the next version_N"
        ) from None
    return run


def tensorboard_logger(trainer: Trainer) -> TensorBoardLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


NOISE = (  # warnings that say nothing to a logreg user
    r"Total length of .* across ranks is zero",
    r".*isinstance\(treespec, LeafSpec\)",
    r"Couldn't infer the batch indices",  # predictions keep input order
    r".*multiple `ModelCheckpoint` callbacks",  # the first is "best"
    r".*configure_optimizers` will be overridden by",  # --optimizer's job
    r"Detected pickle protocol",  # hostile files are refused anyway
    r".*does not have many workers which may be a bottleneck",  # batches are one gather each in the main process
    r".*could not find the monitored key",  # epochs FinalValidation skips (after a validation: Lightning's error)
)


def quiet_known_noise() -> None:
    """Silence :data:`NOISE`, the seed (in config.yaml), Lightning's info lines and "Received SIGTERM" (logreg's
    summary and stop line say what matters)."""
    for message in NOISE:
        warnings.filterwarnings("ignore", message=message)
    for name in ("fabric.utilities.seed", "pytorch.utilities.rank_zero", "pytorch.trainer.connectors.signal_connector"):
        logging.getLogger(f"lightning.{name}").setLevel(logging.WARNING)
