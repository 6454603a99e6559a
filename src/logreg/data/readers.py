"""The one reader of the user's data (CSV, Parquet, ``.npz``, an ``x.npy`` directory) and ``logreg convert``.

Every problem is one line naming the file, row (a CSV's line, header = 1) and column. Good files take pyarrow's fast
path; on the error path one pass of Python's ``csv`` module finds where. It earns its size: four formats, bounded-memory
streaming and the label rules.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np

from logreg.lazy import lazy_module
from logreg.writes import current_umask

pa = lazy_module("pyarrow")
pc = lazy_module("pyarrow.compute")
pa_csv = lazy_module("pyarrow.csv")
pq = lazy_module("pyarrow.parquet")

BLOCK_SIZE = 1 << 20  # CSV bytes per pyarrow block; a row must fit in one, so blocks grow when a row is longer
MAX_BLOCK_SIZE = 1 << 30  # pyarrow's block size is an int32
BATCH_ROWS = 65536  # Parquet rows per record batch
CHUNK_ROWS = 16384  # rows per chunk when checking a (memory-mapped) array
SNIFF_BYTES = 1 << 16  # the start of a CSV that must be UTF-8 before pyarrow parses it
NO_CLASSES = ["0", "1"]  # the classes of data without labels
META_FORMAT = 1
EMPTY = "file is empty (expected a header row and data rows)"


class DataFileError(ValueError):
    """A problem in the user's data file."""


class Table(NamedTuple):
    """``features`` (N, D) float32 (an ``x.npy`` directory's: a read-only memory map); ``labels`` (N,) 0/1 or None;
    ``classes[k]``, the text of class k (``["0", "1"]`` without labels)."""

    features: np.ndarray
    labels: np.ndarray | None
    classes: list[str]
    feature_names: list[str]
    label_text: pa.ChunkedArray | None = None  # a CSV's or Parquet file's label cells as written, for predictions
    third_label: DataFileError | None = None  # the refusal of a third label value (coded 0) for all but predict
    flattened: tuple[str, ...] = ()  # columns whose values differ but are one float32 value (see :func:`flattened`)


def read_table(
    path: str | Path,
    label: str = "label",
    *,
    block_size: int = BLOCK_SIZE,
    batch_rows: int = BATCH_ROWS,
    third_label: bool = False,
) -> Table:
    """Read and check an ``x.npy`` (memory-mapped)/``y.npy``/``meta.json`` directory, an ``.npz``, a ``.parquet``
    or ``.pq`` file, else a CSV; ``block_size``/``batch_rows``: how much is parsed at a time; ``third_label``: a
    CSV's or Parquet file's third label value is refused in ``Table.third_label``, not raised (predict repeats it)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.is_dir():
        return _read_npy_directory(path)
    if not path.is_file():
        raise DataFileError(f"{path}: not a regular file (a pipe or device cannot be read twice)")
    if path.suffix.lower() == ".npz":
        return _read_npz(path)
    return _growing_blocks(partial(_read_stream, third_label=third_label), path, label, block_size, batch_rows)[0]


def map_labels(
    values: Sequence[str], where: str | Path, rows: Sequence[int] | None = None, column: str = "label"
) -> tuple[np.ndarray, list[str]]:
    """Label texts as float32 codes 0/1 and ``classes`` (first spellings; ``"1"``, ``"1.0"``, ``"true"`` are one;
    numbers ordered numerically, then text sorted); ``rows[i]``: the row of ``values[i]`` (default ``i + 2``)."""
    rows = rows if rows is not None else range(2, len(values) + 2)
    coder = _LabelCoder(where, column, lambda i: rows[i])
    codes = coder.add(pa.array(list(values), pa.string()), 0)
    mapping, classes = coder.finish(third_label=False)
    return mapping[codes].astype(np.float32), classes


def convert(
    source: str | Path,
    out_dir: str | Path,
    label: str | None = "label",
    *,
    block_size: int = BLOCK_SIZE,
    batch_rows: int = BATCH_ROWS,
) -> Table:
    """Stream a CSV or Parquet file into ``out_dir`` (new or empty) as ``x.npy`` (float32), ``y.npy`` (int8; none
    for ``label=None``) and ``meta.json``, with :func:`read_table`'s checks; a failure leaves nothing."""
    source, given = Path(source), Path(out_dir)
    out_dir = given.resolve()  # "d/../d" and symbolic links: the directory that is really meant
    if given.is_symlink() and not given.exists():
        raise DataFileError(f"{given}: a symbolic link to {out_dir}, which does not exist")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise DataFileError(f"{given}: already exists; choose a new directory")
    if not out_dir.parent.is_dir():
        raise DataFileError(f"{given}: {out_dir.parent} is not an existing directory")
    if not source.exists():
        raise FileNotFoundError(f"{source}: file not found")
    if source.is_dir() or source.suffix.lower() == ".npz":
        raise DataFileError(f"{source}: convert reads a CSV or Parquet file; a directory or .npz is read as it is")
    if not source.is_file():
        raise DataFileError(f"{source}: not a regular file (a pipe or device cannot be read twice)")
    try:
        _growing_blocks(lambda stream: _convert(stream, out_dir), source, label, block_size, batch_rows)
    except OSError as err:  # the output side: permissions, a full disk, a directory that appeared meanwhile
        raise DataFileError(f"{given}: cannot write the converted data ({err.strerror or err})") from None
    return read_table(out_dir)


