"""GPU-only paths, run where CUDA exists (marked ``gpu``; skipped on machines without a GPU, such as CI's)."""

import pytest
import torch

from logreg import LogisticRegression, ThresholdDataModule

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_in_memory_data_moves_to_the_gpu_once_and_batches_are_gathered_there(tiny_trainer):
    data = ThresholdDataModule(n_features=4, n_samples=2000, batch_size=64)
    model = LogisticRegression(n_inputs=4, lr=0.5)
    trainer = tiny_trainer(max_epochs=2, accelerator="gpu", devices=1)
    trainer.fit(model, data)
    loader = data.train_dataloader()
    x, y = next(iter(loader))
    assert x.is_cuda and y.is_cuda and not loader.pin_memory  # resident: no host copy per step
    assert loader.dataset.features.data_ptr() == data.train_dataloader().dataset.features.data_ptr()  # copied once
    assert trainer.callback_metrics["val_acc"] > 0.9


def test_memory_mapped_data_is_gathered_on_the_host_into_pinned_memory(tmp_path, tiny_trainer):
    import numpy as np

    from logreg import FileDataModule

    x = np.random.default_rng(0).standard_normal((3000, 3), dtype=np.float32)
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "x.npy", x)
    np.save(tmp_path / "d" / "y.npy", (x[:, 0] > 0).astype(np.int8))
    data = FileDataModule(tmp_path / "d", batch_size=256)
    trainer = tiny_trainer(max_epochs=1, accelerator="gpu", devices=1)
    trainer.fit(LogisticRegression(n_inputs=3, lr=0.5), data)
    loader = data.train_dataloader()
    assert loader.pin_memory
    batch_x, _ = next(iter(loader))
    assert batch_x.is_pinned()


def test_16_mixed_precision_trains(tiny_trainer):
    data = ThresholdDataModule(n_features=4, n_samples=800, batch_size=32)
    model = LogisticRegression(n_inputs=4, lr=0.5)
    tiny_trainer(max_epochs=3, accelerator="gpu", devices=1, precision="16-mixed").fit(model, data)
    assert torch.isfinite(model.linear.weight).all()
