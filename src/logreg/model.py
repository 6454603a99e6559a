"""The model: the tutorial's ``sigmoid(Linear(n_inputs, 1))`` as a LightningModule."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC, BinaryF1Score

from logreg.data import IndexedDataModule

Stage = Literal["train", "val", "test"]


def bce_from_logits(logits: Tensor, target: Tensor) -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` against 0/1 targets, computed from the logits.

    Equal to ``BCELoss()(sigmoid(logits), target)``, but finite for saturated logits (BCELoss clamps the log at
    -100) and allowed under CUDA autocast, where ``BCELoss`` raises.
    """
    return F.binary_cross_entropy_with_logits(logits, target)


def mse_of_probabilities(logits: Tensor, target: Tensor) -> Tensor:
    """Mean squared error of the probabilities, the loss of the tutorial series' previous part."""
    return F.mse_loss(torch.sigmoid(logits), target)


LOSSES = {"bce": bce_from_logits, "mse": mse_of_probabilities}


def _metrics(stage: Stage) -> MetricCollection:
    # Targets come from validated DataModules (0/1 only): skip torchmetrics' per-batch input checks, which
    # would add device synchronisations to every step.
    metrics: dict = {"acc": BinaryAccuracy(validate_args=False)}
    if stage != "train":
        metrics |= {"auroc": BinaryAUROC(validate_args=False), "f1": BinaryF1Score(validate_args=False)}
    return MetricCollection(metrics, prefix=f"{stage}_")


class NonFiniteTrainingError(ValueError):
    """Training diverged: the loss became NaN or infinite, or the learning rate left the float range."""


class LogisticRegression(LightningModule):
    """Logistic regression ``p(y=1 | x) = sigmoid(w · (x - mean) / scale + b)`` trained with binary cross-entropy.

    ``mean``/``scale`` are buffers (identity by default) that a DataModule's ``feature_stats()`` fills at the
    start of fit, so a checkpoint carries the standardisation it was trained with and predicts on raw rows.

    Args:
        n_inputs: number of features (the CLI links it from the data).
        lr: SGD learning rate (used when no ``--optimizer`` is given).
        loss: ``"bce"`` (cross-entropy, from logits) or ``"mse"`` (squared error on the probabilities).
        init_weight, init_bias: fixed starting values instead of PyTorch's random ones (e.g. the bad -5/-10).
    """

    def __init__(
        self,
        n_inputs: int = 1,
        lr: float = 2.0,
        loss: Literal["bce", "mse"] = "bce",
        init_weight: float | None = None,
        init_bias: float | None = None,
    ) -> None:
        super().__init__()
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        self.save_hyperparameters()
        self.linear = nn.Linear(n_inputs, 1)
        if init_weight is not None:
            nn.init.constant_(self.linear.weight, init_weight)
        if init_bias is not None:
            nn.init.constant_(self.linear.bias, init_bias)
        self.register_buffer("feature_mean", torch.zeros(n_inputs))
        self.register_buffer("feature_scale", torch.ones(n_inputs))
        self.loss_fn = LOSSES[loss]
        self.train_metrics = _metrics("train")
        self.val_metrics = _metrics("val")
        self.test_metrics = _metrics("test")
        # Batch-size weighted mean of the loss, reduced like the other metrics on one device and under DDP.
        # (Not nan_strategy="disable": torchmetrics 1.9 then replaces the weights with ones.)
        self.mean_loss = nn.ModuleDict({f"{stage}_loss": MeanMetric() for stage in ("train", "val", "test")})
        self.example_input_array = torch.zeros(2, n_inputs)

    def logits(self, x: Tensor) -> Tensor:
        """(B, n_inputs) raw features -> (B, 1) logits."""
        return self.linear((x - self.feature_mean) / self.feature_scale)

    def forward(self, x: Tensor) -> Tensor:
        """(B, n_inputs) -> (B, 1) probabilities of class 1, as in the tutorial."""
        return torch.sigmoid(self.logits(x))

    def set_standardization(self, mean: Tensor, scale: Tensor) -> None:
        self.feature_mean.copy_(mean)
        self.feature_scale.copy_(scale)

    def setup(self, stage: str) -> None:
        """At the start of fit, take the standardisation from a logreg data module (other data: raw features)."""
        datamodule = self.trainer.datamodule
        if stage == "fit" and isinstance(datamodule, IndexedDataModule):
            stats = datamodule.feature_stats()
            if stats is not None:
                self.set_standardization(*stats)

    def _shared_step(self, batch: tuple[Tensor, ...], stage: Stage) -> Tensor:
        """Loss of one batch; the stage's metrics are updated here and logged once per epoch.

        Calling ``self.log`` on every step costs about half a millisecond of Lightning bookkeeping, more than
        the whole step of a linear model on 4,096 rows, so steps only update torchmetrics state. (On a GPU a
        training step still synchronises once: the non-finite check in :meth:`training_step`.)
        """
        x, y = batch
        logits = self.logits(x)
        loss = self.loss_fn(logits, y)
        self.mean_loss[f"{stage}_loss"].update(loss.detach(), weight=len(y))
        getattr(self, f"{stage}_metrics").update(torch.sigmoid(logits.detach()), y.long())
        return loss

    def _log_epoch(self, stage: Stage) -> dict[str, Tensor]:
        """Compute (synchronised across DDP ranks by torchmetrics), log and reset the stage's metrics."""
        metrics, mean_loss = getattr(self, f"{stage}_metrics"), self.mean_loss[f"{stage}_loss"]
        values = {f"{stage}_loss": mean_loss.compute(), **metrics.compute()}
        metrics.reset()
        mean_loss.reset()
        self.log_dict(values)
        return values

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        loss = self._shared_step(batch, "train")
        # Stop at the failing step, before the optimizer step poisons the weights. This is the one deliberate
        # synchronisation per training step on a GPU: a check without it could only stop steps later.
        if not torch.isfinite(loss):
            raise NonFiniteTrainingError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                "lower the learning rate (the last finite checkpoint is kept)"
            )
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        limit = torch.finfo(self.linear.weight.dtype).max
        for group in optimizer.param_groups:
            if not abs(group["lr"]) <= limit:  # also catches inf and NaN; the step itself would fail to convert it
                raise NonFiniteTrainingError(
                    f"learning rate became {group['lr']:g} at epoch {self.current_epoch}, step {self.global_step}, "
                    "beyond the parameters' float range; check the scheduler (the last finite checkpoint is kept)"
                )

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """Probabilities of class 1, shape (B, 1)."""
        return self(batch[0])

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")
        self.log("lr", float(self.trainer.optimizers[0].param_groups[0]["lr"]))
        if self.hparams.n_inputs == 1:
            weight, bias = self.coefficients()
            self.log_dict({"weight": weight[0].item(), "bias": bias, "boundary": self.decision_boundary()})

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    def coefficients(self) -> tuple[Tensor, float]:
        """Weight (n_inputs,) and bias in the units of the raw input features (standardisation folded in)."""
        weight = self.linear.weight.detach().float().view(-1) / self.feature_scale
        bias = self.linear.bias.detach().float().item() - float((weight * self.feature_mean).sum())
        return weight.cpu(), bias

    def decision_boundary(self) -> float:
        """For one feature, the x where p = 0.5: ``-bias / weight`` (inf for a zero weight)."""
        weight, bias = self.coefficients()
        w = float(weight[0])
        return -bias / w if w != 0 else float("inf")
