"""``logreg predict`` without ``--predictions``: a preview of the predictions instead of nothing.

The first rows as ``--predictions`` would write them (``probability,predicted_label[,label]``), how many rows go to
each predicted label, and the accuracy when the data has labels. Like the CSV writer it sees the predictions batch by
batch, so a preview of any number of rows keeps only a few of them.
"""

from __future__ import annotations

from collections import Counter

from logreg.callbacks import PredictionRows
from logreg.data.readers import same_label

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
