"""The model: the tutorial's ``sigmoid(Linear(n_inputs, 1))`` as a LightningModule. It earns its size: the loss, its
streamed float64 sums (gradient and Newton's Hessian), penalties and the decision threshold's metrics in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric

from logreg.data.indexed import IndexedDataModule, SplitStream, one_thread, split_stream, stage_name
from logreg.model.metrics import EvaluationTotals, TrainingTotals
from logreg.model.newton import Newton, check_newton

Stage = Literal["train", "val", "test"]


def bce_from_logits(
    logits: Tensor, target: Tensor, pos_weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """``BCELoss`` of ``sigmoid(logits)`` against 0/1 targets, from the logits: finite when saturated, allowed under
    autocast; ``pos_weight`` weighs the positive rows."""
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction=reduction)


def mse_of_probabilities(
    logits: Tensor, target: Tensor, pos_weight: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Squared error of the probabilities, the tutorial series' previous loss (unweighted)."""
    return F.mse_loss(torch.sigmoid(logits), target, reduction=reduction)


LOSSES = {"bce": bce_from_logits, "mse": mse_of_probabilities}


def chunk_sums(
    loss: str, x: Tensor, y: Tensor, weight: Tensor, bias: Tensor, pos_weight: Tensor | None,
    center: Tensor | None = None, cut: float = 0.0, hessian_dtype: torch.dtype = torch.float64,
) -> Tensor:  # fmt: skip
    """``[loss, its gradient in weight (D,), in bias, the rows decided right at cut]`` summed in float64 over rows ``x``
    (B, D), ``y`` (B,) for logits ``x @ weight + bias`` (bce's gradient written out: one matrix-vector product), in
    weight's float. With ``center``, Newton's: the Hessian of ``[x - center, 1]`` ((D+1)^2, its products in
    ``hessian_dtype``, from the rows as given: float32 ones, not converted twice) before the count, the rows wrong of 0
    last."""
    rows, x, y = x, x.to(weight.dtype), y.to(weight.dtype)
    z = torch.addmv(bias, x, weight)  # (B,) logits
    labels = y > 0.5
    right = torch.count_nonzero((z > cut) == labels).view(1)
    if loss != "bce":
        with torch.enable_grad():
            params = (weight.detach().requires_grad_(), bias.detach().requires_grad_())
            total = LOSSES[loss](torch.mv(x, params[0]) + params[1], y, reduction="sum")
            grads = torch.autograd.grad(total, params)
        return torch.cat([s.double().view(-1) for s in (total.detach(), *grads, right)])
    c = None if pos_weight is None else 1 + (pos_weight - 1) * y
    if c is None:  # log(1 + e^z) - y z
        value = (F.softplus(z, threshold=50) - y * z).sum()
        residual = torch.sigmoid(z).sub_(y)
    else:  # (1 - y) z + c log(1 + e^-z), as binary_cross_entropy_with_logits
        value = ((1 - y) * z + c * F.softplus(-z, threshold=50)).sum()
        residual = (1 - y) - c * torch.sigmoid(-z)
    sums = [value.view(1), torch.mv(x.T, residual), residual.sum().view(1)]
    if center is not None:
        curvature = torch.sigmoid(z) * torch.sigmoid(-z)  # p (1 - p), with no cancellation in 1 - p
        curvature = curvature if c is None else curvature * c
        root = curvature.sqrt().to(hessian_dtype)
        rooted = (rows.to(hessian_dtype) - center.to(hessian_dtype)).mul_(root[:, None])  # u^T W u, centred
        block, side = (rooted.T @ rooted).double(), torch.mv(rooted.T, root).double()
        corner = torch.cat([side, curvature.sum().double().view(1)])
        hessian = torch.cat([torch.cat([block, side[:, None]], 1), corner[None]])
        wrong_side = torch.count_nonzero(((z > 0) != labels) | (z == 0))
        return torch.cat([s.double() for s in (*sums, hessian.view(-1), right, wrong_side.view(1))])
    return torch.cat([s.double() for s in (*sums, right)])


def fold_standardization(weight: Tensor, bias: Tensor, mean: Tensor, scale: Tensor) -> tuple[Tensor, Tensor]:
    """The weights of ``linear((x - mean) / scale)`` on raw x: ``w / scale`` and ``b - (w / scale) . mean``."""
    folded = weight / scale
    return folded, bias - folded @ mean.to(folded.dtype)


