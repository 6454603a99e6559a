"""A TensorBoard logger that is safe for several runs started at once in one directory."""

from __future__ import annotations

from pathlib import Path

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