def _read_stream(source: _CsvSource | _ParquetSource, out: Any = None, third_label: bool = False) -> tuple[Table, int]:
    """All of ``source`` and its row count: in memory (float32 labels), or features written to ``out`` (int8 labels)."""
    coder, blocks, codes, texts, done = _LabelCoder(source.path, source.label, source.row_of), [], [], [], 0
    for block, labels in source.batches():
        if labels is not None:
            codes.append(coder.add(labels, done))
        if out is None:
            blocks.append(block)
            texts.append(labels)
        else:
            block.tofile(out)
        done += len(block)
    if not done:
        raise source.no_rows()
    features = blocks[0] if len(blocks) == 1 else np.concatenate(blocks) if blocks else None  # (two copies, briefly)
    del blocks
    flat = flattened(source.feature_names, source.bounds)
    if not source.has_label:
        return Table(features, None, list(NO_CLASSES), source.feature_names, flattened=flat), done
    mapping, classes = coder.finish(third_label)
    labels, text = mapping[np.concatenate(codes)], pa.chunked_array(texts, pa.string()) if out is None else None
    labels = labels if text is None else labels.astype(np.float32)
    return Table(features, labels, classes, source.feature_names, text, coder.third, flat), done


def _convert(source: _CsvSource | _ParquetSource, out_dir: Path) -> None:
    """Write ``x.npy`` block by block (its header's row count last), ``y.npy`` and ``meta.json`` in a temporary
    directory renamed to ``out_dir`` (or whose files move into it)."""
    if source.label is not None and not source.has_label:
        columns = ", ".join(repr(name) for name in source.feature_names)
        raise DataFileError(
            f"{source.path}: no label column {source.label!r} (columns: {columns}); name the label column "
            "(--label NAME), or convert data without labels with --unlabelled true"
        )
    into = out_dir.is_dir()  # existing and empty (checked before reading)
    temp = Path(
        tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir if into else out_dir.parent)
    )
    try:
        temp.chmod(0o777 & ~current_umask())  # mkdtemp makes it private; the result is an ordinary directory
        with (temp / "x.npy").open("wb") as x:  # plain writes: the rows never stay resident in memory
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False}
            np.lib.format.write_array_header_1_0(x, {**header, "shape": (0, len(source.feature_names))})
            table, n_rows = _read_stream(source, x)
            x.seek(0)  # NumPy >= 1.24 pads the header so that its row count can grow in place
            np.lib.format.write_array_header_1_0(x, {**header, "shape": (n_rows, len(source.feature_names))})
        if table.labels is not None:
            np.save(temp / "y.npy", table.labels)
        meta = {"format": META_FORMAT, "source": str(source.path), "label": source.label,
                "classes": table.classes, "feature_names": source.feature_names, "rows": n_rows,
                "flattened": list(table.flattened)}  # fmt: skip
        (temp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        if not into:
            temp.rename(out_dir)  # fails, keeping both, if something appeared there meanwhile
            return
        names = [name for name in ("x.npy", "y.npy", "meta.json") if (temp / name).exists()]  # meta.json last
        if any((out_dir / name).exists() for name in names):
            raise DataFileError(f"{out_dir}: files appeared in it while converting; choose a new directory")
        for name in names:
            (temp / name).rename(out_dir / name)
        temp.rmdir()
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


class _RowTooLong(DataFileError):
    """A CSV row longer than a pyarrow block: :func:`_growing_blocks` retries with larger blocks."""


def _growing_blocks(read: Callable[[Any], Any], path: Path, label: str | None, block_size: int, batch_rows: int) -> Any:
    """``read`` of the Parquet or CSV file at ``path``, again with larger blocks while a CSV row is longer."""
    while True:
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                return read(_ParquetSource(path, label, batch_rows))
            return read(_CsvSource(path, label, block_size))
        except _RowTooLong:
            if block_size >= MAX_BLOCK_SIZE:
                raise
            block_size = min(4 * block_size, MAX_BLOCK_SIZE)


def _columns(names: list[str], path: Path, label: str | None) -> tuple[bool, list[str]]:
    """Whether the header holds ``label``, and the feature columns (all others)."""
    if "" in names:  # a separator ending the lines, or an unnamed column (a pandas index)
        j = names.index("")
        why = "name it, or drop the column" if any(names[j:]) else "the header ends with a separator: remove it"
        raise DataFileError(f"{path}: column {j + 1} of the header has no name ({why})")
    if len(set(names)) < len(names):
        twice = next(name for j, name in enumerate(names) if name in names[:j])
        raise DataFileError(f"{path}: column name {twice!r} appears twice in the header")
    features = [name for name in names if name != label]
    if not features:
        raise DataFileError(f"{path}: no feature columns besides the label column {label!r}")
    return label in names, features


class _CsvSource:
    """A CSV file with a header row, parsed by ``pyarrow.csv.open_csv`` one block at a time (a quoted value may hold
    line ends); where a problem is, :meth:`scan` finds."""

    def __init__(self, path: Path, label: str | None, block_size: int) -> None:
        self.path, self.label, self.block_size = path, label, block_size
        self.has_label, self.feature_index = False, []  # (read by the scan) until the header is read
        if other := _other_format(path):
            raise DataFileError(f"{path}: not a text CSV file: {other}")
        self._check_utf8(SNIFF_BYTES)
        try:  # pyarrow infers types from the first block: its ragged rows are skipped here
            with self._open({}, handler=lambda row: "skip") as reader:
                self.raw_names = list(reader.schema.names)
        except pa.ArrowException as err:
            self._fail(err)
        except UnicodeDecodeError as err:  # a header longer than the sniffed start
            raise DataFileError(f"{path}: not a text CSV file (expected UTF-8; {err.reason} in the header)") from None
        names = [name.strip() for name in self.raw_names]
        if len(names) == 1 and (found := [(names[0].count(sep), sep) for sep in SEPARATORS if sep in names[0]]):
            raise DataFileError(
                f"{path}: the header {shown(names[0])} is one column: values must be separated by commas, and this "
                f"file separates them by {SEPARATORS[max(found)[1]]} (save it as comma-separated CSV)"
            )
        self.has_label, self.feature_names = _columns(names, path, label)
        self.bounds = np.tile([[np.inf], [-np.inf]], len(self.feature_names))  # (see _float32_block)
        self.label_index = names.index(label) if self.has_label else -1
        self.feature_index = [j for j, name in enumerate(names) if name != label]

    def _open(self, types: dict[str, Any], handler: Any = None) -> Any:
        read = pa_csv.ReadOptions(block_size=self.block_size, use_threads=handler is None)  # a handler needs serial
        parse = pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=handler)
        convert = pa_csv.ConvertOptions(column_types=types, null_values=[], strings_can_be_null=False)
        return pa_csv.open_csv(self.path, read_options=read, parse_options=parse, convert_options=convert)

    def batches(self) -> Iterator[tuple[np.ndarray, pa.Array | None]]:
        types = {name: pa.string() if j == self.label_index else pa.float64() for j, name in enumerate(self.raw_names)}
        last_label = None
        try:
            with self._open(types) as reader:
                for batch in reader:
                    labels = batch.column(self.label_index) if self.has_label else None
                    last_label = labels[-1].as_py() if labels is not None and len(labels) else last_label
                    block = _float32_block([batch.column(j) for j in self.feature_index], self.bounds)
                    if not np.isfinite(block).all():
                        self.scan()  # raises, naming the cell as it is written
                        raise DataFileError(f"{self.path}: a value is not a finite float32 number")
                    yield block, labels
        except pa.ArrowException as err:
            self._fail(err)
        if last_label is not None and ("\n" in last_label or "\r" in last_label):
            self.scan()  # pyarrow gives a quote that never closes in the last cell the rest of the file

    def no_rows(self) -> DataFileError:
        self.scan()  # raises: a quote that never closes in the header, or no data rows
        return DataFileError(f"{self.path}: header only, no data rows")

    def _fail(self, err: pa.ArrowException) -> NoReturn:
        """A pyarrow error as a :class:`DataFileError` naming the row and column (:meth:`scan`)."""
        message = str(err)
        self.scan()
        if "straddl" in message:  # "straddling object straddles two block boundaries": a row longer than a block
            raise _RowTooLong(f"{self.path}: a row is longer than {self.block_size} bytes") from None
        if "Empty CSV file" in message and self.path.stat().st_size > self.block_size:  # (else the scan raised)
            raise _RowTooLong(f"{self.path}: the header is longer than {self.block_size} bytes") from None
        self._check_utf8()
        raise DataFileError(f"{self.path}: not a readable CSV file ({' '.join(message.splitlines())})") from None

    def _check_utf8(self, limit: int | None = None) -> None:
        """Refuse a file (its first ``limit`` bytes) that is not UTF-8 text, naming the byte."""
        decoder, start, problem = codecs.getincrementaldecoder("utf-8")(), 0, None  # start: file offset of chunk[0]
        with self.path.open("rb") as handle:
            while not problem and (chunk := handle.read(min(BLOCK_SIZE, (limit or math.inf) - start))):
                text = chunk.split(b"\0", 1)[0]
                try:
                    decoder.decode(text)
                except UnicodeDecodeError as err:  # err.object: the bytes held over from the last chunk, and text
                    problem = f"{err.reason} at byte {start - (len(err.object) - len(text)) + err.start}"
                if not problem and len(text) < len(chunk):
                    problem = f"NUL byte at byte {start + len(text)}"
                start += len(chunk)
        if not problem and (limit is None or start < limit):
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as err:
                problem = f"{err.reason} at the end"
        if problem:
            raise DataFileError(f"{self.path}: not a text CSV file (expected UTF-8; {problem})") from None

    def scan(self, index: int | None = None) -> int:
        """One pass of Python's ``csv`` module, on the error path only: raise for a quoted value never closed (it
        takes the rest of the file), then the first ragged row or bad feature cell; else the line of row ``index``."""
        lines, problem, found = [0], None, None

        def numbered(handle: Iterator[str]) -> Iterator[str]:
            for lines[0], text in enumerate(handle, 1):  # the count is read while the reader runs
                yield text
            yield '"\n'

        previous = csv.field_size_limit(max(csv.field_size_limit(), MAX_BLOCK_SIZE))  # an open quote takes the rest
        start, row, header = 1, -1, []  # row: data rows before this one (-1: the header)
        try:
            with self.path.open(encoding="utf-8-sig", errors="backslashreplace", newline="") as handle:
                reader = csv.reader(numbered(handle))
                for cells in reader:
                    if start > lines[0]:  # the sentinel's own row: every quote closed
                        break
                    if reader.line_num > lines[0]:  # the last row took the sentinel: its last value never closed
                        names, field = header if row >= 0 else [], len(cells) - 1
                        column = repr(names[field].strip()) if field < len(names) else str(field + 1)
                        raise DataFileError(f"{self.path}, row {start}, column {column}: "
                                            "a quoted value opens here and is never closed")  # fmt: skip
                    if cells:
                        header = header or cells
                        found = start if row == index else found
                        problem = problem or (row >= 0 and self._problem(start, cells, len(header)))
                        row += 1
                    start = reader.line_num + 1
        except csv.Error:  # a NUL byte: the UTF-8 check names it
            return start
        finally:
            csv.field_size_limit(previous)  # process-wide: the caller's limit again
        if problem or row < 1:  # no header: nothing but line ends
            raise DataFileError(problem or f"{self.path}: " + ("header only, no data rows" if header else EMPTY))
        return found if found is not None else start

    row_of = scan  # the line where data row ``index`` starts

    def _problem(self, line: int, cells: list[str], columns: int) -> str | None:
        """The row's wrong number of cells, or its first feature cell that is not a finite float32 number."""
        if (n := len(cells)) != columns:
            trailing = " (the line ends with a separator)" * (n > columns and not "".join(cells[columns:]).strip())
            return f"{self.path}, row {line}: {n} column{'s' * (n != 1)}, but the header has {columns}{trailing}"
        for k, j in enumerate(self.feature_index):
            text = cells[j].strip(" \t")
            number = float(text) if DECIMAL.fullmatch(text) else None
            what = f"not a number: {shown(cells[j])}" if number is None else _not_float32(number, cells[j].strip())
            if what:
                missing = not self.has_label and self.label is not None
                hint = f" (no column {self.label!r} holds the labels: is this it?)" if missing else ""
                return f"{self.path}, row {line}, column {self.feature_names[k]!r}: {what}{hint}"
        return None