FOLD_ELEMENTS = 32768  # batches this large fold the standardisation into the weights (torch's parallel grain)
CURVE_THRESHOLDS = 1001  # fixed thresholds 0, 0.001, ..., 1: flat memory, the same on every DDP rank
TUNING_CRITERIA = ("f1", "balanced_accuracy", "youden")


def penalty_C(C: float | str | None) -> float | None:
    """``C`` as a number: its words 'inf' and 'none' (no penalty), in any case and spacing, become ``math.inf``;
    other text, and numbers <= 0 or NaN, are refused (a ValueError). The CLI runs it at parse time too."""
    if isinstance(C, str) and C.strip().lower() in ("inf", "none"):
        return math.inf
    if C is not None and (isinstance(C, str) or not 0 < C <= math.inf):
        raise ValueError(f"C must be a number > 0, inf or none (no penalty), or null (l2 instead), got {C}")
    return C


def tuned_threshold(curve: tuple[Tensor, Tensor, Tensor], criterion: str) -> Tensor:
    """The threshold in (0, 1) that maximises ``criterion`` on a computed binned curve: ROC ``(fpr, tpr,
    thresholds)`` for ``balanced_accuracy`` and ``youden`` (they pick the same one), precision-recall for ``f1``."""
    if criterion == "f1":
        precision, recall, thresholds = curve
        score = 2 * precision[:-1] * recall[:-1] / (precision[:-1] + recall[:-1]).clamp_min(1e-12)
    else:
        fpr, tpr, thresholds = curve
        score = tpr - fpr
    usable = (thresholds > 0) & (thresholds < 1) & ~score.isnan()  # (no predicted positives: precision 0/0)
    score = torch.where(usable, score, torch.full_like(score, -math.inf))
    return thresholds[int(torch.argmax(score))]


@dataclass
class TrainingState:
    """What the training step and its hooks share, as plain values (cheaper than module attributes)."""

    raw_features: bool = False  # identity standardisation (this and the next three: fixed when training starts)
    unweighted: bool = False  # pos_weight is 1
    penalised: bool = False  # l2 or l1
    largest_lr: float = math.inf  # the parameters' float range: a larger learning rate is refused
    decision_cut: float = 0.0  # p > threshold <=> logit > decision_cut (set each epoch: the threshold may be tuned)
    evaluations: int = 0  # of the objective in the current step (L-BFGS: several); this and the next: reset each step
    first_gradient: Tensor | None = None  # largest |gradient| where the step started (full batch only)
    sampled: bool = False  # the step's pass read a sample of the rows (Newton's first steps)


class TrainingFit(NamedTuple):
    """The model on its training rows at its current weights: mean loss (weighted as in training), accuracy at its
    threshold, objective (the loss plus the penalties) and the objective's largest absolute gradient (0-d float64)."""

    loss: float
    accuracy: float
    objective: float
    gradient: Tensor


class FinalPass(NamedTuple):
    """A Newton pass at ``weight``, ``bias`` and ``cut``: the summary and coefficient table read it, passing no more."""

    weight: Tensor
    bias: Tensor
    cut: float
    rows: int
    fit: TrainingFit
    information: Tensor  # (D+1, D+1) the unpenalised Hessian's sum over the rows in [w, b]: the Fisher information
    separated: bool  # every row on its label's side of 0


class NonFiniteTrainingError(ValueError):
    """Training diverged: the loss became NaN or infinite, or the learning rate left the float range."""


