"""In-memory arrays as a logreg data module: NumPy arrays, pandas DataFrames and pyarrow tables.

:class:`ArrayDataModule` is what :class:`logreg.LogisticRegressionClassifier` trains on, and works on its own with a
Trainer: the rows become one float32 tensor, the labels 0/1 by their sorted values, and everything else (the split,
the batches, standardisation) follows the data-module contract of :class:`~logreg.data.indexed.IndexedDataModule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from logreg.data.indexed import IndexedDataModule


def as_table(x: Any) -> tuple[np.ndarray, list[str] | None]:
    """Rows (N, D) as a NumPy array and the column names of a DataFrame or a pyarrow table (None otherwise)."""
    if type(x).__module__.startswith("pyarrow"):  # a pyarrow Table or RecordBatch: its columns, by name
        names = list(x.column_names)
        return np.column_stack([x.column(name).to_numpy() for name in names]) if names else np.empty((0, 0)), names
    columns = getattr(x, "columns", None)  # a pandas DataFrame
    if columns is not None:
        return x.to_numpy(), [str(name) for name in columns]
    return np.asarray(x), None


def float32_rows(x: Any, what: str = "X") -> Tensor:
    """(N, D) finite float32 rows as a tensor; a value that is NaN, infinite or beyond float32 is a ValueError."""
    array, _ = as_table(x)
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-dimensional (rows x features), got shape {array.shape}")
    if np.iscomplexobj(array):
        raise ValueError(f"{what}: complex values are not supported")
    with np.errstate(over="ignore"):
        rows = np.asarray(array, dtype=np.float32)
    bad = ~np.isfinite(rows)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(
            f"{what}, row {row}, column {column}: {array[row, column]!r} is not finite in float32 (NaN, inf or "
            "beyond +-3.4e38)"
        )
    if not rows.flags.writeable:  # torch shares writable memory only (a read-only memory map is copied once)
        rows = rows.copy()
    return torch.from_numpy(rows)


def label_codes(y: Any) -> tuple[Tensor, list[Any]]:
    """Labels (N,) of any two values -> (N, 1) float32 codes 0/1 by sorted value, and the two values."""
    values = np.asarray(y).reshape(-1)
    classes, codes = np.unique(values, return_inverse=True)
    if len(classes) != 2:
        shown = ", ".join(repr(v) for v in classes[:5].tolist()) + (", ..." if len(classes) > 5 else "")
        raise ValueError(f"y has {len(classes)} class{'es' * (len(classes) != 1)} ({shown}); logreg needs exactly 2")
    return torch.from_numpy(codes.astype(np.float32).reshape(-1, 1)), classes.tolist()


class ArrayDataModule(IndexedDataModule):
    """Rows held in memory (a NumPy array, a pandas DataFrame or a pyarrow table) and their labels.

    The features become one (N, D) float32 tensor (NaN, inf and values beyond float32 are refused here, before
    anything runs); labels may be any two values and are coded 0/1 in sorted order (``classes`` keeps the values as
    text, as a file's labels are). Without ``y`` the rows are valid for predict only.

    Args:
        x: features (N, D): array-like, DataFrame (its column names become ``feature_names``) or pyarrow table.
        y: labels (N,), or None.
        val_fraction, test_fraction, batch_size, shuffle, split_seed: as for ThresholdDataModule (the
            scikit-learn estimator uses 0 and 0: every row trains).
        standardize: standardise features with the mean and standard deviation of the training split (constant
            columns are left unscaled), as FileDataModule does.
        feature_names: names of the columns, instead of the table's own or ``x0, x1, ...``.
    """

    def __init__(
        self,
        x: Any,
        y: Any = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        batch_size: int = 32,
        shuffle: bool = True,
        split_seed: int = 0,
        standardize: bool = True,
        feature_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(val_fraction, test_fraction, batch_size, shuffle, split_seed)
        _, names = as_table(x)
        features = float32_rows(x)
        labels, classes = (None, [0, 1]) if y is None else label_codes(y)
        if labels is not None and len(labels) != len(features):
            raise ValueError(f"x has {len(features)} rows but y has {len(labels)} labels")
        self.label_values = classes  # the labels as given (NumPy scalars become Python values)
        self.use_rows(features, labels, [str(c) for c in classes], feature_names or names)
        self.standardize = standardize

    def setup(self, stage: str) -> None:
        """Every row trains when nothing is held out (the estimator's case): the split is ``0..N-1``, as
        :func:`~logreg.data.indexed.stratified_split` would make it, without its per-class permutations of N rows."""
        if self.val_fraction == self.test_fraction == 0 and self.has_labels and not len(self.train_idx):
            self.train_idx = torch.arange(len(self.labels))
        super().setup(stage)
