"""The rows ``logreg predict`` writes: :class:`CSVPredictionWriter` to a file, :class:`PredictionPreview` without one.

Without ``--predictions``, a preview instead of nothing: the first rows as ``--predictions`` would write them
(``probability,predicted_label[,label]``), how many rows go to each predicted label, and the accuracy when the data
has labels. Like the CSV writer it sees the predictions batch by batch, so a preview of any number of rows keeps
only a few of them.
"""

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


class PredictionRows(BasePredictionWriter):
    """The rows of ``logreg predict`` as text, batch by batch: ``probability`` (6 significant digits),
    ``predicted_label``, when the input has labels ``label`` (the class's name as ``predicted_label`` spells it,
    however the input spells it; a label the model never saw as the input writes it), and when the input is the data
    the checkpoint's run trained on (split as it was) ``split``: ``train``, ``val`` or ``test``, where the row went
    (:meth:`~logreg.data.indexed.IndexedDataModule.row_splits`). :meth:`take` receives them.

    ``predicted_label`` is the data's original value of class 1 where ``probability > threshold``: the model's
    stored threshold (given or tuned at training) unless one is given.
    """

    def __init__(self, threshold: float | None = None) -> None:
        super().__init__(write_interval="batch")
        self.threshold = threshold
        self.seen = 0  # rows so far: predict runs on one device, in input order

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = trainer.datamodule
        if not isinstance(datamodule, IndexedDataModule):
            raise TypeError(f"{type(self).__name__} needs the rows of a logreg data module (IndexedDataModule)")
        self.datamodule = datamodule
        if self.threshold is None:
            self.threshold = float(getattr(pl_module, "threshold", 0.5))
        self.classes = np.asarray(datamodule.classes, dtype=object)
        self.with_labels = datamodule.has_labels
        self.with_split = datamodule.row_splits(0, 0) is not None
        self.names: dict[str, str] = {}  # label text -> class name, as met
        self.seen = 0

    def class_name(self, text: str) -> str:
        """The name of the model's class that ``text`` spells (``"True"`` for class ``"1"``), or ``text`` itself for
        a label the model never saw: so that comparing ``label`` with ``predicted_label`` scores as the test did."""
        if text not in self.names:
            self.names[text] = next((name for name in self.classes.tolist() if same_label(text, name)), text)
        return self.names[text]

    def header(self) -> list[str]:
        return ["probability", "predicted_label", *(["label"] if self.with_labels else []),
                *(["split"] if self.with_split else [])]  # fmt: skip

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if trainer.received_sigterm:  # Lightning's predict loop does not stop for SIGTERM by itself
            raise SIGTERMException
        probs = prediction.detach().float().view(-1).cpu().numpy()
        columns = [[f"{p:.6g}" for p in probs], self.classes[(probs > self.threshold).astype(np.int64)].tolist()]
        if self.with_labels:  # each class by its name, as predicted_label writes it; a label the model never saw as is
            columns.append(
                [self.class_name(text) for text in self.datamodule.label_texts(self.seen, self.seen + len(probs))]
            )
        if self.with_split:
            columns.append(self.datamodule.row_splits(self.seen, self.seen + len(probs)))
        self.seen += len(probs)
        self.take(columns)

    def take(self, columns: list[list[str]]) -> None:
        """One batch's columns (probability, predicted_label[, label][, split]), each a list of strings."""
        raise NotImplementedError


class CSVPredictionWriter(PredictionRows):
    """Writes ``probability,predicted_label[,label][,split]``, one row per input row in input order.

    Labels are the data's original values (``classes`` of the :class:`~logreg.data.indexed.IndexedDataModule`);
    ``label`` appears when the input has labels, ``split`` when it is the data the run trained on (see
    :class:`PredictionRows`: the rows marked ``test`` reproduce the run's test metrics). ``predicted_label`` is
    class 1 where ``probability > threshold``: the model's stored threshold unless one is given.
    Rows stream into a :class:`~logreg.writes.AtomicWriter`, put in place only when prediction finishes, so an
    interrupted run never leaves half a file; an existing file is replaced only with ``overwrite``.
    """

    def __init__(self, path: str | Path, overwrite: bool = False, threshold: float | None = None) -> None:
        super().__init__(threshold)
        self.given, self.path = str(path), Path(path)
        self.overwrite = overwrite
        self.label = f"--predictions {path}"  # (the path as given: Path() drops a trailing "/")
        self._file: AtomicWriter | None = None
        self._writer: Any = None

    def check_target(self) -> None:
        """Fail before any work if the file cannot be written."""
        check_target(self.given, self.label, self.overwrite)

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_predict_start(trainer, pl_module)
        self._file = AtomicWriter(self.given, self.label)
        self._writer = csv.writer(self._file.handle)
        self._write([self.header()])

    def take(self, columns: list[list[str]]) -> None:
        self._write(zip(*columns, strict=True))

    def _write(self, rows: Any) -> None:
        try:
            self._writer.writerows(rows)
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


PREVIEW_ROWS = 10


class PredictionPreview(PredictionRows):
    """Keeps the first ``rows`` predictions, the count per predicted label and, with labels, the correct ones
    (a row whose label the model never saw counts as wrong)."""

    def __init__(self, threshold: float | None = None, rows: int = PREVIEW_ROWS) -> None:
        super().__init__(threshold)
        self.rows = rows
        self.first: list[tuple[str, ...]] = []
        self.counts: Counter[str] = Counter()
        self.correct = 0
        self.with_labels = False

    def take(self, columns: list[list[str]]) -> None:
        self.counts.update(columns[1])
        if self.with_labels:
            self.correct += sum(same_label(label, guess) for label, guess in zip(columns[2], columns[1], strict=True))
        if len(self.first) < self.rows:
            self.first.extend(list(zip(*columns, strict=True))[: self.rows - len(self.first)])

    def lines(self) -> list[str]:
        """The preview: a table of the first rows, the count per predicted label, the accuracy with labels."""
        header = tuple(self.header())
        table = [header, *self.first]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
        if self.seen > len(self.first):
            lines.append(f"... ({len(self.first)} of {self.seen} rows shown)")
        counts = ", ".join(f"{name!r}: {self.counts[name]}" for name in self.classes.tolist())
        lines.append(f"predicted   {counts} (threshold {self.threshold:g})")
        if self.with_labels and self.seen:
            lines.append(f"accuracy    {self.correct / self.seen:.4f} ({self.correct} of {self.seen} rows)")
        return lines