class LogisticRegression(LightningModule):
    """Logistic regression ``p(y=1 | x) = sigmoid(w · (x - mean) / scale + b)``, minimising the mean loss plus ``l2 / 2
    ||w||^2 + l1 ||w||_1`` (never the bias). ``mean`` and ``scale`` are buffers filled from the data module's
    ``feature_stats()`` when fit starts, so that a checkpoint predicts on raw rows.

    Args:
        n_inputs: number of features (the CLI links it from the data).
        lr: SGD learning rate (used when no ``--optimizer`` is given).
        loss: ``"bce"`` (cross-entropy, from logits) or ``"mse"`` (squared error on the probabilities).
        init_weight, init_bias: fixed starting values instead of PyTorch's random ones.
        l2: ridge penalty, in the loss, so every optimizer sees it (scikit-learn's ``C`` is ``1 / (l2 * n_train)``).
        l1: lasso penalty, a soft threshold after each SGD step (weights become exactly 0; SGD only).
        pos_weight: weight of the positive rows' loss: a number, ``"balanced"`` (negatives / positives) or None.
        tol: fit stops once the largest absolute gradient of the objective is below ``tol`` (full batch: every epoch).
        threshold: a row is predicted positive when its probability is above it.
        tune_threshold: ``f1``, ``balanced_accuracy`` or ``youden``: tune the threshold on each validation epoch.
        C: scikit-learn's inverse penalty instead of l2 (l2 = 1 / (C n_train) when fit starts); inf or none: none."""

    def __init__(
        self, n_inputs: int = 1, lr: float = 2.0, loss: Literal["bce", "mse"] = "bce", init_weight: float | None = None,
        init_bias: float | None = None, l2: float = 0.0, l1: float = 0.0,
        pos_weight: float | Literal["balanced"] | None = None, tol: float = 1e-6, threshold: float = 0.5,
        tune_threshold: Literal["f1", "balanced_accuracy", "youden"] | None = None,
        C: float | str | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        C = penalty_C(C)  # the command line's words arrive as typed (jsonargparse: str)
        if n_inputs < 1:
            raise ValueError(f"n_inputs must be >= 1, got {n_inputs}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        for name, value in (("l2", l2), ("l1", l1)):
            if not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")
        if not 0 < tol < math.inf:
            raise ValueError(f"tol must be a finite number > 0, got {tol}")
        if C is not None and l2:
            raise ValueError(f"give l2 or C, not both (got l2={l2:g} and C={C:g}; C=1/(l2 * n_train))")
        if isinstance(pos_weight, str) and pos_weight != "balanced":
            raise ValueError(f"pos_weight must be a number > 0, 'balanced' or null, got {pos_weight!r}")
        if not isinstance(pos_weight, str | None) and not 0 < float32(pos_weight) < math.inf:
            raise ValueError(f"pos_weight must be a number > 0, 'balanced' or null, got {shown(pos_weight)}")
        if pos_weight is not None and loss != "bce":
            raise ValueError("pos_weight weighs the cross-entropy: it needs loss 'bce'")
        if not 0 < float32(threshold) < 1:
            raise ValueError(f"threshold must be in (0, 1), got {shown(threshold)}")
        for name, value in (("init_weight", init_weight), ("init_bias", init_bias)):
            if value is not None and not math.isfinite(float32(value)):
                raise ValueError(f"{name} must be a finite number, got {shown(value)}")
        if tune_threshold is not None and tune_threshold not in TUNING_CRITERIA:
            choices = ", ".join(TUNING_CRITERIA)
            raise ValueError(f"tune_threshold must be one of {choices} or null, got {tune_threshold!r}")
        self.save_hyperparameters()
        self.hparams.C = C  # as the number (LightningCLI gives save_hyperparameters the values it parsed)
        self.linear = nn.Linear(n_inputs, 1)
        if init_weight is not None:
            nn.init.constant_(self.linear.weight, init_weight)
        if init_bias is not None:
            nn.init.constant_(self.linear.bias, init_bias)
        self.register_buffer("feature_mean", torch.zeros(n_inputs))
        self.register_buffer("feature_scale", torch.ones(n_inputs))
        self.register_buffer("pos_weight", torch.tensor(1.0 if pos_weight in (None, "balanced") else pos_weight))
        self.loss_fn = LOSSES[loss]
        self.train_totals = TrainingTotals()  # train_loss and train_acc: the per-step cost matters here
        # The validation and test metrics: built by configure_model for the stages a Trainer call runs
        self.val_totals: EvaluationTotals | None = None
        self.test_totals: EvaluationTotals | None = None
        # threshold of the decisions: given, or tuned on each validation epoch; in every checkpoint
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self.mean_objective = MeanMetric()  # train_objective: the loss plus the penalty, logged when penalised
        self.training_state = TrainingState(penalised=self.penalised, decision_cut=logit(threshold))
        self.example_input_array = torch.zeros(2, n_inputs)
        self.passes = 0  # over the training rows, by the solver and the summary (:meth:`final_pass_here`)
        self.final_pass: FinalPass | None = None

    def logits(self, x: Tensor) -> Tensor:
        """(B, n_inputs) raw features -> (B, 1) logits; large batches fold the standardisation into the weights (no
        (B, D) temporaries), small ones standardise the rows."""
        if x.numel() < FOLD_ELEMENTS:
            return self.linear((x - self.feature_mean) / self.feature_scale)
        weight, bias = fold_standardization(self.linear.weight, self.linear.bias, self.feature_mean, self.feature_scale)
        return F.linear(x.to(weight.dtype), weight, bias)

    def forward(self, x: Tensor) -> Tensor:
        """(B, n_inputs) -> (B, 1) probabilities of class 1, as in the tutorial."""
        return torch.sigmoid(self.logits(x))

    def set_standardization(self, mean: Tensor, scale: Tensor) -> None:
        self.feature_mean.copy_(mean)
        self.feature_scale.copy_(scale)

    def setup(self, stage: str) -> None:
        """At the start of fit: the standardisation, the class balance and the penalty from a logreg data module."""
        datamodule = self.trainer.datamodule
        if stage == "fit" and isinstance(datamodule, IndexedDataModule):
            stats = datamodule.feature_stats()
            if stats is not None:
                self.set_standardization(*stats)
                with torch.no_grad():  # (a resumed fit's checkpoint is loaded after setup: this is a new fit's start)
                    self.linear.weight[:, datamodule.constant_columns()] = 0.0
            balanced, C = self.hparams.get("pos_weight") == "balanced", self.hparams.get("C")
            negatives, positives = datamodule.class_counts() if balanced or C is not None else (0, 0)
            if balanced:
                self.pos_weight.fill_(negatives / positives)
            if C is not None:  # scikit-learn's C sum(loss) + ||w||^2 / 2 as mean loss + l2 / 2 ||w||^2
                n = negatives + positives
                self.hparams.l2 = 2 * negatives / (C * n * n) if balanced else 1 / (C * n)
                if not self.hparams.l2 <= torch.finfo(torch.float32).max:  # (C=1e-300: the loss became nan at once)
                    raise ValueError(f"C={C:g} is too small for {n} training rows: its penalty l2 = 1 / (C n_train) = "
                                     f"{self.hparams.l2:.3g} overflows float32")  # fmt: skip
            if self.hparams.get("tune_threshold") and not len(datamodule.val_idx):
                raise ValueError("--model.tune_threshold needs a validation split (--data.val_fraction > 0)")
        if stage == "fit" and self.hparams.get("tune_threshold") and not self.trainer.limit_val_batches:
            raise ValueError(  # no validation epoch would ever tune it: the fit would keep the given threshold silently
                "--model.tune_threshold needs validation batches; --trainer.limit_val_batches is "
                f"{self.trainer.limit_val_batches:g}"
            )

    def on_train_start(self) -> None:
        """What stays fixed while training, as Python values (:class:`TrainingState`; the cut: each epoch)."""
        raw_features = bool((self.feature_mean == 0).all() and (self.feature_scale == 1).all())
        largest_lr = torch.finfo(self.linear.weight.dtype).max
        self.training_state = TrainingState(raw_features, bool(self.pos_weight == 1), self.penalised, largest_lr)

    def on_train_epoch_start(self) -> None:
        """The threshold as a cut on the logits (no sigmoid per step); a tuned one applies from the next epoch on."""
        self.training_state.decision_cut = logit(float(self.threshold))

    def configure_model(self) -> None:
        """Build the validation or test metrics when a Trainer call first needs them (a fit never tests). Without a
        Trainer (``load_from_checkpoint``) nothing is built."""
        try:
            trainer = self.trainer
        except RuntimeError:  # not attached to a Trainer: Lightning's property has no other way to tell
            return
        fn = stage_name(trainer.state.fn)
        validates = fn == "validate" or (fn == "fit" and trainer.limit_val_batches)
        for stage in ("val",) if validates else ("test",) if fn == "test" else ():
            self._build_metrics(stage)

    def _build_metrics(self, stage: Literal["val", "test"]) -> EvaluationTotals:
        """The stage's metrics on the model's device, built unless built already."""
        if getattr(self, f"{stage}_totals") is None:
            setattr(self, f"{stage}_totals", EvaluationTotals(stage, CURVE_THRESHOLDS).to(self.device))
        return getattr(self, f"{stage}_totals")

    def on_fit_start(self) -> None:
        optimizer = self.trainer.optimizers[0]
        if self.hparams.get("l1"):
            check_l1_optimizer(type(optimizer).__name__, optimizer.param_groups[0])
        if isinstance(optimizer, Newton):
            datamodule = self.trainer.datamodule
            full_batch = isinstance(datamodule, IndexedDataModule) and not datamodule.batch_size
            check_newton(self.hparams.n_inputs, full_batch, self.hparams.get("loss", "bce"))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """A checkpoint keeps the penalty ``C`` resolved to (``l2``), and ``C`` null: it rebuilds without data (the C
        given is kept beside, for the estimator's ``get_params``)."""
        if checkpoint.get("hyper_parameters", {}).get("C") is not None:
            checkpoint["C"], checkpoint["hyper_parameters"]["C"] = checkpoint["hyper_parameters"]["C"], None
        elif getattr(self, "loaded_C", None) is not None:  # a resume: LightningCLI rebuilt the model with C null
            checkpoint["C"] = self.loaded_C

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints from before ``pos_weight`` and ``threshold`` existed load as unweighted, at 0.5. The C given
        to the fit is kept for the checkpoints a resume saves."""
        self.loaded_C = checkpoint.get("C")
        checkpoint.get("state_dict", {}).setdefault("pos_weight", torch.tensor(1.0))
        checkpoint.get("state_dict", {}).setdefault("threshold", torch.tensor(0.5))

    def _training_loss(self, batch: tuple[Tensor, ...]) -> Tensor:
        """Loss of one training batch; ``train_loss`` and ``train_acc`` are summed and logged once an epoch
        (``self.log`` per step costs more than a step)."""
        x, y = batch
        state = self.training_state
        logits = self.linear(x) if state.raw_features else self.logits(x)
        loss = self.loss_fn(logits, y, None if state.unweighted else self.pos_weight)
        self.train_totals.update(loss.detach(), logits.detach() > state.decision_cut, y, rows_per_loss=len(y))
        return loss

    def _evaluation_step(self, batch: tuple[Tensor, ...], stage: Stage) -> Tensor:
        """Loss of one validation or test batch, unweighted (``pos_weight`` weighs training only: val_loss compares
        across runs); the stage's sums are updated here, its metrics logged once per epoch (a batch is (B, D) work:
        one thread, as the training passes, see ``one_thread``)."""
        x, y = batch
        totals = self._build_metrics(stage)
        with one_thread():
            logits = self.logits(x)
            loss = self.loss_fn(logits, y, None, reduction="sum")
            totals.update(torch.sigmoid(logits.detach()), y, loss.detach(), self.threshold)
        return loss / len(y)

    def _log_epoch(self, stage: Stage) -> dict[str, Tensor]:
        """Compute (synchronised across DDP ranks by torchmetrics), log and reset the stage's metrics."""
        if stage == "train":
            values = self.train_totals.compute()
            self.train_totals.reset()
        else:
            totals = self._build_metrics(stage)
            values = totals.compute()
            reset_for_training(totals)
        self.log_dict(values)
        return values

    def training_step(self, batch: tuple[Tensor, ...] | SplitStream, batch_idx: int) -> Tensor:
        first = self.training_state.evaluations == 0  # L-BFGS evaluates the objective several times in one step
        self.training_state.evaluations += 1
        loss = self._streamed_loss(batch, first) if isinstance(batch, SplitStream) else self._training_loss(batch)
        # Stop before the optimizer step poisons the weights: the one deliberate synchronisation per step on a GPU
        if not math.isfinite(loss.item()):
            raise NonFiniteTrainingError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step}; "
                "lower the learning rate (the last finite checkpoint is kept)"
            )
        if not self.training_state.penalised:
            return loss
        weight = self.linear.weight
        smooth = loss + 0.5 * self.hparams.l2 * weight.square().sum()  # what the gradient sees
        objective = smooth + self.hparams.l1 * weight.abs().sum().detach()  # L1: by optimizer_step's soft threshold
        if first or not isinstance(batch, SplitStream):  # (a streamed step's further L-BFGS evaluations: not again)
            rows = batch.total_rows if isinstance(batch, SplitStream) else len(batch[1])
            self.mean_objective.update(objective.detach(), weight=rows)
        return smooth

    def _streamed_loss(self, split: SplitStream, first: bool) -> Tensor:
        """The mean loss over a whole split in float64 chunk sums (all-reduced under DDP), as a surrogate whose
        gradient is the streamed one, so that Lightning's backward leaves exactly that; Newton's Hessian in one pass."""
        weight, bias = self.linear.weight, self.linear.bias  # (1, D), (1,)
        newton = self.trainer.optimizers[0] if isinstance(self.trainer.optimizers[0], Newton) else None
        with torch.no_grad():  # the standardisation folded into the weights: no (B, D) temporary per chunk
            scaled, shift = fold_standardization(weight.view(-1), bias, self.feature_mean, self.feature_scale)
            pos_weight = None if self.pos_weight == 1 else self.pos_weight.to(weight.dtype)
        center = None if newton is None else self.feature_mean.to(weight.dtype)
        stride = 1 if newton is None else newton.stride(split.total_rows)
        split, self.training_state.sampled = split.sample(stride) if stride > 1 else split, stride > 1
        # The last Hessian of an unpenalised fit is its Wald covariance (the coefficient table): float64; a penalised
        # fit's, or a sample's, only steers the steps (the gradient decides the answer): float32, a third of the time,
        # unless a column's squared spread leaves float32's range (std beyond 2**+-40: 3e18 overflowed, Newton stalled).
        in_range = bool((self.feature_scale.log2().abs() < 40).all())
        hessian_dtype = torch.float32 if (self.penalised or stride > 1) and in_range else torch.float64
        cut = self.training_state.decision_cut
        d = len(scaled)
        size = d + 3 + (0 if newton is None else (d + 1) ** 2 + 1)  # (chunk_sums' layout)
        total = torch.zeros(size, dtype=torch.float64, device=weight.device)
        loss_name = self.hparams.get("loss", "bce")

        def sums(x: Tensor, y: Tensor) -> Tensor:  # (B, D), (B, 1): the rows as stored
            return chunk_sums(loss_name, x, y.view(-1), scaled, shift, pos_weight, center, cut, hessian_dtype)

        # (B, D) work, a chunk a thread: on a busy machine torch's 2 threads on one chunk took 6x as long (a
        # conversion 20x); Newton's chunks (a Hessian each) on as many threads at once
        for part in split.map(sums, torch.float32, weight.device, parallel=newton is not None):
            total += part
        self.passes += 1 / stride if stride > 1 else 1
        total = self.trainer.strategy.reduce(total, reduce_op="sum")
        n = split.total_rows
        loss, grad_scaled, grad_shift = total[0] / n, total[1 : d + 1] / n, total[d + 1] / n
        grad_w = (grad_scaled - grad_shift * self.feature_mean) / self.feature_scale  # the chain rule through the fold
        if newton is not None:
            self._newton_sums(newton, total, loss, grad_w, grad_shift, n)
        if first:  # (every rank the whole split's: the epoch's means stay exact)
            self.train_totals.update(total[0], int(total[-1 if newton is None else -2]), n)
        loss, grad_w, grad_b = loss.to(weight.dtype), grad_w.to(weight.dtype), grad_shift.to(weight.dtype)
        slope = (weight.view(-1) * grad_w).sum() + bias.view(()) * grad_b
        return loss + (slope - slope.detach())  # (exactly 0, with the gradient of ``slope``)

    def _newton_sums(self, newton: Newton, total: Tensor, loss: Tensor, grad_w: Tensor, grad_b: Tensor, n: int) -> None:
        """Hand Newton the objective's Hessian in ``[w, b]`` (the chunks' one of ``[x - mean, 1]``, scaled by
        ``[1 / scale, 1]`` on both sides: no cancellation) and whether it converged; keep the pass."""
        d = len(grad_w)
        weight, bias = self.linear.weight.detach().view(-1).double().clone(), self.linear.bias.detach().double().clone()
        to_params = torch.cat([1 / self.feature_scale.double(), torch.ones_like(total[:1])])
        information = total[d + 2 : d + 2 + (d + 1) ** 2].view(d + 1, d + 1) * to_params[:, None] * to_params[None, :]
        l2, newton.hessian = self.hparams.get("l2", 0.0), information / n
        newton.hessian.diagonal()[:d] += l2
        gradient = optimality(grad_w + l2 * weight, grad_b.view(1), weight, 0.0)
        correct, wrong_side, state = float(total[-2]), float(total[-1]), self.training_state
        # converged: here is the answer; or a separated sample: it has none, take the next sample
        newton.converged = bool(gradient < self.hparams.get("tol", 0.0) or (state.sampled and not wrong_side))
        state.first_gradient = gradient
        objective = float(loss) + 0.5 * l2 * float(weight @ weight)
        fit = TrainingFit(float(loss), correct / n, objective, gradient)
        if not state.sampled:
            self.final_pass = FinalPass(weight, bias, state.decision_cut, n, fit, information, not wrong_side)

    @property
    def penalised(self) -> bool:
        return bool(self.hparams.get("l2") or self.hparams.get("l1"))

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.training_state.evaluations, self.training_state.first_gradient = 0, None

    def on_after_backward(self) -> None:
        """Full batch: the first backward of a step gives the exact gradient where the epoch started (the convergence
        check needs no extra pass)."""
        if self.training_state.first_gradient is None and self.trainer.num_training_batches == 1:
            weight, bias, l1 = self.linear.weight, self.linear.bias, self.hparams.get("l1", 0.0)
            gradient = optimality(weight.grad.view(-1), bias.grad.view(-1), weight.detach().view(-1), l1)
            self.training_state.first_gradient = gradient

    def optimizer_step(self, epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None) -> None:
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)
        state = self.training_state  # full batch: the gradient where this step started, exactly (not a sample's)
        gradient = None if state.sampled else state.first_gradient
        if gradient is not None and gradient < self.hparams.get("tol", 0.0):
            # converged (sklearn's criterion, max |gradient| < tol): set in the step, so that Lightning, and
            # training.FinalValidation, validate the epoch that stops
            self.trainer.should_stop = True
        l1 = self.hparams.get("l1")
        if l1:  # proximal step of l1 * ||w||_1: shrink each weight by lr * l1, to exactly 0 where it crosses
            threshold = optimizer.param_groups[0]["lr"] * l1
            with torch.no_grad():
                weight = self.linear.weight
                weight.copy_(weight.sign() * (weight.abs() - threshold).clamp_min(0))

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        for group in optimizer.param_groups:  # (NaN fails the test too; the step itself would fail to convert it)
            if not abs(group["lr"]) <= self.training_state.largest_lr:
                raise NonFiniteTrainingError(
                    f"learning rate became {group['lr']:g} at epoch {self.current_epoch}, step {self.global_step}, "
                    "beyond the parameters' float range; check the scheduler (the last finite checkpoint is kept)"
                )

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._evaluation_step(batch, "val")

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._evaluation_step(batch, "test")

    def predict_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        """Probabilities of class 1, shape (B, 1)."""
        return self(batch[0])

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")
        if self.penalised:
            self.log("train_objective", self.mean_objective.compute())
            self.mean_objective.reset()
        first_gradient = self.training_state.first_gradient
        if first_gradient is not None:  # full batch: where this epoch started, exactly
            self.log("grad_norm", first_gradient)
        self.log("lr", float(self.trainer.optimizers[0].param_groups[0]["lr"]))
        if self.hparams.n_inputs == 1:
            weight, bias = self.coefficients()
            self.log_dict({"weight": weight[0].item(), "bias": bias, "boundary": self.decision_boundary()})

    def on_validation_epoch_end(self) -> None:
        criterion = self.hparams.get("tune_threshold")
        tune = criterion and not self.trainer.sanity_checking  # (the epoch's decisions used the threshold before)
        curve = self._build_metrics("val").curve(precision_recall=criterion == "f1") if tune else None
        self._log_epoch("val")
        if curve is not None:
            self.threshold.fill_(tuned_threshold(curve, criterion))
            self.log("threshold", self.threshold)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    @torch.no_grad()
    def training_fit(self, features: Any, labels: Tensor, rows: Tensor) -> TrainingFit:
        """The current weights on ``rows`` (the training split), exactly, in float64: Newton's last pass if it was here,
        else a pass of :func:`chunk_sums`. Its gradient is scikit-learn's convergence criterion."""
        here = self.final_pass_here()
        if here is not None and here.cut == logit(float(self.threshold)) and here.rows == len(rows):
            return here.fit
        self.passes += 1
        weight, bias = self.linear.weight.detach().double().view(-1), self.linear.bias.detach().double()
        scaled, shift = fold_standardization(weight, bias, self.feature_mean.double(), self.feature_scale.double())
        pos_weight = None if self.pos_weight == 1 else self.pos_weight.double()
        cut = logit(float(self.threshold))
        total = torch.zeros(3 + len(scaled), dtype=torch.float64, device=weight.device)
        with one_thread():  # (as the training passes)
            for x, y in split_stream(features, labels, rows).chunks(torch.float32, weight.device):
                total += chunk_sums(self.hparams.get("loss", "bce"), x, y.view(-1), scaled, shift, pos_weight, cut=cut)
        return self._fit_of(total, len(rows))

    def keep_table_pass(self, total: Tensor, center: Tensor, rows: int) -> None:
        """Keep the coefficient table's pass (:func:`chunk_sums` with ``center`` at the current weights and threshold,
        over the ``rows`` training rows) as :attr:`final_pass`: the summary's loss and accuracy read it, no pass again.
        Its information of ``[x - center, 1]`` becomes that of ``[(x - mean) / scale, 1]``, Newton's ``[w, b]``."""
        d, mean = len(center), self.feature_mean.double()
        to_params = torch.eye(d + 1, dtype=torch.float64, device=total.device)
        to_params[:d, d] = center - mean  # x - mean = (x - center) + (center - mean)
        to_params *= torch.cat([1 / self.feature_scale.double(), to_params.new_ones(1)])[:, None]
        information = to_params @ total[d + 2 : d + 2 + (d + 1) ** 2].view(d + 1, d + 1) @ to_params.T
        weight, bias = self.linear.weight.detach().view(-1).double().clone(), self.linear.bias.detach().double().clone()
        fit = self._fit_of(torch.cat([total[: d + 2], total[-2:-1]]), rows)
        self.final_pass = FinalPass(weight, bias, logit(float(self.threshold)), rows, fit, information, not total[-1])

    def _fit_of(self, total: Tensor, rows: int) -> TrainingFit:
        """The :class:`TrainingFit` of ``[loss, its gradient (D,), the bias's, the rows decided right]`` summed over
        ``rows`` training rows at the current weights."""
        weight, mean, scale = self.linear.weight.detach().double().view(-1), self.feature_mean, self.feature_scale
        mean, scale, total = mean.double(), scale.double(), total / rows  # (the count of right decisions: accuracy)
        l2, l1 = self.hparams.get("l2", 0.0), self.hparams.get("l1", 0.0)
        grad_w = (total[1:-2] - total[-2] * mean) / scale + l2 * weight
        objective = float(total[0]) + 0.5 * l2 * float(weight @ weight) + l1 * float(weight.abs().sum())
        return TrainingFit(float(total[0]), float(total[-1]), objective, optimality(grad_w, total[-2:-1], weight, l1))

    def final_pass_here(self) -> FinalPass | None:
        """The last Newton pass, if it was at the current weights (Newton takes no step once converged)."""
        last, weight, bias = self.final_pass, self.linear.weight.detach().view(-1).double(), self.linear.bias.detach()
        here = last is not None and torch.equal(last.weight, weight) and torch.equal(last.bias, bias.double())
        return last if here else None

    def coefficients(self) -> tuple[Tensor, float]:
        """Weight (n_inputs,) and bias in the units of the raw input features."""
        linear = self.linear
        weight, bias = fold_standardization(linear.weight.detach().float().view(-1), linear.bias.detach().float(),
                                            self.feature_mean, self.feature_scale)  # fmt: skip
        return weight.cpu(), float(bias)

    def decision_boundary(self) -> float:
        """For one feature, the x where the decision changes (:func:`boundary`)."""
        weight, bias = self.coefficients()
        return boundary(float(weight[0]), bias, float(self.threshold))


