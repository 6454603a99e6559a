"""The tutorial's data: its threshold grid, grown to n features and noisy labels (:class:`ThresholdDataModule`)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from logreg.data.indexed import IndexedDataModule


def gaussian_data(
    n_samples: int, n_features: int, threshold: float, label_noise: float, seed: int
) -> tuple[Tensor, Tensor]:
    """Standard-normal points labelled by a seeded unit direction, each label flipped with ``label_noise``; drawn
    on the CPU from one seeded generator, so every machine and device sees the same data."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, n_features, generator=generator)  # (N, D)
    direction = torch.randn(n_features, generator=generator)
    y = (x @ (direction / direction.norm()) > threshold).float().view(-1, 1)  # (N, 1)
    flip = torch.rand(n_samples, generator=generator) < label_noise
    y[flip] = 1 - y[flip]
    return x, y


class ThresholdDataModule(IndexedDataModule):
    """The tutorial's threshold problem: with ``n_features=1`` and ``n_samples=None`` exactly its 40-point grid,
    otherwise :func:`gaussian_data` (``n_samples`` default 1000).

    Args:
        low, high, step: the grid ``arange(low, high, step)`` (one feature, ``n_samples=None``).
        threshold: label 1 where ``x`` (or ``x @ direction``) is greater.
        val_fraction, test_fraction: shares of each class held out; 0 disables that loop.
        batch_size: rows per training step (per device under DDP); 0: the whole training split as one batch
            (full-batch training, e.g. L-BFGS), streamed in chunks.
        shuffle: reshuffle the training rows every epoch (validation/test/predict are never shuffled).
        split_seed: seeds the split and the per-epoch permutations.
        n_features, n_samples: random data dimensions; ``n_samples=None`` keeps the grid for one feature.
        label_noise: probability of flipping each random label, in [0, 0.5].
        data_seed: seeds the random points, the labelling direction and the label noise.
    """

    def __init__(
        self,
        low: float = -2.0,
        high: float = 2.0,
        step: float = 0.1,
        threshold: float = 0.2,
        val_fraction: float = 0.2,
        test_fraction: float = 0.2,
        batch_size: int = 2,
        shuffle: bool = True,
        split_seed: int = 0,
        n_features: int = 1,
        n_samples: int | None = None,
        label_noise: float = 0.0,
        data_seed: int = 0,
    ) -> None:
        super().__init__(val_fraction, test_fraction, batch_size, shuffle, split_seed)
        self.save_hyperparameters(logger=False)  # (config.yaml has them; "threshold" would clash with the model's)
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        if not 0 <= label_noise <= 0.5:
            raise ValueError(f"label_noise must be in [0, 0.5], got {label_noise}")
        if n_features == 1 and n_samples is None:
            if label_noise:
                raise ValueError("label_noise applies to random data only: also set n_samples (or n_features > 1)")
            if step <= 0:
                raise ValueError(f"step must be > 0, got {step}")
            if low >= high:
                raise ValueError(f"low must be < high, got low={low}, high={high}")
            features = torch.arange(low, high, step).view(-1, 1)  # the tutorial's grid: y = 1 where x > threshold
            labels = (features > threshold).float()
        else:
            n_samples = 1000 if n_samples is None else n_samples
            if n_samples < 2:
                raise ValueError(f"n_samples must be >= 2, got {n_samples}")
            if data_seed < 0:
                raise ValueError(f"data_seed must be >= 0, got {data_seed}")
            needed, available = n_samples * n_features * 4, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            if needed > available:  # refused before allocating
                raise ValueError(
                    f"n_samples={n_samples} x n_features={n_features} need {needed / 2**30:.1f} GiB of float32 data, "
                    f"more than this machine's {available / 2**30:.1f} GiB of memory; use fewer, or your own file "
                    "(logreg convert)"
                )
            features, labels = gaussian_data(n_samples, n_features, threshold, label_noise, data_seed)
        if torch.unique(labels).numel() < 2:
            raise ValueError(f"threshold={threshold} leaves only one class; choose a threshold inside the data's range")
        self.use_rows(features, labels)

    def fingerprint(self) -> dict[str, Any]:
        """The generating arguments (the split's are the run's own and may change on resume)."""
        data_args = ("low", "high", "step", "threshold", "n_features", "n_samples", "label_noise", "data_seed")
        return {**super().fingerprint(), **{name: self.hparams[name] for name in data_args}}
