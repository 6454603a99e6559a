"""The user's own data: CSV, ``.npz`` or a directory of ``x.npy``/``y.npy`` (memory-mapped), as a DataModule.

Every problem in a file is a ``ValueError`` (``FileNotFoundError`` for a missing path) whose one-line message
names the file, the row as a spreadsheet shows it (the header is row 1) and the column. Nothing is trained on a
file that failed a check.
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from logreg.data import IndexedDataModule, check_fractions, stratified_split, take_rows

CHUNK_ROWS = 16384  # rows per chunk when scanning or summarising a (memory-mapped) array
TRUE_FALSE = {"false": 0, "true": 1}


class DataFileError(ValueError):
    """A problem in the user's data file."""


def map_labels(values: Sequence[str], where: str, rows: Sequence[int] | None = None) -> tuple[np.ndarray, list[str]]:
    """Map label strings to 0/1 and return ``(labels, classes)`` with ``classes[k]`` the original value of class k.

    0/1 (also 0.0/1.0) and true/false keep their meaning; any other pair of values is mapped in sorted order
    (numerically when both are numbers). ``rows[i]`` is the spreadsheet row of ``values[i]`` (default ``i + 2``,
    the first data row under a header), for messages.
    """
    rows = rows if rows is not None else range(2, len(values) + 2)
    spelling: dict[str, str] = {}  # canonical key -> first spelling seen
    codes = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        key = _canonical_label(value, where, rows[i])
        if key not in spelling:
            if len(spelling) == 2:
                seen = ", ".join(repr(v) for v in spelling.values())
                raise DataFileError(
                    f"{where}, row {rows[i]}: third label value {value.strip()!r} "
                    f"(labels must take two values; seen {seen})"
                )
            spelling[key] = value.strip()
        codes[i] = list(spelling).index(key)
    if len(spelling) < 2:
        only = next(iter(spelling.values()), "")
        raise DataFileError(f"{where}: every label is {only!r}; training needs two classes")
    keys = list(spelling)
    ordered = sorted(keys, key=_label_order)
    mapping = np.array([ordered.index(key) for key in keys])
    return mapping[codes].astype(np.float32), [spelling[key] for key in ordered]


def _canonical_label(value: str, where: str, row: int) -> str:
    """``"1"``, ``"1.0"`` and ``" 1 "`` are one class; so are ``"True"`` and ``"true"``."""
    text = value.strip()
    if text.lower() in TRUE_FALSE:
        return text.lower()
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        raise DataFileError(f"{where}, row {row}: label {text!r} is not a finite value")
    return repr(number)


def _label_order(key: str) -> tuple[int, float, str]:
    """true/false by meaning, numbers numerically, before any other text in sorted order."""
    if key in TRUE_FALSE:
        return (0, TRUE_FALSE[key], "")
    try:
        return (0, float(key), "")
    except ValueError:
        return (1, 0.0, key)


def read_csv(path: Path, label: str) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    """Parse a CSV with a header: ``(features (N, D) float32, labels (N,) or None, classes, feature names)``.

    An all-numeric file goes through NumPy's C parser. Anything that parser rejects (text labels, a bad cell, a
    ragged row) is read again row by row in chunks, so that the error names the row and column while memory
    stays near the size of the data (a list of Python strings for a million rows would take gigabytes).
    """
    try:
        return _read_numeric_csv(path, label)
    except (ValueError, UnicodeDecodeError, StopIteration, Warning):
        return _read_csv_rows(path, label)


def _read_numeric_csv(path: Path, label: str) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        header = [name.strip() for name in next(csv.reader(handle))]
    names = [name for name in header if name != label]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "empty input file" and the like: let the careful reader explain
        table = np.loadtxt(path, delimiter=",", skiprows=1, comments=None, dtype=np.float32, ndmin=2,
                           encoding="utf-8-sig")  # fmt: skip
    if not names or table.shape[0] == 0 or table.shape[1] != len(header) or not np.isfinite(table).all():
        raise ValueError("not a clean numeric table")
    features = np.ascontiguousarray(table[:, [header.index(name) for name in names]])
    if label not in header:
        return features, None, ["0", "1"], names
    y = table[:, header.index(label)]
    values = np.unique(y)
    if len(values) != 2:
        raise ValueError("not two label values")
    return features, (y == values[1]).astype(np.float32), [f"{v:g}" for v in values], names