def float32(value: float) -> float:
    """``value`` as the model's float32 parameters and buffers hold it (1e-300 is 0, 0.99999999999 is 1, 1e39 inf)."""
    return torch.tensor(float(value), dtype=torch.float32).item()


def shown(value: float) -> str:
    """``value`` for an error, with the 0, 1 or inf float32 rounds it to (why an in-range value is refused)."""
    kept = float32(value)
    return f"{value} (float32 rounds it to {kept:g})" if kept != value and abs(kept) in (0, 1, math.inf) else f"{value}"


def logit(probability: float) -> float:
    """The logit of a threshold: ``sigmoid(z) > p`` when ``z > logit(p)``; -inf and inf at 0 and 1."""
    if not 0 < probability < 1:
        return -math.inf if probability <= 0 else math.inf
    return math.log(probability / (1 - probability))


def boundary(weight: float, bias: float, threshold: float = 0.5) -> float:
    """The x where ``sigmoid(weight * x + bias) = threshold``; inf for a zero weight."""
    return (logit(threshold) - bias) / weight if weight != 0 else math.inf


def reset_for_training(*metrics: Metric) -> None:
    """Reset metrics to states a later fit can update in place: ``trainer.validate``/``test`` run under
    ``inference_mode``, whose fresh states a later fit (under ``no_grad``) could not update; no public alternative."""
    with torch.inference_mode(False):
        for metric in metrics:
            metric.reset()


def optimality(grad_w: Tensor, grad_b: Tensor, weight: Tensor, l1: float) -> Tensor:
    """The largest absolute gradient of the objective (``grad_w``: of its smooth part), with L1 the subgradient closest
    to 0: 0 exactly at a minimum."""
    if l1:  # at w = 0 any value in [-l1, l1] is a subgradient of l1 * |w|
        grad_w = torch.where(weight == 0, (grad_w.abs() - l1).clamp_min(0), grad_w + l1 * weight.sign())
    return torch.cat([grad_w.abs(), grad_b.abs()]).max()


def check_l1_optimizer(name: str, options: dict) -> None:
    """L1's soft threshold is the proximal step of plain SGD only (momentum would apply another penalty)."""
    if name != "SGD":
        raise ValueError(f"--model.l1 needs SGD (a soft threshold after each step); {name} cannot apply it")
    if options.get("momentum") or options.get("nesterov") or options.get("dampening"):
        raise ValueError("--model.l1 needs plain SGD: with momentum the soft threshold applies a weaker penalty "
                         "than --model.l1 (leave --optimizer.momentum at 0)")  # fmt: skip
