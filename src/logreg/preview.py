"""``logreg predict`` without ``--predictions``: a preview of the predictions instead of nothing.

The first rows as ``--predictions`` would write them (``probability,predicted_label[,label]``), how many rows go to
each predicted label, and the accuracy when the data has labels. Like the CSV writer it sees the predictions batch by
batch, so a preview of any number of rows keeps only a few of them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.exceptions import SIGTERMException

from logreg.data import IndexedDataModule
from logreg.readers import same_label

PREVIEW_ROWS = 10


class PredictionPreview(BasePredictionWriter):
    """Keeps the first ``rows`` predictions, the count per predicted label and, with labels, the correct ones.

    ``predicted_label`` is class 1 where ``probability > threshold``: the model's stored threshold unless one is
    given. A row whose label the model never saw counts as wrong.
    """

    def __init__(self, threshold: float | None = None, rows: int = PREVIEW_ROWS) -> None:
        super().__init__(write_interval="batch")
        self.threshold = threshold
        self.rows = rows
        self.first: list[tuple[str, ...]] = []
        self.counts: Counter[str] = Counter()
        self.seen = 0
        self.correct = 0
        self.with_labels = False

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        datamodule = trainer.datamodule
        if not isinstance(datamodule, IndexedDataModule):
            raise TypeError("PredictionPreview shows the rows of a logreg data module (IndexedDataModule)")
        self.datamodule = datamodule
        if self.threshold is None:
            self.threshold = float(getattr(pl_module, "threshold", 0.5))
        self.classes = np.asarray(datamodule.classes, dtype=object)
        self.with_labels = datamodule.has_labels

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
        predicted = self.classes[(probs > self.threshold).astype(np.int64)].tolist()
        self.counts.update(predicted)
        columns = [[f"{p:.6g}" for p in probs], predicted]
        if self.with_labels:  # the input's own text, values the model never saw included
            labels = self.datamodule.label_texts(self.seen, self.seen + len(probs))
            self.correct += sum(same_label(label, guess) for label, guess in zip(labels, predicted, strict=True))
            columns.append(labels)
        self.seen += len(probs)
        if len(self.first) < self.rows:
            self.first.extend(list(zip(*columns, strict=True))[: self.rows - len(self.first)])

    def lines(self) -> list[str]:
        """The preview: a table of the first rows, the count per predicted label, the accuracy with labels."""
        header = ("probability", "predicted_label", *(["label"] if self.with_labels else []))
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