def _read_csv_rows(path: Path, label: str) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    blocks: list[np.ndarray] = []
    label_cells: list[str] = []
    label_rows: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next((row for row in reader if row), None)
            if header is None:
                raise DataFileError(f"{path}: file is empty (expected a header row and data rows)")
            header = [name.strip() for name in header]
            names = [name for name in header if name != label]
            if not names:
                raise DataFileError(f"{path}: no feature columns besides the label column {label!r}")
            chunk: list[list[str]] = []
            rows: list[int] = []
            for row in reader:
                if not row:
                    continue  # blank lines carry no data
                if len(row) != len(header):
                    raise DataFileError(
                        f"{path}, row {reader.line_num}: {len(row)} columns, but the header has {len(header)}"
                    )
                chunk.append(row)
                rows.append(reader.line_num)
                if len(chunk) == CHUNK_ROWS:
                    blocks.append(_parse_block(chunk, rows, header, names, label, path, label_cells, label_rows))
                    chunk, rows = [], []
            if chunk:
                blocks.append(_parse_block(chunk, rows, header, names, label, path, label_cells, label_rows))
    except UnicodeDecodeError as err:
        raise DataFileError(f"{path}: not a text CSV file ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise DataFileError(f"{path}: not a valid CSV file ({err})") from None
    if not blocks:
        raise DataFileError(f"{path}: header only, no data rows")
    labels, classes = None, ["0", "1"]
    if label in header:
        labels, classes = map_labels(label_cells, f"{path}, column {label!r}", label_rows)
    return np.concatenate(blocks), labels, classes, names


def _parse_block(
    chunk: list[list[str]],
    rows: list[int],
    header: list[str],
    names: list[str],
    label: str,
    path: Path,
    label_cells: list[str],
    label_rows: list[int],
) -> np.ndarray:
    """Features of a chunk of rows as float32 (N, D); the chunk's label cells are appended to ``label_cells``."""
    columns = list(zip(*chunk, strict=True))
    block = np.empty((len(chunk), len(names)), dtype=np.float32)
    for j, name in enumerate(names):
        block[:, j] = _numeric_column(columns[header.index(name)], path, name, rows)
    if label in header:
        label_cells.extend(columns[header.index(label)])
        label_rows.extend(rows)
    return block


def _numeric_column(cells: Sequence[str], path: Path, name: str, rows: Sequence[int]) -> np.ndarray:
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        for i, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                raise DataFileError(f"{path}, row {rows[i]}, column {name!r}: not a number: {cell!r}") from None
        raise
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        i = int(bad[0])
        raise DataFileError(f"{path}, row {rows[i]}, column {name!r}: {cells[i].strip()!r} is not a finite number")
    return values


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    """``x`` (N, D) and optionally ``y`` (N,) from an ``.npz`` archive."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as err:
        raise DataFileError(f"{path}: not a readable .npz archive ({type(err).__name__}: {err})") from None
    if "x" not in arrays:
        raise DataFileError(f"{path}: no array named 'x' (found: {', '.join(arrays) or 'none'})")
    x = _check_features(arrays["x"], path, "x")
    labels, classes = None, ["0", "1"]
    if "y" in arrays:
        labels, classes = _check_labels(arrays["y"], len(x), path, "y")
    return np.ascontiguousarray(x, dtype=np.float32), labels, classes, _default_names(x.shape[1])


def _check_features(x: np.ndarray, path: Path, name: str) -> np.ndarray:
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise DataFileError(f"{path}: array {name!r} must have shape (rows, features), got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataFileError(f"{path}: array {name!r} must be numeric, got dtype {x.dtype}")
    for start in range(0, len(x), CHUNK_ROWS):  # in chunks: a memory map is never read whole into memory
        bad = np.argwhere(~np.isfinite(x[start : start + CHUNK_ROWS]))
        if len(bad):
            row, col = bad[0]
            raise DataFileError(
                f"{path}: {name}[{start + row}, {col}] (row {start + row + 1}, column {col + 1}) is not finite"
            )
    return x


def _check_labels(y: np.ndarray, n_rows: int, path: Path, name: str) -> tuple[np.ndarray, list[str]]:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n_rows:
        raise DataFileError(f"{path}: array {name!r} must have shape ({n_rows},) to match the features, got {y.shape}")
    values = np.unique(y)
    if len(values) > 2:
        row = int(np.argmax(~np.isin(y, values[:2])))
        raise DataFileError(f"{path}: {name}[{row}] is a third label value {y[row]!r} (labels must take two values)")
    if len(values) < 2:
        raise DataFileError(f"{path}: every label is {values[0]!r}; training needs two classes")
    return (y == values[1]).astype(np.float32), [_label_name(v) for v in values]


def _label_name(value: Any) -> str:
    return str(value.item() if hasattr(value, "item") else value)


def _default_names(n: int) -> list[str]:
    return [f"x{j}" for j in range(n)]


def open_npy_directory(path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    """Memory-map ``x.npy`` (N, D) and read ``y.npy`` (N,), checking finiteness in chunks (no full copy of x)."""
    x_path, y_path = path / "x.npy", path / "y.npy"
    if not x_path.is_file():
        raise DataFileError(f"{path}: directory has no x.npy (expected x.npy (rows, features) and y.npy (rows,))")
    try:
        x = np.load(x_path, mmap_mode="r", allow_pickle=False)
    except Exception as err:
        raise DataFileError(f"{x_path}: not a readable .npy array ({type(err).__name__}: {err})") from None
    _check_features(x, x_path, "x")
    labels, classes = None, ["0", "1"]
    if y_path.is_file():
        try:
            y = np.load(y_path, mmap_mode="r", allow_pickle=False)
        except Exception as err:
            raise DataFileError(f"{y_path}: not a readable .npy array ({type(err).__name__}: {err})") from None
        labels, classes = _check_labels(y, len(x), y_path, "y")
    return x, labels, classes, _default_names(x.shape[1])


def read_data(path: Path, label: str) -> tuple[np.ndarray, np.ndarray | None, list[str], list[str]]:
    """Dispatch on the path: a directory of ``.npy`` files, an ``.npz`` archive, or a CSV."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.is_dir():
        return open_npy_directory(path)
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    return read_csv(path, label)


class FileDataModule(IndexedDataModule):
    """Tabular data from the user's file: a CSV with a header, an ``.npz`` with ``x``/``y``, or a directory
    holding ``x.npy``/``y.npy`` that is memory-mapped (for data larger than memory).

    The file is read and checked in the constructor (so bad data fails before a run starts); the split, done in
    ``setup``, is stratified and seeded like :class:`~logreg.data.ThresholdDataModule`'s. With ``standardize``
    the model learns on ``(x - mean) / std`` with mean/std of the training split only; the model keeps them in
    its checkpoint, so prediction applies the same transform. A file without a label column is valid for predict.

    Args:
        path: CSV file, ``.npz`` file or directory with ``x.npy`` and ``y.npy``.
        label: name of the CSV's label column (every other column is a numeric feature).
        val_fraction, test_fraction, batch_size, shuffle, split_seed: as for ThresholdDataModule.
        standardize: standardise features with training-split statistics (constant columns are left unscaled).
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
    ) -> None:
        super().__init__(batch_size, shuffle, split_seed)
        check_fractions(val_fraction, test_fraction)
        self.save_hyperparameters(ignore="path")
        self.hparams["path"] = str(path)  # checkpoints keep plain types only (they load with weights_only=True)
        self.path = Path(path)
        self.label = label
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.standardize = standardize
        features, labels, self.classes, self.feature_names = read_data(self.path, label)
        self.features = torch.from_numpy(features) if not isinstance(features, np.memmap) else features
        self.has_labels = labels is not None
        self.labels = torch.from_numpy(labels if labels is not None else np.zeros(len(features), np.float32)).view(
            -1, 1
        )
        self._stats: tuple[Tensor, Tensor] | None = None

    def setup(self, stage: str) -> None:
        if stage == "predict":
            return
        if not self.has_labels:
            raise DataFileError(
                f"{self.path}: no label column {self.label!r} (needed to {stage}; "
                f"columns: {', '.join(self.feature_names)})"
            )
        if len(self.train_idx) == 0:
            try:
                self.train_idx, self.val_idx, self.test_idx = stratified_split(
                    self.labels, self.val_fraction, self.test_fraction, self.split_seed
                )
            except ValueError as err:
                raise DataFileError(f"{self.path}: {len(self.labels)} rows are too few for this split: {err}") from None

    def feature_stats(self) -> tuple[Tensor, Tensor] | None:
        """Mean and standard deviation of the training rows (scale 1 for constant columns), in chunks."""
        if not self.standardize:
            return None
        if self._stats is None:
            total = torch.zeros(self.n_features, dtype=torch.float64)
            squares = torch.zeros(self.n_features, dtype=torch.float64)
            for rows in self.train_idx.split(CHUNK_ROWS):
                chunk = take_rows(self.features, rows.sort().values).double()
                total += chunk.sum(0)
                squares += (chunk * chunk).sum(0)
            n = len(self.train_idx)
            mean = total / n
            std = (squares / n - mean * mean).clamp_min(0).sqrt()
            scale = torch.where(std > 1e-12 * mean.abs().clamp_min(1), std, torch.ones_like(std))
            self._stats = (mean.float(), scale.float())
        return self._stats

    def state_dict(self) -> dict[str, Any]:
        """Saved in checkpoints: the label values and the feature columns the model was trained on."""
        return {"classes": list(self.classes), "feature_names": list(self.feature_names)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        trained_on = list(state_dict.get("feature_names", self.feature_names))
        if trained_on != self.feature_names:
            raise DataFileError(
                f"{self.path}: feature columns {self.feature_names} differ from the checkpoint's {trained_on}"
            )
        self.classes = list(state_dict.get("classes", self.classes))
