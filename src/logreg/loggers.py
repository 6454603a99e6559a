"""TensorBoard logging: a logger safe for runs started at once in one directory, and the HPARAMS entry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.logger import _flatten_dict
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only


class RunLogger(TensorBoardLogger):
    """``TensorBoardLogger`` that claims ``version_N`` with an atomic ``mkdir``.

    Lightning picks the next version by listing the directory, so runs started at the same moment can pick
    the same one and overwrite each other's config and checkpoints. Here the first process to create the
    directory owns it and the others move on to the next number. Only rank 0 claims (it is the rank that writes).
    """

    def _get_next_version(self) -> int:
        version = super()._get_next_version()
        if rank_zero_only.rank != 0 or not self._fs.protocol or "file" not in self._fs.protocol:
            return version
        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                (root / f"version_{version}").mkdir()
                return version
            except FileExistsError:
                version += 1


@rank_zero_only
def log_hparams_summary(logger: TensorBoardLogger, params: dict[str, Any], metric_tags: Sequence[str]) -> None:
    """Define the run's entry in TensorBoard's HPARAMS tab: ``params`` and the scalar tags to compare runs by.

    Unlike ``logger.log_hyperparams(params, metrics)`` this writes no placeholder values for the metrics; the
    tab shows the last value each scalar gets when the run logs it.
    """
    from torch.utils.tensorboard.summary import hparams

    flat = logger._sanitize_params(_flatten_dict(params))
    writer = logger.experiment._get_file_writer()
    for summary in hparams(flat, dict.fromkeys(metric_tags, 0.0)):
        writer.add_summary(summary)
