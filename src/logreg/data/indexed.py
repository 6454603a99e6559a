"""The data-module contract (:class:`IndexedDataModule`): its seeded split, whole-batch gathers, streamed chunks.
Batch order is a pure function of ``(seed, epoch)``: reproducible, resumable, and disjoint across DDP ranks. Earns its
size: nothing of N rows is copied (sorted int32 split indices, memory-mapped labels, per-chunk masks)."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import math
import sys
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Any, TypeVar

import numpy as np
import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from logreg.data.readers import default_names

Batch = tuple[Tensor, Tensor]
T = TypeVar("T")

# Rows per streamed chunk (2 MiB of float32 at 32 features): below torch's parallel grain, so one thread, faster here
CHUNK_ELEMENTS = 2**19
CHUNK_ROWS = 16384
CHECKSUM_BYTES = 2**25  # of float32 rows per block of values_checksum
SPLIT_NAMES = np.array(["-", "train", "val", "test"])  # row_splits: by split code, 0 for a row in none


def chunk_rows(n_features: int) -> int:
    """Rows per chunk when a whole split is streamed: at most 16,384, fewer for wide data (bounded memory)."""
    return max(1, min(CHUNK_ROWS, CHUNK_ELEMENTS // max(1, n_features)))


class SplitStream:
    """A whole split as one batch, read as contiguous chunks of ``size`` rows (views where every row is the split's).
    Under DDP each rank streams every ``world_size``-th chunk of the split's; ``total_rows`` counts the whole split."""

    def __init__(self, features: Tensor | np.ndarray, labels: Tensor, indices: Tensor, shard: tuple[int, int],
                 size: int) -> None:  # fmt: skip
        self.features, self.labels, self.indices, self.total_rows = features, labels, indices, len(indices)
        self.shard, self.size, self.samples = shard, size, {}
        first, stop = (int(indices[0]), int(indices[-1]) + 1) if len(indices) else (0, 0)
        edges = [edge for start in range(first, stop, size) for edge in (start, min(start + size, stop))]
        found = torch.searchsorted(indices, torch.tensor(edges, dtype=indices.dtype, device=indices.device)).tolist()
        self.split_ranges = list(zip(edges[::2], edges[1::2], found[::2], found[1::2], strict=True))  # lo:hi in indices
        held = [(start, stop, lo, hi) for start, stop, lo, hi in self.split_ranges if hi > lo]
        self.ranges = held[shard[0] :: shard[1]]

    def sample(self, stride: int) -> SplitStream:
        """The rows of every ``stride``-th chunk of the file (the same rows on any number of ranks), made once."""
        if stride not in self.samples:  # (slices of ``indices``: no temporary of the split's size)
            parts = [self.indices[lo:hi] for *_, lo, hi in self.split_ranges[::stride]]
            indices = torch.cat([self.indices[:0], *parts])
            self.samples[stride] = SplitStream(self.features, self.labels, indices, self.shard, self.size)
        return self.samples[stride]

    def chunks(self, dtype: torch.dtype, device: torch.device) -> Iterator[Batch]:
        """This rank's rows of the split, chunk by chunk: features (B, D) and labels (B, 1) in ``dtype``."""
        for where in self.ranges:
            yield self.chunk(where, dtype, device)

    def map(self, fn: Callable[[Tensor, Tensor], T], dtype: torch.dtype, device: torch.device, parallel: bool = False,
            ranges: Sequence[tuple[int, int, int, int]] | None = None) -> Iterator[T]:  # fmt: skip
        """``fn(x, y)`` of each of :meth:`chunks` (or of ``ranges``, some of :attr:`ranges`), in their order, on one
        thread (see :func:`one_thread`). ``parallel`` (for heavy chunks, e.g. a Hessian's): on the CPU as many chunks
        at once as torch has threads, each on one (torch lets go of the GIL). A pass of Newton's sums over 6M x 32 rows
        took 0.7 s so on 2 cores, 0.9 s on one; a pass of the loss and gradient alone was slower so (the GIL).
        Summed in this order, the results give the same bits on any number of threads."""
        ranges = self.ranges if ranges is None else ranges
        workers = torch.get_num_threads() if parallel and device.type == "cpu" else 1  # (a GPU: its own queue)
        with one_thread():
            if workers == 1 or len(ranges) < 2:
                yield from (fn(*self.chunk(where, dtype, device)) for where in ranges)
                return
            with ThreadPoolExecutor(workers) as pool:
                pending: collections.deque = collections.deque()
                for where in ranges:
                    pending.append(pool.submit(lambda where: fn(*self.chunk(where, dtype, device)), where))
                    if len(pending) > workers:  # (a result held per thread at most: a wide Newton's is (D+1)^2)
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()

    def chunk(self, where: tuple[int, int, int, int], dtype: torch.dtype, device: torch.device) -> Batch:
        """The rows of one of :attr:`ranges` ``(start, stop, lo, hi)`` as :meth:`chunks` yields them."""
        start, stop, lo, hi = where
        keep = None if hi - lo == stop - start else self.indices[lo:hi] - start  # the chunk's own rows
        if device.type != "cpu" and not isinstance(self.features, np.ndarray):  # on the GPU already: a view or a gather
            x, y = self.features[start:stop], self.labels[start:stop]
            x, y = (x, y) if keep is None else (x[keep], y[keep])
        else:
            x, y = (host_rows(array, start, stop, keep, dtype) for array in (self.features, self.labels))
        return x.to(device, dtype, non_blocking=True), y.to(device, dtype, non_blocking=True)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Torch's CPU kernels on one thread inside the block: chunked elementwise work ran 5x faster so on 2 busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


READ_ONLY_LOCK = threading.Lock()  # see host_rows


def host_rows(array: Tensor | np.ndarray, start: int, stop: int, keep: Tensor | None, dtype: torch.dtype) -> Tensor:
    """Rows ``start:stop`` (or those at offsets ``keep``) of a CPU tensor or memory map in ``dtype``: a view or one
    NumPy copy (torch's copies were 10-20x slower on 2 busy cores)."""
    if isinstance(array, Tensor) and keep is None and array.dtype == dtype:
        return array[start:stop]
    rows = array[start:stop] if isinstance(array, np.ndarray) else array[start:stop].numpy()
    target = torch.empty(0, dtype=dtype).numpy().dtype
    if keep is not None:
        return torch.from_numpy(np.take(rows, keep.numpy(), 0).astype(target, copy=False))
    if rows.dtype != target:
        return torch.from_numpy(np.array(rows, dtype=target))
    with READ_ONLY_LOCK, warnings.catch_warnings():  # a read-only map: torch warns that writes would be undefined
        warnings.simplefilter("ignore", UserWarning)  # (none are made); catch_warnings is not for threads: the lock
        return torch.from_numpy(rows)


def split_stream(features: Tensor | np.ndarray, labels: Tensor, indices: Tensor, rank: int = 0, world_size: int = 1,
                 size: int | None = None) -> SplitStream:  # fmt: skip
    """The :class:`SplitStream` of rows ``indices`` (in file order) for ``rank``: chunks of ``size`` rows (default
    :func:`chunk_rows`) over ``min..max(indices)``, every ``world_size``-th one from the ``rank``-th."""
    size, block = size or chunk_rows(int(features.shape[1])), 2**20
    # sorted unless ascending already, checked a block at a time (no comparison of N rows at once), on one thread
    # (on 2 busy cores two threads took 0.2 s of 6M training rows, one 0.025 s)
    with one_thread():
        if not all(bool((indices[s : s + block + 1].diff() >= 0).all()) for s in range(0, len(indices), block)):
            indices = indices.sort().values
    return SplitStream(features, labels, indices, (rank, world_size), size)


def values_checksum(features: Tensor | np.ndarray, labels: Tensor, flip: bool = False) -> dict[str, str]:
    """Checksums of every row's feature values and label codes as float32 bits: the CRC-32 (zlib's) of each block of
    about :data:`CHECKSUM_BYTES` of rows, on torch's number of threads at once (zlib lets go of the GIL: 0.19 s for
    10M x 32 on 2 cores, 0.42 s on one), then the CRC-32 of theirs in order. A changed value, swapped cells or
    swapped rows change them, with the same digits on any machine and thread count. ``flip``: of ``1 - labels`` (the
    file's own coding of swapped codes)."""
    block_rows = max(1, CHECKSUM_BYTES // (4 * max(1, int(features.shape[1]))))

    def block(start: int) -> tuple[int, int]:
        def crc(array: Tensor | np.ndarray) -> int:  # (the rows as NumPy float32, on the host: zlib reads their bytes)
            rows = array[start : start + block_rows]
            rows = (rows.cpu().numpy() if isinstance(rows, Tensor) else np.asarray(rows)).astype(np.float32, copy=False)
            return zlib.crc32(np.ascontiguousarray(rows).data)

        return crc(features), crc(1 - labels[start : start + block_rows] if flip else labels)

    with ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
        crcs = np.array(list(pool.map(block, range(0, len(labels), block_rows))), dtype="<u4").reshape(-1, 2)
    return {"feature_values": f"{zlib.crc32(crcs[:, 0].tobytes()):08x}",
            "label_values": f"{zlib.crc32(crcs[:, 1].tobytes()):08x}"}  # fmt: skip


def shard_batches(order: Tensor, batch_size: int, rank: int = 0, world_size: int = 1) -> list[Tensor]:
    """This rank's share of each global step of ``batch_size * world_size`` rows of ``order``: as many batches on
    every rank (DDP needs that), disjoint; a last step with fewer rows than ranks joins the one before."""
    steps = list(order.split(batch_size * world_size))
    if len(steps) > 1 and len(steps[-1]) < world_size:
        steps[-2:] = [torch.cat(steps[-2:])]
    return [step.tensor_split(world_size)[rank] for step in steps]


def count_batches(n_rows: int, batch_size: int, world_size: int = 1) -> int:
    """``len(shard_batches(...))`` without building the batches."""
    steps = math.ceil(n_rows / (batch_size * world_size))
    return steps - 1 if steps > 1 and n_rows - (steps - 1) * batch_size * world_size < world_size else steps


class EpochBatches:
    """Index batches of one split for one epoch (``batch_size`` 0: the whole split, or its ``stream`` for full-batch
    training); Lightning calls :meth:`set_epoch` before each training epoch."""

    def __init__(self, indices: Tensor, batch_size: int, shuffle: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1, stream: SplitStream | None = None) -> None:  # fmt: skip
        self.indices, self.stream, self.shuffle, self.seed = indices, stream, shuffle, seed
        self.batch_size = batch_size or max(1, -(-len(indices) // world_size))
        self.rank, self.world_size, self.epoch = rank, world_size, 0
        self.skip: tuple[int, int] | None = None  # (epoch, batches): where a resumed run's first epoch goes on

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> Tensor:
        """This epoch's order of the split's rows, the same on every rank: a permutation seeded by ``(seed, epoch)``."""
        if not self.shuffle:
            return self.indices
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, dtype=np.uint64)[0]  # (mixed)
        # In the indices' dtype: int32 draws the same permutation as int64 in half the memory
        perm = torch.randperm(len(self.indices), generator=torch.Generator().manual_seed(int(state)),
                              dtype=self.indices.dtype)  # fmt: skip
        if self.indices.device.type == "cpu":  # NumPy gathers with int32 as it is (torch would widen it to int64)
            return torch.from_numpy(self.indices.numpy()[perm.numpy()])
        return self.indices[perm.to(self.indices.device)]

    def __iter__(self) -> Iterator[Tensor | SplitStream]:
        # A generator: the order is drawn at the first batch, not when the iterator is made. Lightning makes the
        # DataLoader's iterator of a (resumed) run's first epoch before it calls set_epoch.
        stream = [self.stream] if self.stream is not None else None
        batches = stream or shard_batches(self.order(), self.batch_size, self.rank, self.world_size)
        if self.skip is not None and self.skip[0] == self.epoch:  # resumed mid-epoch: the rest of this epoch
            batches = batches[self.skip[1] :]
        self.skip = None
        yield from batches

    def __len__(self) -> int:
        return 1 if self.stream is not None else count_batches(len(self.indices), self.batch_size, self.world_size)


class ResumableLoader(DataLoader):
    """The training DataLoader, resumable mid-epoch through Lightning's loader ``state_dict``: the epoch and the
    batches trained (``batches_done``), so a stopped run goes on with the next batch of the same order."""

    def __init__(self, *args: Any, batches_done: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self.batches_done()}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.sampler.skip = (state_dict["epoch"], state_dict["batches_done"])


def take_rows(array: Tensor | np.ndarray, rows: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """``array[rows]`` of a tensor (consecutive CPU rows: a view) or memory map, in ``dtype`` (float32 or 64) on CPU:
    one NumPy take from the rows' span (a fancy index of the map took 3x as long; torch's conversion, on 2 busy
    threads, 20x)."""
    if isinstance(array, Tensor) and array.device.type != "cpu":
        return array[rows].to(dtype)
    first, stop = (int(rows.min()), int(rows.max()) + 1) if len(rows) else (0, 0)
    if isinstance(array, Tensor) and stop - first == len(rows) and array.dtype == dtype:  # (rows: distinct)
        return array[first:stop]
    span = array[first:stop] if isinstance(array, np.ndarray) else array[first:stop].numpy()
    target = torch.empty(0, dtype=dtype).numpy().dtype
    return torch.from_numpy(np.take(span, (rows - first).numpy(), 0).astype(target, copy=False))


class RowGather(Dataset):
    """A dataset keyed by a whole batch of row indices (``batch_size=None``): one gather, no collate."""

    def __init__(self, features: Tensor | np.ndarray, labels: Tensor, dtype: torch.dtype = torch.float32) -> None:
        self.features, self.labels, self.dtype = features, labels, dtype

    def __getitem__(self, rows: Tensor | SplitStream) -> Batch | SplitStream:
        if isinstance(rows, SplitStream):  # a batch already, read by the model chunk by chunk
            return rows
        if isinstance(self.features, np.ndarray):  # (NumPy: torch's sort took 2.5 ms for 16,384 sorted rows)
            rows = torch.from_numpy(np.sort(rows.numpy()))
        labels = take_rows(self.labels, rows.to(self.labels.device), self.dtype)
        return take_rows(self.features, rows, self.dtype), labels


def stratified_split(labels: Tensor, val_fraction: float, test_fraction: float, seed: int) -> tuple[Tensor, ...]:
    """Sorted train/val/test row indices: each class gives ``round(fraction * size)`` rows (at least one) to val and
    test, drawn by its own generator. Larger class first (then row 0's), so that the spelling of labels does not
    matter; a byte per row, int32 indices when they fit."""
    generator, flat = torch.Generator().manual_seed(seed), labels.view(-1).numpy()
    index = torch.int32 if len(flat) < 2**31 else torch.int64
    part = np.zeros(len(flat), np.uint8)  # (N,) 0 train, 1 val, 2 test
    # Larger class first, then the one whose first row comes first
    for cls in sorted(class_values(labels.view(-1)), key=lambda v: (-np.count_nonzero(m := flat == v), np.argmax(m))):
        members = flat == cls
        size = int(np.count_nonzero(members))
        n_val, n_test = (max(1, round(part_ * size)) if part_ > 0 else 0 for part_ in (val_fraction, test_fraction))
        if n_val + n_test >= size:
            raise ValueError(f"val_fraction={val_fraction} and test_fraction={test_fraction} leave no training row "
                             f"of class {cls:g} ({size} rows); lower the fractions or provide more data")  # fmt: skip
        # int32 draws the same permutation as the default int64 (and advances the generator alike)
        order = torch.randperm(size, generator=generator, dtype=index).numpy()
        codes = np.zeros(size, np.uint8)  # by rank among the class's rows
        codes[order[:n_val]], codes[order[n_val : n_val + n_test]] = 1, 2
        part[members] = codes  # NumPy assigns through the mask (torch would first make int64 indices of it)
        del members, order, codes
    return tuple(row_indices(part, code, index) for code in (0, 1, 2))


def class_values(flat: Tensor, block: int = 2**20) -> list[float]:
    """The label values present, ascending: 0/1 codes (every logreg data module's) are counted a block at a time."""
    values = flat.numpy()
    counts = [sum(int(np.count_nonzero(values[s : s + block] == code)) for s in range(0, len(values), block))
              for code in (0, 1)]  # fmt: skip
    return torch.unique(flat).tolist() if sum(counts) != len(values) else [float(c) for c in (0, 1) if counts[c]]


def row_indices(part: np.ndarray, code: int, dtype: torch.dtype, block: int = 2**16) -> Tensor:
    """The sorted rows where ``part == code`` as a ``dtype`` tensor, found a block at a time (no N-row int64)."""
    blocks, found = range(0, len(part), block), 0
    rows = np.empty(sum(int(np.count_nonzero(part[start : start + block] == code)) for start in blocks),
                    torch.empty(0, dtype=dtype).numpy().dtype)  # fmt: skip
    for start in blocks:
        hits = np.flatnonzero(part[start : start + block] == code) + start
        rows[found : found + len(hits)] = hits
        found += len(hits)
    return torch.from_numpy(rows)


class IndexedDataModule(LightningDataModule):
    """The data-module contract: what the model, the report and the CLI read from logreg's data. A subclass reads its
    rows in ``__init__`` and hands them to :meth:`use_rows`; :meth:`setup` makes the split. On CUDA, in-memory arrays
    are copied to the GPU once when they take under half of its free memory."""

    features: Tensor | np.ndarray
    labels: Tensor

    def __init__(self, val_fraction: float, test_fraction: float, batch_size: int, shuffle: bool,
                 split_seed: int) -> None:  # fmt: skip
        super().__init__()
        for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        if val_fraction + test_fraction >= 1:
            total = val_fraction + test_fraction
            raise ValueError(f"val_fraction + test_fraction must be < 1 to leave training rows, got {total:g}")
        if batch_size < 0:
            raise ValueError(f"batch_size must be >= 1, or 0 for the whole split as one batch, got {batch_size}")
        if not 0 <= split_seed < 2**64:  # torch.Generator's seeds
            raise ValueError(f"split_seed must be >= 0{'' if split_seed < 0 else ' and < 2**64'}, got {split_seed}")
        self.val_fraction, self.test_fraction, self.split_seed = val_fraction, test_fraction, split_seed
        self.batch_size, self.shuffle = batch_size, shuffle
        self.train_idx = self.val_idx = self.test_idx = torch.empty(0, dtype=torch.long)
        self.run_data = False  # the checkpoint's own data, split as it was (set by load_state_dict)

    def use_rows(self, features: Tensor | np.ndarray, labels: Tensor | None, classes: Sequence[str] = ("0", "1"),
                 feature_names: Sequence[str] | None = None) -> None:  # fmt: skip
        """Adopt the data: features (N, D) float32 (a tensor or memory map), labels (N, 1) of 0/1 codes (float32 or
        bytes) or None for unlabelled rows."""
        self.features, self.has_labels, self.classes = features, labels is not None, list(classes)
        self._membership = self._moments = self._row_split = self._device_copy = None  # caches of these rows
        self.labels = labels if labels is not None else torch.zeros(len(features), 1)
        self.feature_names = list(feature_names) if feature_names is not None else default_names(features.shape[1])

    @property
    def n_features(self) -> int:
        """Number of input columns; the CLI links it to the model's ``n_inputs``."""
        return int(self.features.shape[1])

    def describe(self) -> str:
        """What the data is, for messages (a file module names its path)."""
        return type(self).__name__

    def warn(self, text: str) -> None:
        """A warning about the data: one ``logreg: warning:`` line on stderr, from the first process only."""
        if self.trainer is None or self.trainer.is_global_zero:
            print(f"logreg: warning: {self.describe()}: {text}", file=sys.stderr, flush=True)

    def setup(self, stage: str) -> None:
        """Make the split once, before the first fit, validate or test; predict needs neither labels nor split."""
        stage = stage_name(stage)
        if stage == "predict" or len(self.train_idx):
            return
        if not self.has_labels:
            raise ValueError(f"{self.describe()}: no labels, which {stage} needs (unlabelled data can only predict)")
        only = self.only_class()
        if only is not None and stage == "fit":
            raise ValueError(f"{self.describe()}: every label is {only!r}; training needs two classes")
        self.make_split()

    def make_split(self) -> None:
        """``train_idx``, ``val_idx`` and ``test_idx`` by :func:`stratified_split` of the labels."""
        self._moments = None
        try:
            split = stratified_split(self.labels, self.val_fraction, self.test_fraction, self.split_seed)
        except ValueError as err:
            raise ValueError(f"{self.describe()}: {len(self.labels)} rows are too few for this split: {err}") from None
        self.train_idx, self.val_idx, self.test_idx = split

    def feature_stats(self) -> tuple[Tensor, Tensor] | None:
        """With ``standardize``, the training rows' mean and population std (1 for constant columns, as sklearn's),
        after a warning naming the columns that vary less than float32 (the rows' storage) resolves at their mean."""
        if not getattr(self, "standardize", False):
            return None
        _, mean, variance = self.train_moments()
        coarse = ((variance > 0) & (variance < (mean * 2**-20) ** 2)).nonzero().view(-1).tolist()
        if coarse:
            names = ", ".join(self.feature_names[j] for j in coarse)
            self.warn(f"{names}: std below |mean| / 2**20, so the float32 rows round their values; subtract an offset "
                      "(e.g. their mean) first")  # fmt: skip
        return mean.float(), torch.where(self.constant_columns(), 1.0, variance.sqrt()).float()

    def constant_columns(self) -> Tensor:
        """With ``standardize``, the features whose training rows do not vary (std within float64 rounding of 0, by
        the column's own magnitude, so any unit keeps a varying column): they carry nothing, so a fit keeps their weight
        at 0, as scikit-learn's scaled fit does."""
        _, mean, variance = self.train_moments()
        return variance.sqrt() <= 1e-12 * mean.abs()

    def train_moments(self) -> tuple[float, Tensor, Tensor]:
        """One pass over the training rows, made once: its positives, and (with ``standardize``) its features' mean
        and second central moment in float64, from float64 chunks summed as differences from the first row (float32
        squares overflow past ~1e19 and underflow below ~1e-19)."""
        if self._moments is not None:
            return self._moments
        standardize = getattr(self, "standardize", False)
        features = self.features if standardize else torch.empty(len(self.labels), 0)  # (N, 0) costs nothing
        total = torch.zeros(features.shape[1], dtype=torch.float64)
        squares, positives, first, n = torch.zeros_like(total), 0.0, None, max(1, len(self.train_idx))
        with one_thread():  # (B, D) elementwise work: see one_thread
            for x, y in split_stream(features, self.labels, self.train_idx).chunks(torch.float64, total.device):
                first = x[0].clone() if first is None else first
                x = (x - first).contiguous()  # (summed in one order whatever the array's layout: the same bits)
                total += x.sum(0)
                squares += x.square_().sum(0)  # (x: this chunk's own difference, squared in place)
                positives += float(y.sum())
        shift = total / n
        mean = shift + (first.double() if first is not None else 0)
        self._moments = (positives, mean, (squares / n - shift * shift).clamp_min(0))
        return self._moments

    def only_class(self) -> str | None:
        """The label of every row when the data holds one class (valid to evaluate, not to train), else None."""
        if not self.has_labels or not len(self.labels):
            return None
        values = class_values(self.labels.view(-1))
        return self.classes[int(values[0])] if len(values) == 1 else None

    def class_counts(self) -> tuple[int, int]:
        """Rows of class 0 and of class 1 in the training split (``pos_weight="balanced"`` is their ratio)."""
        positives = round(self.train_moments()[0])
        negatives = len(self.train_idx) - positives
        if positives == 0 or negatives == 0:
            raise ValueError(f"{self.describe()}: the training split holds one class only")
        return negatives, positives

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this data, saved in checkpoints: a resumed fit must train on the same rows."""
        return {"rows": len(self.labels), "feature_names": list(self.feature_names)}

    def fingerprint_changes(self, saved: Any) -> str:
        """The keys of a checkpoint's ``saved`` fingerprint that this data's differs in, comma-separated ("" for the
        same data): compared on the keys it has (an older checkpoint lacks newer ones); every key if it has none."""
        now = self.fingerprint()
        saved = saved if isinstance(saved, dict) else dict.fromkeys(now)
        return ", ".join(sorted(key for key in saved if saved[key] != now.get(key)))

    def split_record(self) -> dict[str, Any] | None:
        """What the split is a function of: its parameters and a hash of which rows share a class (``labels ==
        labels[0]``, whatever the labels' spelling); None without labels."""
        if not self.has_labels or not len(self.labels):
            return None
        if self._membership is None:  # hashed in blocks of whole bytes: the hash of the packed bits of all rows
            flat, digest = self.labels.view(-1).numpy(), hashlib.sha256()
            for start in range(0, len(flat), 2**20):
                digest.update(np.packbits(flat[start : start + 2**20] == flat[0]).tobytes())
            self._membership = digest.hexdigest()
        return {"val_fraction": self.val_fraction, "test_fraction": self.test_fraction, "split_seed": self.split_seed,
                "rows_by_class_sha256": self._membership}  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """Saved in checkpoints: the classes, the feature names, the fingerprint and the split's record."""
        return {"classes": list(self.classes), "feature_names": list(self.feature_names),
                "fingerprint": self.fingerprint(), "split": self.split_record(),
                "standardize": bool(getattr(self, "standardize", False))}  # fmt: skip

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resumed fit refuses other data (validate, test and predict may use new data); ``run_data`` notes the
        run's own data, split as it was (predictions then name each row's split)."""
        if self.trainer is not None and stage_name(self.trainer.state.fn) == "fit":
            self.check_resumable(state_dict)
        split, same = state_dict.get("split"), not self.fingerprint_changes(state_dict.get("fingerprint"))
        self.run_data = split is not None and split == self.split_record() and same

    def row_splits(self, start: int, stop: int) -> list[str] | None:
        """Where rows ``start:stop`` went in the run that trained the checkpoint (``train``, ``val``, ``test`` or
        ``-``); None unless this is that run's data (``run_data``)."""
        if not self.run_data:
            return None
        if self._row_split is None:
            if not len(self.train_idx):  # predict makes no split of its own
                self.make_split()
            self._row_split = np.zeros(len(self.labels), dtype=np.uint8)
            for code, rows in enumerate((self.train_idx, self.val_idx, self.test_idx), 1):
                self._row_split[rows.cpu().numpy()] = code
        return SPLIT_NAMES[self._row_split[start:stop]].tolist()

    def check_resumable(self, state_dict: dict[str, Any]) -> None:
        """Raise unless ``state_dict`` (this module's part of a checkpoint) was saved with this very data, split and
        standardisation (the model keeps the checkpoint's scaler); keys an older checkpoint lacks are not compared."""
        saved = state_dict.get("fingerprint")
        changed = self.fingerprint_changes(saved) if saved is not None else ""
        if changed:
            raise ValueError(f"{self.describe()}: not the data this run was trained on ({changed} differ from the "
                             "checkpoint's); resume with the same data, or start a new run")  # fmt: skip
        split, standardize = state_dict.get("split"), bool(getattr(self, "standardize", False))
        now = {**(self.split_record() or {}), "standardize": standardize}
        saved = {**(split if isinstance(split, dict) else {}), "standardize": state_dict.get("standardize")}
        flags = [f"--data.{key} {json.dumps(now[key])} (the checkpoint's: {json.dumps(saved[key])})" for key in now
                 if key != "rows_by_class_sha256" and saved.get(key) not in (None, now[key])]  # fmt: skip
        if flags:
            raise ValueError(f"{self.describe()}: {', '.join(flags)}; a resume continues the run's split and "
                             "standardisation: leave these flags out, or start a new run")  # fmt: skip

    def label_texts(self, start: int, stop: int) -> list[str]:
        """The labels of rows ``start:stop`` as the input writes them (for the ``label`` column of predictions)."""
        return [self.classes[int(code)] for code in self.labels[start:stop, 0].tolist()]

    def _arrays(self) -> tuple[Tensor | np.ndarray, Tensor, bool]:
        """Features, labels and whether batches should be pinned, for the trainer's device."""
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        if device.type != "cuda":
            return self.features, self.labels, False
        if isinstance(self.features, Tensor):
            if self._device_copy is None or self._device_copy[0] != device:
                free, _ = torch.cuda.mem_get_info(device)
                if self.features.nbytes + self.labels.nbytes >= free // 2:
                    return self.features, self.labels, True
                self._device_copy = (device, self.features.to(device), self.labels.to(device))
            return self._device_copy[1], self._device_copy[2], False
        return self.features, self.labels, True

    def _loader(self, indices: Tensor, shuffle: bool, kind: type[DataLoader] = DataLoader, stream: bool = False,
                **kwargs: Any) -> DataLoader:  # fmt: skip
        """A loader of ``indices``; with ``batch_size`` 0, training gets a :class:`SplitStream`, evaluation chunks."""
        rank, world = (self.trainer.global_rank, self.trainer.world_size) if self.trainer is not None else (0, 1)
        features, labels, pin = self._arrays()
        if isinstance(features, Tensor):
            indices = indices.to(features.device)
        split = split_stream(features, labels, indices, rank, world) if stream and not self.batch_size else None
        batch_size = self.batch_size or (0 if stream else chunk_rows(self.n_features))
        sampler = EpochBatches(indices, batch_size, shuffle, self.split_seed, rank, world, stream=split)
        model = self.trainer.lightning_module if self.trainer is not None else None
        dtype = model.dtype if not pin and model is not None and model.dtype == torch.float64 else torch.float32
        return kind(RowGather(features, labels, dtype), sampler=sampler, batch_size=None, pin_memory=pin, **kwargs)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_idx, self.shuffle, ResumableLoader, stream=True,
                            batches_done=self._batches_trained)  # fmt: skip

    def _batches_trained(self) -> int:
        """Batches of the current training epoch finished so far (Lightning's own count, saved in checkpoints)."""
        return self.trainer.fit_loop.epoch_loop.batch_progress.current.completed if self.trainer is not None else 0

    def val_dataloader(self) -> DataLoader | list:
        return self._evaluation_loader("val", self.val_idx)

    def test_dataloader(self) -> DataLoader | list:
        return self._evaluation_loader("test", self.test_idx)

    def _evaluation_loader(self, stage: str, indices: Tensor) -> DataLoader | list:
        """The loader of ``stage``'s rows, after a warning of the metrics that one class of labels leaves undefined."""
        self.check_classes()
        only = self.only_class()
        if only is not None:
            if len(self.classes) == 2 and only == self.classes[1]:
                line = (f"the positive class: {stage}_auroc is undefined without negative rows (ignore its value); "
                        "accuracy, precision and recall are as usual")  # fmt: skip
            else:
                line = (f"the negative class: {stage}_auroc, {stage}_ap, {stage}_recall and {stage}_f1 are undefined "
                        "without positive rows (ignore their values); accuracy is as usual")  # fmt: skip
            self.warn(f"every label is {only!r}, {line}")
        return self._loader(indices, False) if len(indices) else []

    def check_classes(self) -> None:
        """Refuse labels of one class that no checkpoint's classes placed (there is no telling 0 from 1)."""
        if self.has_labels and len(self.classes) < 2:
            raise ValueError(f"{self.describe()}: every label is {self.classes[0]!r}, and the checkpoint does not say "
                             f"which class that is (it was not trained on a {type(self).__name__}, whose state names "
                             "the classes)")  # fmt: skip

    def predict_dataloader(self) -> DataLoader:
        """Every row, in input order (predictions are written in input order)."""
        self.check_classes()
        if self.trainer is not None and self.trainer.world_size > 1:
            raise ValueError("predict runs on one device: pass --trainer.devices 1")
        index = torch.int32 if len(self.features) < 2**31 else torch.int64
        return self._loader(torch.arange(len(self.features), dtype=index), False)


def stage_name(stage: str) -> str:
    """``"fit"`` for ``"fit"`` or Lightning's ``TrainerFn.FITTING`` (a str enum that prints its class name)."""
    return stage.value if isinstance(stage, Enum) else stage
