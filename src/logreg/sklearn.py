"""``LogisticRegressionClassifier``: logreg's LightningModule and Trainer behind scikit-learn's estimator API (binary
only): by default full-batch Newton on small data, else L-BFGS, in float64 from zero weights, as scikit-learn's."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import uuid
import warnings
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import torch
import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from logreg.checkpoint import ESTIMATOR_KEY, datamodule_key, load_model
from logreg.data.arrays import ArrayDataModule
from logreg.data.files import FileDataModule
from logreg.data.readers import label_value
from logreg.model.logistic import LogisticRegression, logit
from logreg.model.newton import MAX_FEATURES, Newton
from logreg.writes import write_file

SOLVERS = ("auto", "newton", "lbfgs", "sgd", "adam")
DEFAULT_LR = {"newton": 1.0, "lbfgs": 1.0, "sgd": 0.1, "adam": 0.01}  # L-BFGS: its line search picks the step
FULL_BATCH = ("newton", "lbfgs")  # the others' default batch: 32 rows
NEWTON_WORK = 2**27  # solver="auto": Newton while its Hessian's N (D+1)^2 is cheap next to a step, beyond it L-BFGS


class EstimatorModule(LogisticRegression):
    """The LightningModule with the estimator's optimizer (set after construction, so that the checkpoint's
    hyperparameters stay the model's own) and the estimator's state in every checkpoint it saves."""

    optimizer_factory: Callable[..., torch.optim.Optimizer] | None = None
    estimator_state: dict[str, Any] | None = None
    record_logs: bool = True  # False: no logger or progress bar reads the values, and ``log`` skips them

    def log(self, *args: Any, **kwargs: Any) -> None:
        if self.record_logs:  # (logging is about a tenth of a small table's fit)
            super().log(*args, **kwargs)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer_factory is None:
            return super().configure_optimizers()
        return self.optimizer_factory(self.parameters())

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add the estimator's parameters and labels, and the FileDataModule state ``logreg predict`` restores."""
        if self.estimator_state is None:
            return
        checkpoint[ESTIMATOR_KEY] = self.estimator_state
        file_state = {"classes": [str(c) for c in self.estimator_state["classes"]]}
        if self.estimator_state.get("feature_names_in") is not None:
            file_state["feature_names"] = list(self.estimator_state["feature_names_in"])
        checkpoint.setdefault(datamodule_key(FileDataModule), file_state)


def lbfgs_progress(optimizer: torch.optim.Optimizer) -> tuple[bool, int, int, bool | None]:
    """``torch.optim.LBFGS``'s state (undocumented keys, read only here; tests/test_layouts.py checks them): whether
    ``step`` ran, iterations, evaluations, and whether the last iteration moved (None: none taken)."""
    state = optimizer.state_dict()["state"].get(0, {})
    moved = bool((state["d"] * state["t"]).abs().max() > 0) if "d" in state else None
    return "n_iter" in state, int(state.get("n_iter", 0)), int(state.get("func_evals", 0)), moved


