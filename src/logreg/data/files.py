"""The user's own file as a data module: :func:`~logreg.data.readers.read_table` reads and checks it; this adds
the split, the standardisation and what a checkpoint must remember about the data."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from logreg.data.indexed import IndexedDataModule, stage_name, values_checksum
from logreg.data.readers import FLATTENED, DataFileError, pc, read_table, same_label  # (pc: pyarrow.compute, lazily)


def model_code(label: str, trained: list[str]) -> int | None:
    """The code the model gives ``label`` (its index among the checkpoint's classes), or None if it never saw it."""
    return next((k for k, known in enumerate(trained) if same_label(label, known)), None)


def other_columns(source: str, now: list[str], saved: list[str]) -> str:
    """The refusal of feature columns other than the checkpoint's, naming the extra and the missing ones."""
    extra, missing = [c for c in now if c not in saved], [c for c in saved if c not in now]
    diff = "; ".join(f"{what}: {', '.join(map(repr, cols))}" for what, cols in (("extra", extra), ("missing", missing))
                     if cols)  # fmt: skip
    return f"{source}: feature columns {now} differ from the checkpoint's {saved}" + (f" ({diff})" if diff else "")


class FileDataModule(IndexedDataModule):
    """The user's table, read and checked in the constructor (bad data fails before a run starts); without a label
    column it is valid for predict. A checkpoint keeps the classes, so new data is coded as the model was trained.

    Args:
        path: CSV or Parquet file, ``.npz`` file, or directory with ``x.npy`` and ``y.npy``.
        label: name of the label column (every other column is a numeric feature).
        val_fraction, test_fraction, batch_size, shuffle, split_seed: as for ThresholdDataModule.
        standardize: standardise features with training-split statistics (constant columns are left unscaled).
        positive: the positive class's label (coded 1; default: the second in sorted order), e.g. ``improved``.
    """

    def __init__(
        self,
        path: str | Path,
        label: str = "label",
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        batch_size: int = 32,
        shuffle: bool = True,
        split_seed: int = 0,
        standardize: bool = True,
        positive: str | None = None,
    ) -> None:
        super().__init__(val_fraction, test_fraction, batch_size, shuffle, split_seed)
        self.save_hyperparameters(ignore="path", logger=False)  # config.yaml has them (as ThresholdDataModule)
        self.hparams["path"] = str(path)  # checkpoints keep plain types only (they load with weights_only=True)
        if not str(path).strip():  # Path("") is ".", which would be read as a directory without x.npy
            raise DataFileError("--data.path: an empty path; give a CSV, Parquet or .npz file, or an x.npy directory")
        self.path, self.label, self.standardize, self.positive = Path(path), label, standardize, positive
        self.missing_positive: str | None = None  # the refusal of a positive label this file lacks, for a fit
        table = read_table(self.path, label, third_label=True)  # refused in setup, but for predict
        features = table.features if isinstance(table.features, np.memmap) else torch.from_numpy(table.features)
        labels = None if table.labels is None else torch.from_numpy(table.labels).view(-1, 1)
        classes = table.classes
        code = model_code(positive, classes) if positive is not None and labels is not None and len(classes) == 2 else 1
        if code is None:  # refused by a fit; evaluation codes the labels by the checkpoint's classes instead
            self.missing_positive = (
                f"{self.path}: --data.positive {positive!r} is not a label of column {self.label!r} "
                f"(its labels: {classes[0]!r}, {classes[1]!r})"
            )
        self.flipped = code == 0  # the labels' checksum undoes the swap: the same file, with or without --data.positive
        if self.flipped:
            labels, classes = 1 - labels, classes[::-1]
        self.use_rows(features, labels, classes, table.feature_names)
        self.label_text, self.third_label, self.flattened = table.label_text, table.third_label, table.flattened
        self.own_classes: list[str] | None = None  # an array's classes when the model's cannot code its labels
        self.file_fingerprint: dict[str, Any] | None = None  # (see fingerprint)

    def describe(self) -> str:
        return str(self.path)

    def setup(self, stage: str) -> None:
        stage = stage_name(stage)
        if stage != "predict" and self.third_label:  # predict repeats a label it cannot score
            raise self.third_label
        if stage == "fit" and self.missing_positive:
            raise DataFileError(self.missing_positive)
        if stage == "fit" and self.flattened:
            self.warn(FLATTENED.format(", ".join(self.flattened)))
        if stage != "predict" and not self.has_labels:
            raise DataFileError(
                f"{self.path}: no label column {self.label!r} (needed to {stage}; "
                f"columns: {', '.join(self.feature_names)})"
            )
        super().setup(stage)

    def label_texts(self, start: int, stop: int) -> list[str]:
        if self.label_text is not None:
            return self.label_text.slice(start, stop - start).to_pylist()
        classes = self.own_classes or self.classes
        return [classes[int(code)] for code in self.labels[start:stop, 0].tolist()]

    def fingerprint(self) -> dict[str, Any]:
        """Rows and columns, checksums of every row's values and label codes (:func:`values_checksum`), and the
        file's size and a hash of its first MiB (``x.npy``'s for a directory): made once, not at each of a run's
        checkpoints, and before a checkpoint's classes recode the labels (:meth:`load_state_dict`)."""
        if self.file_fingerprint is None:
            source = self.path / "x.npy" if self.path.is_dir() else self.path
            with source.open("rb") as handle:
                head = hashlib.sha256(handle.read(2**20)).hexdigest()
            self.file_fingerprint = {"size": source.stat().st_size, "sha256_first_mib": head,
                                     **values_checksum(self.features, self.labels, self.flipped)}  # fmt: skip
        return {**super().fingerprint(), **self.file_fingerprint}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Check the columns against the checkpoint's, and code the labels by its classes (a label the model never
        saw cannot be scored: validate, test and a resumed fit refuse it; predict only repeats it)."""
        super().load_state_dict(state_dict)
        trained_on = list(state_dict.get("feature_names", self.feature_names))
        if trained_on != self.feature_names:
            raise DataFileError(other_columns(str(self.path), self.feature_names, trained_on))
        trained = list(state_dict.get("classes", self.classes))
        if self.positive is not None and len(trained) == 2 and not same_label(self.positive, trained[1]):
            raise DataFileError(
                f"{self.path}: --data.positive {self.positive!r}, but the model's positive class is {trained[1]!r} "
                f"(it predicts p({trained[1]!r})); leave --data.positive out to use the model's"
            )
        codes = [model_code(mine, trained) for mine in self.classes]
        predict = self.trainer is not None and stage_name(self.trainer.state.fn) == "predict"
        if self.has_labels and predict and (None in codes or self.third_label):
            self.note_unseen(trained)
        if self.has_labels and self.classes != trained:
            if None in codes and not predict:
                unseen = self.classes[codes.index(None)]
                known = f"{trained[0]!r}, {trained[1]!r}"
                raise DataFileError(f"{self.path}: label {unseen!r} is not one the model was trained on ({known})")
            if None not in codes:
                self.labels = torch.tensor(codes, dtype=self.labels.dtype)[self.labels.long()]
            self.own_classes = None if None not in codes else self.classes
        self.classes = trained

    def note_unseen(self, trained: list[str]) -> None:
        """Say (once, rank zero) how many rows have a label the model was not trained on: predict counts them wrong."""
        if self.label_text is not None:  # (every label as written: a third value too)
            pairs = [(c["values"], c["counts"]) for c in pc.value_counts(self.label_text).to_pylist()]
        else:
            pairs = [(name, int((self.labels == k).sum())) for k, name in enumerate(self.classes)]
        unseen = [(text, n) for text, n in pairs if n and model_code(text, trained) is None]
        if unseen and (self.trainer is None or self.trainer.is_global_zero):
            names = ", ".join(repr(text) for text, _ in unseen)
            print(f"logreg: note: {self.path}: {sum(n for _, n in unseen)} rows have labels the model was not trained "
                  f"on ({names}); they count as wrong in the accuracy", file=sys.stderr, flush=True)  # fmt: skip