MAGIC = [  # the first bytes of files that are not CSV text, and what to do with them
    (b"\x1f\x8b", "it is gzip-compressed; decompress it first (gunzip)"),
    (b"BZh", "it is bzip2-compressed; decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "it is xz-compressed; decompress it first (unxz)"),
    (b"\x28\xb5\x2f\xfd", "it is zstd-compressed; decompress it first (unzstd)"),
    (b"PK\x03\x04", "it is a zip archive (an Excel workbook is one); unpack it, or save the sheet as CSV"),
    (b"PAR1", "it is a Parquet file; give it the extension .parquet"),
    (b"\x93NUMPY", "it is a NumPy .npy array; put x.npy (and y.npy) in a directory and pass the directory"),
]
SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
NUMERIC_TYPES = ("integer", "floating", "boolean", "decimal")  # Parquet feature columns (pyarrow.types.is_*)


def _other_format(path: Path) -> str | None:
    """What a file is when its first bytes say it is not text (compressed, an archive...), else None."""
    with path.open("rb") as handle:
        start = handle.read(8)
    return next((what for magic, what in MAGIC if start.startswith(magic)), None)


def _not_float32(number: float, text: str) -> str | None:
    """Why a float64 value is not a finite float32 number (``1e39`` is finite in float64), or None."""
    with np.errstate(over="ignore"):
        if np.isfinite(np.float32(number)):
            return None
    return f"{shown(text)} is not a finite {'float32 ' * math.isfinite(number)}number"


def _float32_block(columns: Sequence[pa.Array], bounds: np.ndarray) -> np.ndarray:
    """Float64 columns as one (rows, columns) float32 array (overflow gives inf, checked later); ``bounds``, (2,
    columns), widens to each column's least and greatest value."""
    block = np.empty((len(columns[0]) if columns else 0, len(columns)), dtype=np.float32)
    with np.errstate(over="ignore"):
        for j, column in enumerate(columns):
            block[:, j] = values = column.to_numpy(zero_copy_only=False)
            if len(values):
                bounds[:, j] = min(bounds[0, j], values.min()), max(bounds[1, j], values.max())
    return block


FLATTENED = ("{}: the values differ, but as float32 (the rows' storage) they are one value, so the fit cannot use "
             "the column; subtract an offset (e.g. their mean) first")  # fmt: skip


def flattened(names: list[str], bounds: np.ndarray) -> tuple[str, ...]:
    """The columns whose values differ but round to one float32 value (e.g. 1.7e9 plus noise below 64), from their
    least and greatest values: stored as float32, such a column is constant, of no use to a fit."""
    pairs = zip(names, *bounds, strict=True)
    return tuple(name for name, lo, hi in pairs if lo < hi and np.float32(lo) == np.float32(hi))


def shown(text: str, limit: int = 40) -> str:
    """``repr(text)`` shortened to about ``limit`` characters (a cell can be megabytes long)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def _unreadable(path: Path, what: str, err: Exception) -> DataFileError:
    return DataFileError(f"{path}: not a readable {what} ({type(err).__name__}: {' '.join(str(err).splitlines())})")


class _ParquetSource:
    """A Parquet file: numeric feature columns and a label column of any type that casts to text."""

    def __init__(self, path: Path, label: str | None, batch_rows: int) -> None:
        self.path, self.label, self.batch_rows = path, label, batch_rows
        if (other := _other_format(path)) and not other.startswith("it is a Parquet"):
            raise DataFileError(f"{path}: not a Parquet file: {other}")
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as err:
            raise _unreadable(path, "Parquet file", err) from None
        schema = self.file.schema_arrow
        self.has_label, self.feature_names = _columns(schema.names, path, label)
        self.bounds = np.tile([[np.inf], [-np.inf]], len(self.feature_names))  # (see _float32_block)
        for name in self.feature_names:
            if not any(getattr(pa.types, f"is_{kind}")(schema.field(name).type) for kind in NUMERIC_TYPES):
                raise DataFileError(f"{path}, column {name!r}: type {schema.field(name).type} is not numeric")

    def row_of(self, index: int) -> int:
        return index + 1

    def no_rows(self) -> DataFileError:
        return DataFileError(f"{self.path}: no data rows")

    def batches(self) -> Iterator[tuple[np.ndarray, pa.Array | None]]:
        """Checked features (a null or a value not finite in float32 is an error) and the labels as text."""
        offset, columns = 0, self.feature_names + ([self.label] if self.has_label else [])
        try:
            for batch in self.file.iter_batches(batch_size=self.batch_rows, columns=columns):
                features = [batch.column(name) for name in self.feature_names]
                # (integers beyond 2**53 round, as float32 would anyway; a null becomes nan)
                block = _float32_block([pc.cast(column, pa.float64(), safe=False) for column in features], self.bounds)
                if not np.isfinite(block).all():
                    row, k = np.argwhere(~np.isfinite(block))[0]
                    value = features[k][row].as_py()
                    what = "missing value (null)" if value is None else _not_float32(float(value), str(float(value)))
                    raise DataFileError(
                        f"{self.path}, row {offset + row + 1}, column {self.feature_names[k]!r}: {what}"
                    )
                yield block, self._labels(batch.column(self.label)) if self.has_label else None
                offset += batch.num_rows
        except (pa.ArrowException, OSError) as err:
            raise _unreadable(self.path, "Parquet file", err) from None

    def _labels(self, column: pa.Array) -> pa.Array:
        try:
            return pc.cast(column, pa.string())
        except pa.ArrowException as err:
            problem = f"labels of type {column.type} are not text ({' '.join(str(err).splitlines())})"
            raise DataFileError(f"{self.path}, column {self.label!r}: {problem}") from None


class _LabelCoder:
    """Codes a label column 0/1 as it streams past (provisionally, by first appearance; a third value 0, refused in
    :attr:`third`); :meth:`finish` raises a label problem only then, so that one in the features is reported first."""

    def __init__(self, path: str | Path, column: str | None, row_of: Callable[[int], int]) -> None:
        self.path, self.column, self.row_of = path, column, row_of
        self.keys: dict[str, int] = {}  # class (see _label_key) -> provisional code
        self.names: list[str] = []  # provisional code -> the class's first spelling
        self.problem: DataFileError | None = None
        self.third: DataFileError | None = None

    def add(self, values: pa.Array, offset: int) -> np.ndarray:
        """Provisional int8 codes of ``values``, the data rows from ``offset`` on."""
        if self.problem is None:
            try:
                encoded = values.dictionary_encode(null_encoding="encode")
                texts = encoded.dictionary.to_pylist()
                lookup = np.array([self._code(text, values, offset) for text in texts], dtype=np.int8)
                return lookup[encoded.indices.to_numpy(zero_copy_only=False)]
            except DataFileError as err:
                self.problem = err
        return np.zeros(len(values), dtype=np.int8)

    def _code(self, text: str | None, values: pa.Array, offset: int) -> int:
        def where() -> str:  # the first row holding ``text``: only for a message
            first = values.is_null() if text is None else pc.fill_null(pc.equal(values, text), False)
            row = self.row_of(offset + int(np.argmax(first.to_numpy(zero_copy_only=False))))
            return f"{self.path}, row {row}, column {self.column!r}"

        if text is None or not text.strip():
            raise DataFileError(f"{where()}: missing label ({'null' if text is None else 'empty cell'})")
        key = _label_key(text)
        if key is None:
            raise DataFileError(f"{where()}: label {shown(text.strip())} is not a finite value")
        if key not in self.keys and len(self.keys) == 2:
            seen = ", ".join(shown(name) for name in self.names)
            problem = f"third label value {shown(text.strip())} (labels must take two values; seen {seen})"
            self.third = self.third or DataFileError(f"{where()}: {problem}")
            return 0
        if key not in self.keys:
            self.keys[key] = len(self.names)
            self.names.append(text.strip())
        return self.keys[key]

    def finish(self, third_label: bool) -> tuple[np.ndarray, list[str]]:
        """``(mapping, classes)``: ``mapping[provisional code]`` is the final code of class ``classes[k]``; a third
        label value is raised unless ``third_label``."""
        refusal = self.problem if third_label else self.third or self.problem  # (a third value came before a problem)
        if refusal is not None:
            raise refusal
        numbers = {key: _label_number(key) for key in self.keys}  # numbers (true, false among them) before text
        ordered = sorted(self.keys, key=lambda key: (1, 0, key) if numbers[key] is None else (0, numbers[key], ""))
        mapping = np.array([ordered.index(key) for key in self.keys], dtype=np.int8)
        return mapping, [self.names[self.keys[key]] for key in ordered]


def same_label(a: str, b: str) -> bool:
    """Whether two label texts name one class (``"1"``, ``"1.0"`` and ``"true"``; ``"True"`` and ``"true"``)."""
    return _label_key(a) == _label_key(b)


INTEGER = re.compile(r"[+-]?[0-9]+")
DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def _label_number(text: str) -> int | float | None:
    """The number a label writes, or None: plain decimals only, as pyarrow reads them (``int`` takes ``1_0``)."""
    return int(text) if INTEGER.fullmatch(text) else float(text) if DECIMAL.fullmatch(text) else None


def label_value(text: str) -> bool | int | float | None:
    """The value pandas reads a label text as: a bool for true or false (any case), a number, else None (a text)."""
    text = text.strip()
    return text.lower() == "true" if text.lower() in ("false", "true") else _label_number(text)


def _label_key(value: str) -> str | None:
    """A label's class: true and false are 1 and 0, whole numbers exact (``1e17`` is not ``100000000000000001``);
    None for nan and infinities."""
    text = value.strip()
    if text.lower() in ("false", "true"):
        return str(int(text.lower() == "true"))
    number = _label_number(text)
    if not isinstance(number, float):
        return text if number is None else repr(number)
    if not math.isfinite(number):
        return None
    return str(int(number)) if number.is_integer() else repr(number)


def _read_npz(path: Path) -> Table:
    """``x`` (N, D) and optionally ``y`` (N,) from an ``.npz`` archive."""
    if not zipfile.is_zipfile(path):
        raise DataFileError(f"{path}: not an .npz archive (an .npz is a zip file of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as err:
        raise _unreadable(path, ".npz archive", err) from None
    if "x" not in arrays:
        raise DataFileError(f"{path}: no array named 'x' (found: {', '.join(arrays) or 'none'})")
    for name, array in arrays.items():
        if not isinstance(array, np.ndarray):  # a member that is no .npy file comes back as its raw bytes
            raise DataFileError(f"{path}: member {name!r} is not a readable .npy array")
    x = _check_features(arrays["x"], path, "x")
    labels, classes = (None, list(NO_CLASSES)) if "y" not in arrays else _check_labels(arrays["y"], len(x), path)
    names, bounds = default_names(x.shape[1]), np.stack([x.min(0), x.max(0)]) if len(x) else np.zeros((2, x.shape[1]))
    return Table(np.ascontiguousarray(x, dtype=np.float32), labels, classes, names, flattened=flattened(names, bounds))


def _read_npy_directory(path: Path) -> Table:
    """Memory-map ``x.npy`` (checked in chunks, never read whole) and read ``y.npy`` and ``meta.json`` if there."""
    x_path, y_path = path / "x.npy", path / "y.npy"
    if not x_path.is_file():
        raise DataFileError(f"{path}: directory has no x.npy (expected x.npy (rows, features) and y.npy (rows,))")
    x = _check_features(_load_npy(x_path), x_path, "x")
    meta = _read_meta(path / "meta.json", x.shape)
    names = meta["feature_names"] if meta else default_names(x.shape[1])
    flat = tuple(name for name in (meta or {}).get("flattened") or () if name in names)  # (convert's check)
    if not y_path.exists():
        return Table(x, None, list(NO_CLASSES), names, flattened=flat)
    y = _label_vector(_load_npy(y_path, "c"), len(x), y_path)  # copy-on-write: torch wraps it (no copy)
    if meta is None:
        return Table(x, *(_byte_codes(y) or _check_labels(y, len(x), y_path)), names)
    values = np.unique(y)
    if len(other := np.setdiff1d(values, [0, 1])):
        raise DataFileError(f"{y_path}: holds {other[0].item()!r}, but meta.json's classes are coded 0 and 1")
    if values.max() >= len(meta["classes"]):
        raise DataFileError(f"{y_path}: holds 1, but meta.json names one class, coded 0")
    y = y if _byte_codes(y) else np.asarray(y, dtype=np.float32)
    return Table(x, y, list(meta["classes"]), names, flattened=flat)


def _byte_codes(y: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    """``y`` itself (the map: no copy of N labels) and its classes when it holds one-byte 0/1 codes, 0 among them,
    as ``convert`` writes them; else None. Counted in blocks."""
    if y.dtype.itemsize != 1 or y.dtype.kind not in "iu":
        return None
    zeros = sum(int(np.count_nonzero(y[start : start + 2**20] == 0)) for start in range(0, len(y), 2**20))
    ones = sum(int(np.count_nonzero(y[start : start + 2**20] == 1)) for start in range(0, len(y), 2**20))
    return (y, ["0", "1"] if ones else ["0"]) if zeros and zeros + ones == len(y) else None


def _load_npy(path: Path, mode: str = "r") -> np.ndarray:
    try:
        return np.load(path, mmap_mode=mode, allow_pickle=False)
    except Exception as err:
        raise _unreadable(path, ".npy array", err) from None


def _read_meta(path: Path, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """The ``meta.json`` written by :func:`convert` (None when there is none), checked against x's shape."""
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise _unreadable(path, "meta.json", err) from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise DataFileError(f"{path}: not a meta.json of format {META_FORMAT} (written by logreg convert)")
    classes, names = meta.get("classes"), meta.get("feature_names")
    if not (isinstance(classes, list) and len(classes) in (1, 2) and all(isinstance(c, str) for c in classes)):
        raise DataFileError(f"{path}: 'classes' must be a list of two strings (or one), got {classes!r}")
    if len(classes) == 2 and same_label(*classes):
        raise DataFileError(f"{path}: 'classes' must name two different classes, got {classes!r}")
    if not (isinstance(names, list) and len(names) == shape[1] and all(isinstance(n, str) for n in names)):
        raise DataFileError(f"{path}: 'feature_names' must be {shape[1]} strings to match x.npy, got {names!r}")
    if len(set(names)) < len(names):  # as a CSV header's
        raise DataFileError(f"{path}: 'feature_names' names a column twice, got {names!r}")
    if meta.get("rows", shape[0]) != shape[0]:
        raise DataFileError(f"{path}: 'rows' is {meta['rows']!r}, but x.npy has {shape[0]} rows")
    return meta


def _check_features(x: np.ndarray, path: Path, name: str) -> np.ndarray:
    """Shape, dtype and finiteness as float32, in chunks (a memory map is never read whole into memory)."""
    if x.ndim == 2 and x.shape[1] and not len(x):
        raise DataFileError(f"{path}: no data rows (array {name!r} has shape {x.shape})")
    if x.ndim != 2 or 0 in x.shape:
        raise DataFileError(f"{path}: array {name!r} must have shape (rows, features), got {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataFileError(f"{path}: array {name!r} must be numeric, got dtype {x.dtype}")
    for start, chunk in _row_chunks(x):
        with np.errstate(over="ignore"):
            finite = np.isfinite(chunk.astype(np.float32, copy=False))
        if not finite.all():  # (only then the search: argwhere alone took 0.9 s of 10M rows)
            row, col = np.argwhere(~finite)[0]
            value = chunk[row, col].item()
            what = "is not finite" if not math.isfinite(value) else f"({value!r}) is not a finite float32 number"
            raise DataFileError(
                f"{path}: {name}[{start + row}, {col}] (row {start + row + 1}, column {col + 1}) {what}"
            )
    return x


def _row_chunks(x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, rows)`` over x; a memory map's rows are read from its file, so that none stays resident."""
    if not (isinstance(x, np.memmap) and x.filename and x.flags.c_contiguous):
        yield from ((start, x[start : start + CHUNK_ROWS]) for start in range(0, len(x), CHUNK_ROWS))
        return
    with open(x.filename, "rb") as handle:
        handle.seek(x.offset)
        for start in range(0, len(x), CHUNK_ROWS):
            rows = min(CHUNK_ROWS, len(x) - start)
            chunk = np.fromfile(handle, dtype=x.dtype, count=rows * x.shape[1])
            if len(chunk) != rows * x.shape[1]:
                raise DataFileError(f"{x.filename}: file is shorter than its header says")
            yield start, chunk.reshape(rows, x.shape[1])


def _check_labels(y: np.ndarray, n_rows: int, path: Path) -> tuple[np.ndarray, list[str]]:
    """Array ``y`` coded by a CSV's rules (:func:`map_labels`), each distinct value once, in order of appearance."""
    values, first, inverse = np.unique(_label_vector(y, n_rows, path), return_index=True, return_inverse=True)
    order = np.argsort(first)
    texts = values.astype(str) if values.dtype.kind in "US" else [str(value) for value in values.tolist()]
    codes, classes = map_labels([texts[i] for i in order], path, first[order] + 1, column="y")
    return codes[np.argsort(order)][inverse], classes


def _label_vector(y: np.ndarray, n_rows: int, path: Path) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n_rows:
        raise DataFileError(f"{path}: array 'y' must have shape ({n_rows},) to match the features, got {y.shape}")
    if np.issubdtype(y.dtype, np.inexact) and not np.isfinite(y).all():
        row = int(np.flatnonzero(~np.isfinite(y))[0])
        raise DataFileError(f"{path}: y[{row}] (row {row + 1}) is {y[row].item()!r}, not a label")
    return y


def default_names(n_features: int) -> list[str]:
    """``x0, x1, ...``: names for features that come without a header."""
    return [f"x{j}" for j in range(n_features)]


__all__ = ["DataFileError", "Table", "convert", "map_labels", "read_table"]
