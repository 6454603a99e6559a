"""ThresholdDataModule: the tutorial's data, its split, its loaders and its parameter checks."""

import pytest
import torch
from torch.utils.data import DataLoader

from logreg import ThresholdDataModule
from logreg.data.indexed import (
    CHUNK_ROWS,
    EpochBatches,
    SplitStream,
    count_batches,
    shard_batches,
    split_stream,
    stratified_split,
)
from logreg.data.threshold import gaussian_data


def split(**kwargs) -> ThresholdDataModule:
    """A data module after ``setup("fit")``, which makes the split."""
    dm = ThresholdDataModule(**kwargs)
    dm.setup("fit")
    return dm


def tutorial_data():
    x = torch.arange(-2, 2, 0.1).view(-1, 1)
    y = torch.zeros(x.shape[0], 1)
    y[x[:, 0] > 0.2] = 1
    return x, y


def test_default_data_is_the_tutorials_40_points():
    dm = ThresholdDataModule()
    x, y = tutorial_data()
    assert dm.features.shape == (40, 1) and dm.features.dtype == torch.float32
    assert dm.labels.shape == (40, 1) and dm.labels.dtype == torch.float32
    assert torch.equal(dm.features, x) and torch.equal(dm.labels, y)
    assert dm.n_features == 1


def test_split_is_disjoint_covering_deterministic_and_stratified():
    dm = split()
    parts = [dm.train_idx, dm.val_idx, dm.test_idx]
    everything = torch.cat(parts).sort().values
    assert torch.equal(everything, torch.arange(40))  # disjoint and covering
    assert [len(p) for p in parts] == [24, 8, 8]
    for part in parts:
        assert set(dm.labels[part].view(-1).tolist()) == {0.0, 1.0}
    again = split()
    assert all(torch.equal(a, b) for a, b in zip(parts, [again.train_idx, again.val_idx, again.test_idx], strict=True))
    other = split(split_seed=1)
    assert not torch.equal(other.val_idx, dm.val_idx)


@pytest.mark.parametrize("first", [0.0, 1.0])
def test_split_does_not_depend_on_which_class_is_coded_1(first):
    """Spelling the labels otherwise (or --data.positive) swaps the codes 0 and 1; the rows go where they went."""
    labels = (torch.rand(200, 1, generator=torch.Generator().manual_seed(0)) > 0.3).float()
    labels[0] = first
    swapped = stratified_split(1 - labels, 0.2, 0.1, 5)
    for one, other in zip(stratified_split(labels, 0.2, 0.1, 5), swapped, strict=True):
        assert torch.equal(one, other)


