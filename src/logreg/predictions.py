"""The rows ``logreg predict`` writes, batch by batch: :class:`CSVPredictionWriter` to a file,
:class:`PredictionPreview` without one (the first rows, the count per predicted label, the accuracy with labels)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.exceptions import SIGTERMException

from logreg.data.indexed import IndexedDataModule
from logreg.data.readers import same_label
from logreg.writes import AtomicWriter, check_target

OTHER_FORMATS = {".parquet", ".pq", ".feather", ".arrow", ".npy", ".npz", ".json", ".jsonl", ".xlsx", ".xls", ".ods",
                 ".h5", ".hdf5", ".pkl", ".pickle", ".ckpt", ".pt", ".onnx", ".yaml", ".yml", ".gz", ".bz2", ".xz",
                 ".zst", ".zip"}  # fmt: skip


class PredictionRows(BasePredictionWriter):
    """The rows as text columns, batch by batch, to :meth:`take`: ``probability`` (6 digits), ``predicted_label``
    (class 1 where ``probability > threshold``, by default the model's), with labels ``label`` (spelled as the class
    is, or as the input writes an unseen one), and for the run's own data ``split``."""

    def __init__(self, threshold: float | None = None) -> None:
        super().__init__(write_interval="batch")
        self.threshold, self.seen = threshold, 0  # rows so far: predict runs on one device, in input order

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = trainer.datamodule
        if not isinstance(datamodule, IndexedDataModule):
            raise TypeError(f"{type(self).__name__} needs the rows of a logreg data module (IndexedDataModule)")
        if self.threshold is None:
            self.threshold = float(getattr(pl_module, "threshold", 0.5))
        self.datamodule, self.classes, self.seen = datamodule, np.asarray(datamodule.classes, dtype=object), 0
        self.with_labels, self.with_split = datamodule.has_labels, datamodule.row_splits(0, 0) is not None
        self.header = ["probability", "predicted_label", *(["label"] if self.with_labels else []),
                       *(["split"] if self.with_split else [])]  # fmt: skip
        self.names: dict[str, str] = {}  # label text -> class name, as met

    def class_name(self, text: str) -> str:
        """The model's class name that ``text`` spells (``"True"`` for ``"1"``), or ``text`` for an unseen label."""
        if text not in self.names:
            self.names[text] = next((name for name in self.classes.tolist() if same_label(text, name)), text)
        return self.names[text]

    def write_on_batch_end(self, trainer: Trainer, pl_module: LightningModule, prediction: Any, batch_indices: Any,
                           batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        if trainer.received_sigterm:  # Lightning's predict loop does not stop for SIGTERM by itself
            raise SIGTERMException
        probs = prediction.detach().float().view(-1).cpu().numpy()
        start, end = self.seen, self.seen + len(probs)
        columns = [[f"{p:.6g}" for p in probs], self.classes[(probs > self.threshold).astype(np.int64)].tolist()]
        if self.with_labels:
            columns.append([self.class_name(text) for text in self.datamodule.label_texts(start, end)])
        if self.with_split:
            columns.append(self.datamodule.row_splits(start, end))
        self.seen = end
        self.take(columns)

    def take(self, columns: list[list[str]]) -> None:
        """One batch's columns (probability, predicted_label[, label][, split]), each a list of strings."""
        raise NotImplementedError


class CSVPredictionWriter(PredictionRows):
    """Writes the rows in input order through an :class:`~logreg.writes.AtomicWriter`, put in place only when
    prediction finishes (no half file); an existing file is replaced only with ``overwrite``."""

    def __init__(self, path: str | Path, overwrite: bool = False, threshold: float | None = None) -> None:
        super().__init__(threshold)
        self.given, self.overwrite = str(path), overwrite
        self.label = f"--predictions {path}"  # (the path as given: Path() drops a trailing "/")
        self._file: AtomicWriter | None = None

    def check_target(self) -> None:
        """Fail before any work if the file cannot be written or its suffix names another format than CSV."""
        if (suffix := Path(self.given).suffix.lower()) in OTHER_FORMATS:
            raise ValueError(f"{self.label}: predictions are written as CSV, not {suffix}; name a .csv file")
        check_target(self.given, self.label, self.overwrite)

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_predict_start(trainer, pl_module)
        self._file = AtomicWriter(self.given, self.label)
        self._writer = csv.writer(self._file.handle)
        self.take([[name] for name in self.header])

    def take(self, columns: list[list[str]]) -> None:
        try:
            self._writer.writerows(zip(*columns, strict=True))
        except OSError as err:  # a full disk, say: one line, and on_exception removes the partial file
            raise self._file.error(err) from None

    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.received_sigterm:
            raise SIGTERMException
        if self._file is not None:
            file, self._file = self._file, None
            file.commit()

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None


class PredictionPreview(PredictionRows):
    """Keeps the first ``rows`` predictions, the count per predicted label and, with labels, the correct ones (a
    label the model never saw counts as wrong)."""

    def __init__(self, threshold: float | None = None, rows: int = 10) -> None:
        super().__init__(threshold)
        self.rows, self.first, self.counts, self.correct, self.with_labels = rows, [], Counter(), 0, False

    def take(self, columns: list[list[str]]) -> None:
        self.counts.update(columns[1])
        if self.with_labels:
            self.correct += sum(same_label(label, guess) for label, guess in zip(columns[2], columns[1], strict=True))
        if len(self.first) < self.rows:
            self.first.extend(list(zip(*columns, strict=True))[: self.rows - len(self.first)])

    def lines(self) -> list[str]:
        """The preview: a table of the first rows, the count per predicted label, the accuracy with labels."""
        table = [tuple(self.header), *self.first]
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
        if self.seen > len(self.first):
            lines.append(f"... ({len(self.first)} of {self.seen} rows shown)")
        counts = ", ".join(f"{name!r}: {self.counts[name]}" for name in self.classes.tolist())
        lines.append(f"predicted   {counts} (threshold {self.threshold:g})")
        if self.with_labels and self.seen:
            lines.append(f"accuracy    {self.correct / self.seen:.4f} ({self.correct} of {self.seen} rows)")
        return lines
