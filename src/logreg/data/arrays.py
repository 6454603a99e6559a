"""In-memory arrays (NumPy, pandas DataFrames, pyarrow tables) as a data module: what the estimator trains on."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from logreg.data.indexed import IndexedDataModule
from logreg.data.readers import FLATTENED, flattened


class ArrayDataModule(IndexedDataModule):
    """Rows held in memory as one (N, D) float32 tensor (values not finite in float32 are refused here); labels may be
    any two values, coded 0/1 in sorted order (``classes`` keeps them as text). Without ``y``: predict only.

    Args:
        x: features (N, D): array-like, DataFrame (its column names become ``feature_names``) or pyarrow table.
        y: labels (N,), or None.
        val_fraction, test_fraction, batch_size, shuffle, split_seed: as for ThresholdDataModule.
        standardize: standardise features with training-split statistics, as FileDataModule does.
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
        if type(x).__module__.startswith("pyarrow"):  # a pyarrow Table or RecordBatch: its columns, by name
            names = list(x.column_names)
            array = np.column_stack([x.column(name).to_numpy() for name in names]) if names else np.empty((0, 0))
        elif getattr(x, "columns", None) is not None:  # a pandas DataFrame
            array, names = x.to_numpy(), [str(name) for name in x.columns]
        else:
            array, names = np.asarray(x), None
        features, labels, classes = float32_rows(array), None, ["0", "1"]
        if y is not None:  # any two values, coded 0/1 in sorted order
            flat = np.asarray(y).reshape(-1)
            values = np.unique(flat)  # (its return_inverse is a stable argsort: 0.26 s of 1M labels, for 2 values)
            if len(values) != 2:
                some = ", ".join(repr(v) for v in values[:5].tolist()) + (", ..." if len(values) > 5 else "")
                raise ValueError(
                    f"y has {len(values)} class{'es' * (len(values) != 1)} ({some}); logreg needs exactly 2"
                )
            labels = torch.from_numpy((flat == values[1]).astype(np.float32).reshape(-1, 1))
            classes = [str(value) for value in values.tolist()]
            if len(labels) != len(features):
                raise ValueError(f"x has {len(features)} rows but y has {len(labels)} labels")
        self.use_rows(features, labels, classes, feature_names or names)
        self.standardize = standardize
        if array.dtype != np.float32 and len(array):  # (the estimator's are float64): columns one value in float32
            some = (features[:1000] == features[0]).all(0).nonzero().view(-1).tolist()  # (a first look: cheaper)
            names, part = [self.feature_names[j] for j in some], array[:, some]
            if flat := flattened(names, np.stack([part.min(0), part.max(0)])):
                self.warn(FLATTENED.format(", ".join(flat)))

    def warn(self, text: str) -> None:
        """A Python warning (the estimator's data: scikit-learn code catches and filters warnings)."""
        warnings.warn(text, UserWarning, stacklevel=2)

    def setup(self, stage: str) -> None:
        """Nothing held out (the estimator's case): every row trains, in order, without a split's permutations."""
        if self.val_fraction == self.test_fraction == 0 and self.has_labels and not len(self.train_idx):
            self.train_idx = torch.arange(len(self.labels))
        super().setup(stage)


def float32_rows(array: np.ndarray, what: str = "X") -> Tensor:
    """(N, D) finite float32 rows as a tensor; a value that is NaN, infinite or beyond float32 is a ValueError."""
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-dimensional (rows x features), got shape {array.shape}")
    if np.iscomplexobj(array):
        raise ValueError(f"{what}: complex values are not supported")
    with np.errstate(over="ignore"):
        rows = np.ascontiguousarray(array, dtype=np.float32)  # row-major: a fit does not depend on the layout
    if not np.isfinite(rows).all():
        row, column = np.argwhere(~np.isfinite(rows))[0]
        raise ValueError(f"{what}, row {row}, column {column}: {array[row, column]!r} is not finite in float32 (NaN, "
                         "inf or beyond +-3.4e38)")  # fmt: skip
    return torch.from_numpy(rows if rows.flags.writeable else rows.copy())  # torch shares writable memory only