def test_split_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    split(split_seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_small_split_still_holds_both_classes():
    dm = split(val_fraction=0.01, test_fraction=0.01)
    for part in (dm.val_idx, dm.test_idx):
        assert sorted(dm.labels[part].view(-1).tolist()) == [0.0, 1.0]


def test_zero_fractions_mean_no_val_or_test_loader():
    dm = split(val_fraction=0, test_fraction=0)
    assert torch.equal(dm.train_idx, torch.arange(40))
    assert dm.val_dataloader() == [] and dm.test_dataloader() == []


def test_batches_are_gathered_whole_and_only_train_is_shuffled():
    dm = split(batch_size=5)  # 24 training rows: 5 + 5 + 5 + 5 + 4
    train = dm.train_dataloader()
    assert isinstance(train, DataLoader) and isinstance(train.sampler, EpochBatches)
    batches = list(train)
    assert len(train) == len(batches) == 5
    assert [len(x) for x, _ in batches] == [5, 5, 5, 5, 4]
    assert all(x.shape[1:] == (1,) and y.shape == x.shape for x, y in batches)
    seen = torch.cat([x for x, _ in batches]).view(-1)
    assert not torch.equal(seen, dm.features[dm.train_idx].view(-1))  # shuffled
    assert torch.equal(seen.sort().values, dm.features[dm.train_idx].view(-1).sort().values)
    val = torch.cat([x for x, _ in dm.val_dataloader()]).view(-1)
    assert torch.equal(val, dm.features[dm.val_idx].view(-1))  # in order


def test_shuffle_false_keeps_the_tutorials_order():
    dm = split(val_fraction=0, test_fraction=0, shuffle=False)
    first_x, first_y = next(iter(dm.train_dataloader()))
    x, y = tutorial_data()
    assert torch.equal(first_x, x[:2]) and torch.equal(first_y, y[:2])


def test_epoch_permutation_is_a_function_of_seed_and_epoch():
    indices = torch.arange(100)
    a = EpochBatches(indices, 10, shuffle=True, seed=3)
    b = EpochBatches(indices, 10, shuffle=True, seed=3)
    a.set_epoch(4)
    b.set_epoch(4)
    assert torch.equal(a.order(), b.order())
    assert torch.equal(a.order().sort().values, indices)  # each index once
    b.set_epoch(5)
    assert not torch.equal(a.order(), b.order())


@pytest.mark.parametrize(
    ("n", "batch", "world"), [(40, 2, 2), (41, 4, 2), (9, 4, 2), (5, 1, 2), (23, 3, 3), (7, 10, 1)]
)
def test_rank_shards_are_disjoint_complete_and_equally_long(n, batch, world):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    shards = [shard_batches(order, batch, rank, world) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1  # same number of steps on every rank
    assert len(shards[0]) == count_batches(n, batch, world)
    assert all(len(b) > 0 for s in shards for b in s)
    used = torch.cat([b for s in shards for b in s])
    assert torch.equal(used.sort().values, order.sort().values)  # every row exactly once


def test_gaussian_data_is_deterministic_and_noise_rate_matches():
    x1, y1 = gaussian_data(20000, 4, 0.0, 0.1, seed=5)
    x2, y2 = gaussian_data(20000, 4, 0.0, 0.1, seed=5)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    _, clean = gaussian_data(20000, 4, 0.0, 0.0, seed=5)
    flipped = (clean != y1).float().mean().item()
    assert abs(flipped - 0.1) < 0.01
    x3, _ = gaussian_data(20000, 4, 0.0, 0.1, seed=6)
    assert not torch.equal(x1, x3)


def test_n_feature_data_module():
    dm = ThresholdDataModule(n_features=5, n_samples=300, label_noise=0.05, data_seed=2)
    assert dm.features.shape == (300, 5) and dm.labels.shape == (300, 1) and dm.n_features == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": 0}, "step must be > 0"),
        ({"step": -0.1}, "step must be > 0"),
        ({"low": 2.0, "high": -2.0}, "low must be < high"),
        ({"val_fraction": -0.1}, r"val_fraction must be in \[0, 1\)"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
        ({"test_fraction": 1.5}, r"test_fraction must be in \[0, 1\)"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "val_fraction \\+ test_fraction must be < 1"),
        ({"batch_size": -2}, "batch_size must be >= 1, or 0"),
        ({"threshold": 5.0}, "leaves only one class"),
        ({"threshold": -3.0}, "leaves only one class"),
        ({"n_features": 0}, "n_features must be >= 1"),
        ({"n_features": 2, "n_samples": 1}, "n_samples must be >= 2"),
        ({"n_features": 2, "label_noise": 0.7}, r"label_noise must be in \[0, 0.5\]"),
        ({"label_noise": 0.1}, "label_noise applies to random data"),
    ],
)
def test_invalid_parameters_name_the_parameter(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ThresholdDataModule(**kwargs)


def test_a_split_that_leaves_no_training_row_fails_in_setup_and_predict_needs_none():
    dm = ThresholdDataModule(val_fraction=0.45, test_fraction=0.45, low=-0.1, high=0.4)
    dm.setup("predict")
    assert len(dm.train_idx) == 0
    with pytest.raises(ValueError, match=r"5 rows are too few for this split: .* leave no training row"):
        dm.setup("fit")


def test_the_training_loader_follows_the_epoch_lightning_sets():
    """Lightning calls ``set_epoch`` on the DataLoader's sampler; each epoch is that epoch's permutation."""
    dm = split(batch_size=4)
    loader = dm.train_dataloader()
    orders = []
    for epoch in (0, 1, 0):
        loader.sampler.set_epoch(epoch)
        orders.append(torch.cat([y for _, y in loader]).view(-1))
        expected = EpochBatches(dm.train_idx, 4, shuffle=True, seed=0)
        expected.set_epoch(epoch)
        assert torch.equal(torch.cat([x for x, _ in loader]).view(-1), dm.features[expected.order()].view(-1))
    assert torch.equal(orders[0], orders[2])


def test_an_iterator_made_before_set_epoch_yields_the_new_epochs_order():
    """Lightning makes the first iterator of a resumed run before it calls ``set_epoch``; the order must follow."""
    dm = split(batch_size=4)
    loader = dm.train_dataloader()
    early = iter(loader)
    loader.sampler.set_epoch(3)
    expected = EpochBatches(dm.train_idx, 4, shuffle=True, seed=0)
    expected.set_epoch(3)
    assert torch.equal(torch.cat([x for x, _ in early]).view(-1), dm.features[expected.order()].view(-1))


def test_batch_size_0_streams_the_whole_split_in_chunks_of_its_own_rows(monkeypatch):
    """Full-batch training (``--data.batch_size 0``): one batch per epoch, a :class:`SplitStream` that reads the
    split in contiguous chunks; rows that need no reordering (no held-out rows) come as views of the data, not
    copies, and with held-out rows each chunk keeps the training rows of its range only, each exactly once."""
    import logreg.data.indexed

    monkeypatch.setattr(logreg.data.indexed, "CHUNK_ROWS", 7)
    data = ThresholdDataModule(batch_size=0, val_fraction=0, test_fraction=0, shuffle=False)
    data.setup("fit")
    [stream] = list(data.train_dataloader())
    assert isinstance(stream, SplitStream) and stream.total_rows == 40
    chunks = list(stream.chunks(torch.float32, torch.device("cpu")))
    assert [len(x) for x, _ in chunks] == [7, 7, 7, 7, 7, 5]
    storage = data.features.untyped_storage().data_ptr()
    assert all(x.untyped_storage().data_ptr() == storage for x, _ in chunks)  # views, no copy
    assert torch.equal(torch.cat([x for x, _ in chunks]), data.features)
    held_out = ThresholdDataModule(batch_size=0, shuffle=True)
    held_out.setup("fit")
    [stream] = list(held_out.train_dataloader())
    chunks = list(stream.chunks(torch.float64, torch.device("cpu")))
    assert all(len(x) <= 7 and x.dtype == y.dtype == torch.float64 for x, y in chunks)
    x, y = (torch.cat(parts) for parts in zip(*chunks, strict=True))
    assert torch.equal(x.float(), held_out.features[held_out.train_idx])  # the split's rows, in file order
    assert torch.equal(y.float(), held_out.labels[held_out.train_idx])


def test_batch_size_0_shards_the_stream_across_ranks():
    """Under DDP each rank streams every world_size-th chunk: disjoint shares that cover the split once."""
    data = ThresholdDataModule(n_features=2, n_samples=100_000, batch_size=0)
    data.setup("fit")
    shares = [split_stream(data.features, data.labels, data.train_idx, rank, 2) for rank in (0, 1)]
    rows = [torch.cat([x for x, _ in share.chunks(torch.float32, torch.device("cpu"))]) for share in shares]
    assert shares[0].total_rows == shares[1].total_rows == len(data.train_idx)
    assert abs(len(rows[0]) - len(rows[1])) <= CHUNK_ROWS
    assert sorted(torch.cat(rows)[:, 0].tolist()) == sorted(data.features[data.train_idx][:, 0].tolist())


def test_a_resumed_loader_goes_on_with_the_next_batch_of_the_same_order():
    """The training loader's state (Lightning's interface for resumable loaders): epoch and batches done."""
    data = ThresholdDataModule(batch_size=4, shuffle=True)
    data.setup("fit")
    straight = data.train_dataloader()
    straight.sampler.set_epoch(3)
    expected = [x.view(-1).tolist() for x, _ in straight][2:]
    resumed = ThresholdDataModule(batch_size=4, shuffle=True)
    resumed.setup("fit")
    loader = resumed.train_dataloader()
    loader.load_state_dict({"epoch": 3, "batches_done": 2})
    loader.sampler.set_epoch(3)
    assert [x.view(-1).tolist() for x, _ in loader] == expected
    loader.sampler.set_epoch(4)
    assert len(list(loader)) == len(loader)  # only that epoch is shortened


def test_rows_cost_no_memory_beyond_the_splits_indices(tmp_path, monkeypatch):
    """A memory-mapped directory of 1M rows: opening it, the split, the statistics, the class counts and the split's
    record hold nothing of N rows but the int32 indices (the labels stay in the map, no mask or int64 index is
    made): NumPy's traced peak stays under 6 bytes a row (float32 labels alone would be 4, int64 indices 8). The
    statistics and the class counts come from one pass, and equal NumPy's on the training rows."""
    import tracemalloc

    import numpy as np

    from logreg import FileDataModule
    from logreg.data import indexed

    n = 1_000_000
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((n, 2), dtype=np.float32))
    np.save(tmp_path / "y.npy", (rng.random(n) < 0.3).astype(np.int8))
    passes = []
    chunks = indexed.SplitStream.chunks
    monkeypatch.setattr(indexed.SplitStream, "chunks", lambda self, *args: passes.append(1) or chunks(self, *args))
    tracemalloc.start()
    data = FileDataModule(tmp_path, batch_size=0)
    data.setup("fit")
    (mean, scale), (negatives, positives) = data.feature_stats(), data.class_counts()
    data.split_record()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 6 * n and len(passes) == 1
    x, y = np.load(tmp_path / "x.npy"), np.load(tmp_path / "y.npy")
    train = data.train_idx.numpy()
    assert (negatives, positives) == (int((y[train] == 0).sum()), int(y[train].sum()))
    assert np.allclose(mean.numpy(), x[train].astype(np.float64).mean(0), atol=1e-6)
    assert np.allclose(scale.numpy(), x[train].astype(np.float64).std(0), atol=1e-6)


def test_a_sample_of_the_stream_is_the_same_rows_on_any_number_of_ranks():
    """``SplitStream.sample(stride)``: the split's rows in every stride-th chunk of the file, whatever the ranks."""
    data = ThresholdDataModule(n_features=2, n_samples=100_000, batch_size=0)
    data.setup("fit")

    def rows(world_size):
        shares = [split_stream(data.features, data.labels, data.train_idx, rank, world_size, size=1000).sample(8)
                  for rank in range(world_size)]  # fmt: skip
        assert {share.total_rows for share in shares} == {shares[0].total_rows}
        return sorted(torch.cat([x for share in shares for x, _ in share.chunks(torch.float32, torch.device("cpu"))])
                      [:, 0].tolist())  # fmt: skip

    first = int(data.train_idx.min())
    chosen = data.train_idx[(data.train_idx - first) // 1000 % 8 == 0]
    assert rows(1) == rows(2) == rows(3) == sorted(data.features[chosen][:, 0].tolist())
    assert 0.1 < len(chosen) / len(data.train_idx) < 0.15


def test_evaluation_rows_of_a_memory_map_are_gathered_in_the_models_float(tmp_path):
    """A float64 model's evaluation batches come from the map as float64 (NumPy's one take, not Lightning's copy):
    the rows and labels as stored."""
    import numpy as np

    from logreg.data.indexed import RowGather

    x = np.random.default_rng(0).standard_normal((1000, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    labels = torch.arange(1000, dtype=torch.int8).remainder(2).view(-1, 1)
    rows = torch.tensor([3, 10, 11, 500, 999], dtype=torch.int32)
    features, target = RowGather(np.load(tmp_path / "x.npy", mmap_mode="r"), labels, torch.float64)[
        rows[[2, 0, 4, 1, 3]]
    ]
    assert features.dtype == target.dtype == torch.float64
    assert torch.equal(features, torch.from_numpy(x[rows.numpy()]).double())
    assert torch.equal(target, labels[rows].double())


def test_a_parallel_map_of_chunks_gives_the_one_thread_results_bit_for_bit_in_order():
    """``SplitStream.map(parallel=True)`` (Newton's passes, the coefficient table's): the chunks' results, in order,
    computed on other threads, equal bit for bit to those on one thread: their sums are the same on any machine."""
    import threading

    from logreg.model.logistic import chunk_sums

    data = ThresholdDataModule(n_features=3, n_samples=50_000, batch_size=0, label_noise=0.2)
    data.setup("fit")
    stream = split_stream(data.features, data.labels, data.train_idx, size=1000)
    weight, bias = torch.tensor([0.5, -0.25, 1.0], dtype=torch.float64), torch.tensor([0.1], dtype=torch.float64)
    center = data.features.double().mean(0)

    def sums(x, y):
        return threading.get_ident(), chunk_sums("bce", x, y.view(-1), weight, bias, None, center)

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        alone = list(stream.map(sums, torch.float32, torch.device("cpu")))
        together = list(stream.map(sums, torch.float32, torch.device("cpu"), parallel=True))
    finally:
        torch.set_num_threads(threads)
    assert len(alone) == len(together) == len(stream.ranges) > 2
    assert {ident for ident, _ in alone} == {threading.get_ident()}
    assert threading.get_ident() not in {ident for ident, _ in together}
    for (_, one), (_, other) in zip(alone, together, strict=True):
        assert torch.equal(one, other)