class LogisticRegressionClassifier(ClassifierMixin, BaseEstimator):
    """Binary logistic regression with scikit-learn's API, trained by logreg's LightningModule and a Trainer. It
    minimises ``C sum_i s_i loss_i + (1 - l1_ratio) / 2 ||w||^2 + l1_ratio ||w||_1`` as scikit-learn does (``s_i`` from
    ``class_weight``); ``coef_`` and ``intercept_`` are in raw units. The parameters: the table in docs/estimator.md."""

    def __init__(
        self, C: float = 1.0, l1_ratio: float = 0.0, class_weight: str | dict | None = None, threshold: float = 0.5,
        tol: float = 1e-4, max_iter: int = 100, solver: str = "auto", lr: float | None = None,
        batch_size: int | None = None, standardize: bool = True, accelerator: str = "auto",
        devices: int | list[int] = 1, random_state: int | np.random.RandomState | None = None,
        log_dir: str | Path | None = None, verbose: bool = False,
    ) -> None:  # fmt: skip
        # scikit-learn's contract: every parameter stored as given, under its own name (fit checks them)
        vars(self).update({name: value for name, value in locals().items() if name != "self"})

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only: the checks use two classes, a third is a ValueError
        return tags

    def fit(self, X: Any, y: Any) -> LogisticRegressionClassifier:
        """Train on every row of ``X`` (N, D) with labels ``y`` (N,) of two values; returns self."""
        self._check_params()
        X, y = validate_data(self, _pyarrow_as_pandas(X), y, dtype=(np.float64, np.float32))  # 2-D, dense, real, finite
        classes = binary_classes(y)
        newton = X.shape[1] <= MAX_FEATURES and len(X) * (X.shape[1] + 1) ** 2 <= NEWTON_WORK
        self.solver_ = self.solver if self.solver != "auto" else "newton" if newton else "lbfgs"
        batch = (0 if self.solver_ in FULL_BATCH else 32) if self.batch_size is None else self.batch_size
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        names = getattr(self, "feature_names_in_", None)  # (kept in the checkpoint: predict and export name them)
        datamodule = ArrayDataModule(X, y, val_fraction=0.0, test_fraction=0.0, batch_size=batch, shuffle=batch > 0,
                                     split_seed=seed, standardize=self.standardize,
                                     feature_names=None if names is None else list(names))  # fmt: skip
        model = self._module(X.shape[1], datamodule, classes, seed)
        model.record_logs = self.log_dir is not None or bool(self.verbose)
        with quiet_lightning(self.verbose):
            trainer = self._trainer()
            device = trainer.strategy.root_device  # (torch's generators restored: the DataLoader draws from them)
            with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
                trainer.fit(model, datamodule=datamodule)
            self.classes_ = classes
            iterations = lbfgs_progress(trainer.optimizers[0])[1] if self.solver_ == "lbfgs" else trainer.current_epoch
            self.n_iter_ = np.array([iterations], dtype=np.int32)
            converged, gradient = self._converged(trainer, model, datamodule)
            model.estimator_state = self._state()
            self._checkpoint = checkpoint_bytes(trainer)
            if self.log_dir is not None:  # the estimator's parameters and coefficients.csv beside TensorBoard's events
                from logreg.report.summary import model_table, save_table

                params = {ESTIMATOR_KEY: model.estimator_state["params"]}
                (Path(trainer.logger.log_dir) / "config.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
                save_table(trainer, model_table(model, datamodule))  # (and closes the event file again)
        self._adopt(model)
        if not converged:
            rows = datamodule.features, datamodule.labels, datamodule.train_idx
            gradient = float(model.training_fit(*rows).gradient) if gradient is None else gradient
            warnings.warn(
                f"{self.solver_} did not converge in max_iter={self.max_iter} (max |grad| {gradient:.2g}, tol "
                f"{self.tol:g}); raise max_iter{'' if self.standardize else ', or standardize the features'}",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _check_params(self) -> None:
        """Parameters are checked when fit starts (scikit-learn's constructors only store them)."""
        if not (isinstance(self.C, Real) and self.C > 0):
            raise ValueError(f"C must be a number > 0 (numpy.inf: no penalty), got {self.C!r}")
        if not (isinstance(self.l1_ratio, Real) and 0 <= self.l1_ratio <= 1):
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        if self.l1_ratio > 0 and self.solver != "sgd" and math.inf != self.C:
            raise ValueError(f"l1_ratio > 0 needs solver='sgd' (L1 is a proximal SGD step), got solver={self.solver!r}")
        if not (isinstance(self.max_iter, Integral) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if not (isinstance(self.tol, Real) and 0 < self.tol < math.inf):
            raise ValueError(f"tol must be a finite number > 0, got {self.tol!r}")
        if not (isinstance(self.threshold, Real) and 0 < self.threshold < 1):
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        if self.lr is not None and not (isinstance(self.lr, Real) and 0 < self.lr < math.inf):
            raise ValueError(f"lr must be a finite number > 0 or None, got {self.lr!r}")
        if self.batch_size is not None and not (isinstance(self.batch_size, Integral) and self.batch_size >= 0):
            raise ValueError(f"batch_size must be an integer >= 1, 0 (full batch) or None, got {self.batch_size!r}")
        if self.solver in ("auto", *FULL_BATCH) and self.batch_size not in (None, 0):
            raise ValueError(f"solver={self.solver!r} trains on the full batch; batch_size applies to 'sgd' and 'adam'")
        if not (self.devices == 1 or (isinstance(self.devices, list | tuple) and len(self.devices) == 1)):
            raise ValueError(f"devices must be 1 or a list of one device index (fit runs on one), got {self.devices!r}")
        if not (self.class_weight is None or self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {self.class_weight!r}"
            )

    def _class_weights(self, classes: np.ndarray, counts: tuple[int, int]) -> tuple[float, float]:
        """The weights of class 0 and class 1 (sklearn's ``class_weight``; 'balanced' = n / (2 * class count))."""
        if self.class_weight is None:
            return 1.0, 1.0
        if self.class_weight == "balanced":
            n = sum(counts)
            return n / (2 * counts[0]), n / (2 * counts[1])
        unknown = [key for key in self.class_weight if key not in classes.tolist()]
        if unknown:
            raise ValueError(f"class_weight: {unknown[0]!r} is not a class of y ({', '.join(map(repr, classes))})")
        weights = tuple(float(self.class_weight.get(c, 1.0)) for c in classes.tolist())
        if not all(0 < w < math.inf for w in weights):
            raise ValueError(f"class_weight: weights must be finite and > 0, got {self.class_weight!r}")
        return weights

    def _module(self, n_features: int, datamodule: ArrayDataModule, classes: np.ndarray, seed: int) -> EstimatorModule:
        """The LightningModule with sklearn's objective in logreg's terms, and the solver's optimizer."""
        n = len(datamodule.labels)
        positives = int(datamodule.labels.sum())
        weight_0, weight_1 = self._class_weights(classes, (n - positives, positives))
        penalty = 0.0 if math.inf == self.C else 1.0 / (self.C * weight_0 * n)
        solver, full_batch = self.solver_, self.solver_ in FULL_BATCH
        lr = DEFAULT_LR[solver] if self.lr is None else float(self.lr)
        balanced = self.class_weight == "balanced"  # (the model takes the training split's balance itself)
        pos_weight = "balanced" if balanced else None if weight_0 == weight_1 else weight_1 / weight_0
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, without touching the global generator
            torch.manual_seed(seed)
            model = EstimatorModule(
                n_inputs=n_features, lr=lr, l2=(1 - self.l1_ratio) * penalty, l1=self.l1_ratio * penalty,
                pos_weight=pos_weight, tol=float(self.tol), threshold=float(self.threshold),
                init_weight=0.0 if full_batch else None, init_bias=0.0 if full_batch else None,
            )  # fmt: skip
        # Newton and L-BFGS as configs/tabular.yaml and lbfgs.yaml: an epoch is one step (L-BFGS: max_iter iterations)
        lbfgs = functools.partial(torch.optim.LBFGS, lr=lr, max_iter=int(self.max_iter), history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=float(self.tol),
                                  tolerance_change=0.0)  # fmt: skip
        sgd, adam = (functools.partial(kind, lr=lr) for kind in (torch.optim.SGD, torch.optim.Adam))
        model.optimizer_factory = {"newton": Newton, "lbfgs": lbfgs, "sgd": sgd, "adam": adam}[solver]
        return model

    def _trainer(self) -> Trainer:
        """A quiet Trainer: no logger, checkpoints, progress bar, summary or validation, unless ``log_dir``."""
        logger = callbacks = None
        if self.log_dir is not None:
            from logreg.training import claim_version

            version = claim_version(Path(self.log_dir) / "lightning_logs")
            logger = TensorBoardLogger(self.log_dir, name="lightning_logs", version=version, default_hp_metric=False)
            callbacks = [ModelCheckpoint(filename="last", enable_version_counter=False)]
        # (float32 weights stall near max |grad| 1e-4: the full-batch solvers run in float64)
        return Trainer(accelerator=self.accelerator, devices=self.devices, logger=logger or False, callbacks=callbacks,
                       precision="64-true" if self.solver_ in FULL_BATCH else "32-true",
                       max_epochs=1 if self.solver_ == "lbfgs" else int(self.max_iter),
                       enable_checkpointing=logger is not None, enable_progress_bar=bool(self.verbose),
                       enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                       use_distributed_sampler=False, log_every_n_steps=1, default_root_dir=self.log_dir)  # fmt: skip

    def _converged(self, trainer: Trainer, model: EstimatorModule, data: ArrayDataModule) -> tuple[bool, float | None]:
        """Whether the objective's largest absolute gradient ended below ``tol``, and that gradient where a pass gave it
        (Newton's last one once converged); L-BFGS's state says why it stopped (its ``tolerance_grad`` is ``tol``)."""
        if self.solver_ != "lbfgs":
            gradient = float(model.training_fit(data.features, data.labels, data.train_idx).gradient)
            return gradient <= self.tol, gradient
        optimizer = trainer.optimizers[0]
        started, iterations, evaluations, moved = lbfgs_progress(optimizer)
        if moved is None:  # stopped at the first evaluation: the starting point already met tol
            return started, None
        group = optimizer.param_groups[0]
        return iterations < group["max_iter"] and evaluations < group["max_eval"] and moved, None

    def _state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the estimator, in plain types (checkpoints load with ``weights_only=True``)."""
        params = {key: _plain(value) for key, value in self.get_params().items()}
        names = getattr(self, "feature_names_in_", None)
        return {"params": params, "classes": self.classes_.tolist(), "n_iter": int(self.n_iter_[0]),
                "feature_names_in": None if names is None else [str(n) for n in names]}  # fmt: skip

    def _adopt(self, model: EstimatorModule) -> None:
        """The fitted attributes of ``model``, on the CPU."""
        self.model_ = (model if model.device.type == "cpu" else model.cpu()).eval()  # (.cpu() walks every metric)
        weight, bias = model.coefficients()  # raw feature units
        self.coef_ = weight.double().numpy().reshape(1, -1)
        self.intercept_ = np.array([bias])

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits (N,): positive where the second class is more likely than the first."""
        check_is_fitted(self)
        X = _pyarrow_as_pandas(X)
        try:  # checked as at fit, as float32 rows; reordered columns are named in both orders
            rows = validate_data(self, X, reset=False, dtype=np.float32)
        except ValueError as err:
            fitted, columns = getattr(self, "feature_names_in_", None), getattr(X, "columns", None)
            if fitted is None or columns is None or "same order" not in str(err):
                raise
            orders = f"Columns at fit: {', '.join(fitted)}\nColumns of X: {', '.join(map(str, columns))}"
            raise ValueError(f"{str(err).rstrip()}\n{orders}") from None
        rows = torch.from_numpy(np.array(rows, dtype=np.float32, copy=not rows.flags.writeable))
        with torch.inference_mode():  # (N, 1) logits, in the model's precision
            return self.model_.logits(rows.to(self.model_.linear.weight.dtype)).view(-1).double().numpy()

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities (N, 2) of ``classes_[0]`` and ``classes_[1]``."""
        positive = torch.sigmoid(torch.from_numpy(self.decision_function(X))).numpy()
        return np.column_stack([1 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """``classes_[1]`` where its probability is above ``threshold``, else ``classes_[0]``."""
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > logit(float(self.model_.threshold))).astype(np.int64)]

    def save(self, path: str | Path) -> None:
        """Write the fitted model as a Lightning checkpoint that ``logreg predict --ckpt_path`` and :meth:`load` read
        (atomically: no half-written file)."""
        check_is_fitted(self)
        write_file(path, self._checkpoint, label=str(path))

    @classmethod
    def load(cls, path: str | Path) -> LogisticRegressionClassifier:
        """A fitted estimator from a checkpoint of :meth:`save` (or of ``logreg fit``), loaded with
        ``weights_only=True``; a file that is not one is a one-line ValueError (or OSError naming ``path``).

        A ``logreg fit`` checkpoint's classes become scikit-learn's: sorted, numbers where every label is a number's
        canonical spelling (as pandas reads such a column: ``0``/``1``), else strings. Where its model's class 1 is
        ``classes_[0]`` (``--data.positive``), the loaded model is mirrored (logits, ``coef_``, ``intercept_`` negated,
        threshold ``1 - t``): ``predict_proba[:, 1]`` is the probability of ``classes_[1]``, as after ``fit``."""
        try:
            loaded = load_model(path, EstimatorModule)
        except (OSError, ValueError) as err:  # (the checks' messages name the CLI's flag)
            raise type(err)(str(err).removeprefix("--ckpt_path ")) from None
        state = loaded.checkpoint.get(ESTIMATOR_KEY) or {}
        classes, flipped = (np.array(loaded.classes), False) if state else cli_classes(loaded.classes)
        params = state.get("params", cli_params(loaded.checkpoint, loaded.model))  # (the threshold as the fit had it)
        if flipped:
            with torch.no_grad():
                for tensor in (loaded.model.linear.weight, loaded.model.linear.bias):
                    tensor.neg_()
                loaded.model.threshold.copy_(1 - loaded.model.threshold)  # exact in float32: the same decisions
            # the parameter mirrors the threshold as given, in float64, to float32's digits: 0.2 for 0.8 (the float32
            # buffer's 1 - 0.800000012 reads 0.19999999)
            params["threshold"] = float(str(np.float32(1 - params["threshold"])))
        estimator = cls(**params)
        loaded.model.estimator_state = state or None
        estimator.classes_ = classes
        estimator.n_features_in_ = int(loaded.model.hparams.n_inputs)
        if loaded.feature_names is not None:
            estimator.feature_names_in_ = np.array(loaded.feature_names, dtype=object)
        estimator.n_iter_ = np.array([state.get("n_iter", 0)], dtype=np.int32)
        estimator._checkpoint = Path(path).read_bytes()  # (this class's own members, set as fit sets them)
        estimator._adopt(loaded.model)  # (this class's own method, as fit calls it)
        return estimator


def cli_params(checkpoint: dict[str, Any], model: LogisticRegression) -> dict[str, Any]:
    """A ``logreg fit`` checkpoint's threshold and C as the estimator's parameters (``clone()`` refits that model):
    the C it was given, inf without a penalty; an ``l2`` given as such keeps the default C (no C without n_train)."""
    penalised = model.hparams.get("l2") or model.hparams.get("l1")
    C = checkpoint.get("C", None if penalised else math.inf)
    threshold = float(str(np.float32(model.threshold)))  # (the float32 buffer's shortest: 0.8, not 0.800000012)
    return {"threshold": threshold, **({} if C is None else {"C": C})}


def cli_classes(texts: list[str]) -> tuple[np.ndarray, bool]:
    """A ``logreg fit`` checkpoint's labels of class 0 and 1 as a sorted ``classes_``: the values pandas reads for a
    CSV column of them (bool for ``True``/``false``, numbers for ``+1``, ``01``, ``1.0``), so that ``score`` takes
    the file's labels; the texts when those are not two distinct finite values of one kind. Also whether the two
    were in the other order."""
    values = [label_value(text) for text in texts]
    kinds = {isinstance(value, bool) for value in values}
    read = None not in values and len(kinds) == 1 and values[0] != values[1] and all(map(math.isfinite, values))
    classes = np.array(values if read else texts)
    return np.sort(classes), bool(classes[0] > classes[1])


def binary_classes(y: np.ndarray) -> np.ndarray:
    """The two sorted label values of ``y``; anything else is a one-line ValueError (a regression target too)."""
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) > 2:  # (scikit-learn's words for it, which its checks of binary-only estimators expect)
        kind = type_of_target(y, input_name="y")
        raise ValueError(
            f"Only binary classification is supported. The type of the target is {kind} ({len(classes)} classes)."
        )
    if len(classes) < 2:
        raise ValueError(f"y has 1 class ({classes[0]!r}); a classifier needs samples of 2 classes")
    return classes


def checkpoint_bytes(trainer: Trainer) -> bytes:
    """The trainer's checkpoint of its model (no optimizer state), written to fsspec's in-memory filesystem."""
    url = f"memory://logreg-estimator-{uuid.uuid4().hex}/model.ckpt"
    fs, path = fsspec.core.url_to_fs(url)
    try:
        trainer.save_checkpoint(url, weights_only=True)
        return fs.cat_file(path)
    finally:
        fs.rm(path.rsplit("/", 1)[0], recursive=True)


QUIET = (r".*does not have many workers", r".*number of training batches .* is smaller than the logging",
         r"GPU available but not used", r".*isinstance\(treespec, LeafSpec\)")  # fmt: skip
QUIET_LOGGERS = ("pytorch", "fabric", "pytorch.utilities.rank_zero", "fabric.utilities.rank_zero")


@contextlib.contextmanager
def quiet_lightning(verbose: bool) -> Iterator[None]:
    """Without ``verbose``, Lightning's info lines and advice are held back while fit runs (restored afterwards)."""
    loggers = [] if verbose else [logging.getLogger(f"lightning.{name}") for name in QUIET_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for message in () if verbose else QUIET:
            warnings.filterwarnings("ignore", message=message)
        try:
            for logger in loggers:
                logger.setLevel(logging.WARNING)
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


def _pyarrow_as_pandas(x: Any) -> Any:
    """A pyarrow table as a DataFrame, so that scikit-learn's validation records its column names."""
    return x.to_pandas() if type(x).__module__.startswith("pyarrow") else x


def _plain(value: Any) -> Any:
    """A parameter as a plain Python value for a checkpoint (a RandomState instance is not kept)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, str | int | float | bool) else None
