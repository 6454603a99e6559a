"""``LogisticRegressionClassifier``: logreg's LightningModule and Trainer behind scikit-learn's estimator API.

``fit(X, y)`` validates like scikit-learn, wraps the rows in an :class:`~logreg.data.arrays.ArrayDataModule` and runs
:class:`~logreg.model.logistic.LogisticRegression` through a Trainer: by default full-batch Newton (on small data) or
L-BFGS, in float64 from zero weights (scikit-learn's ``"newton-cholesky"`` and ``"lbfgs"``). Binary only."""

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
from typing import Any, NamedTuple

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
from logreg.model.logistic import LogisticRegression, fold_standardization
from logreg.model.newton import MAX_FEATURES, Newton
from logreg.writes import write_file

SOLVERS = ("auto", "newton", "lbfgs", "sgd", "adam")
DEFAULT_LR = {"newton": 1.0, "lbfgs": 1.0, "sgd": 0.1, "adam": 0.01}  # L-BFGS: its line search picks the step
DEFAULT_BATCH = {"newton": 0, "lbfgs": 0, "sgd": 32, "adam": 32}  # 0: the whole training split as one batch
FULL_BATCH = ("newton", "lbfgs")
# solver="auto": Newton while a step's Hessian, N (D+1)^2 multiply-adds, is cheap next to a step's fixed cost (569 x 30:
# 8 steps against L-BFGS's 20); beyond, L-BFGS's O(N D) passes are cheaper in memory (1M x 32: 1.4 s against 2.7 s)
NEWTON_WORK = 2**27


class EstimatorModule(LogisticRegression):
    """The LightningModule with the estimator's optimizer (``optimizer_factory``, set after construction so that the
    checkpoint's hyperparameters stay the model's own) and the estimator's state in every checkpoint it saves."""

    optimizer_factory: Callable[..., torch.optim.Optimizer] | None = None
    estimator_state: dict[str, Any] | None = None
    record_logs: bool = True  # False: ``log`` records nothing (no logger, no progress bar reads the values)

    def log(self, *args: Any, **kwargs: Any) -> None:
        """Lightning's ``log``, or nothing where nobody reads the values (about a tenth of a small table's fit)."""
        if self.record_logs:
            super().log(*args, **kwargs)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ (w / scale) + (b - (w / scale) . mean)``: no (N, D) temporaries on a large batch."""
        weight, bias = fold_standardization(self.linear.weight, self.linear.bias, self.feature_mean, self.feature_scale)
        return torch.nn.functional.linear(x, weight, bias)  # (N, 1)

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


class LbfgsProgress(NamedTuple):
    """Whether ``step`` ran, iterations, evaluations, and whether the last iteration moved (None: none taken)."""

    started: bool
    iterations: int
    evaluations: int
    moved: bool | None


def lbfgs_progress(optimizer: torch.optim.Optimizer) -> LbfgsProgress:
    """``torch.optim.LBFGS``'s state of the first parameter (undocumented keys, read only here; tests/test_layouts.py
    checks them)."""
    state = optimizer.state_dict()["state"].get(0, {})
    moved = bool((state["d"] * state["t"]).abs().max() > 0) if "d" in state else None
    return LbfgsProgress("n_iter" in state, int(state.get("n_iter", 0)), int(state.get("func_evals", 0)), moved)


class LogisticRegressionClassifier(ClassifierMixin, BaseEstimator):
    """Binary logistic regression with scikit-learn's API, trained by logreg's LightningModule and a Trainer.

    It minimises ``C sum_i s_i loss_i + (1 - l1_ratio) / 2 ||w||^2 + l1_ratio ||w||_1`` as scikit-learn does (``s_i``
    from ``class_weight``), passing the model ``l2 = (1 - l1_ratio) / (C w_0 n)``, ``l1 = l1_ratio / (C w_0 n)`` and
    ``pos_weight = w_1 / w_0``. With ``standardize`` the penalty acts on standardised weights, as in
    ``make_pipeline(StandardScaler(), LogisticRegression(C))``; ``coef_`` and ``intercept_`` are in raw units.

    Args:
        C: inverse penalty strength; ``numpy.inf`` for no penalty.
        l1_ratio: elastic-net mix; > 0 needs ``solver="sgd"`` (logreg's L1 is a proximal SGD step).
        class_weight: None, ``"balanced"`` or ``{label: weight}`` (a missing label weighs 1).
        threshold: ``predict`` gives the second class where its probability is above this.
        tol: converged when the largest absolute gradient of the objective is below ``tol`` (scikit-learn's default).
        max_iter: L-BFGS iterations, or epochs (Newton steps) for the other solvers.
        solver: ``"auto"`` (``"newton"`` where N (D+1)^2 <= 2^27, i.e. its Hessian is cheap, else ``"lbfgs"``),
            ``"newton"`` (full batch, float64; a D x D Hessian), ``"lbfgs"`` (full batch, float64, strong-Wolfe line
            search), ``"sgd"`` or ``"adam"``; ``solver_`` is the one that fitted.
        lr: learning rate (default: 1 for L-BFGS, scaling its line search's step; 0.1 SGD; 0.01 Adam; Newton has none).
        batch_size: rows per step for ``sgd``/``adam`` (default 32; 0: full batch); Newton and L-BFGS are full batch.
        standardize: standardise features inside the model (training rows' mean and standard deviation).
        accelerator, devices: the Trainer's (one device).
        random_state: seeds the initial weights and shuffling of ``sgd``/``adam`` (Newton and L-BFGS start at 0).
        log_dir: write a run directory ``log_dir/lightning_logs/version_N``; None writes nothing.
        verbose: show Lightning's messages and progress bar."""

    def __init__(
        self,
        C: float = 1.0,
        l1_ratio: float = 0.0,
        class_weight: str | dict | None = None,
        threshold: float = 0.5,
        tol: float = 1e-4,
        max_iter: int = 100,
        solver: str = "auto",
        lr: float | None = None,
        batch_size: int | None = None,
        standardize: bool = True,
        accelerator: str = "auto",
        devices: int | list[int] = 1,
        random_state: int | np.random.RandomState | None = None,
        log_dir: str | Path | None = None,
        verbose: bool = False,
    ) -> None:
        self.C = C
        self.l1_ratio = l1_ratio
        self.class_weight = class_weight
        self.threshold = threshold
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.lr = lr
        self.batch_size = batch_size
        self.standardize = standardize
        self.accelerator = accelerator
        self.devices = devices
        self.random_state = random_state
        self.log_dir = log_dir
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary only: the checks use two classes, a third is a ValueError
        return tags

    # --- fit ---------------------------------------------------------------------------------------------------

    def fit(self, X: Any, y: Any) -> LogisticRegressionClassifier:
        """Train on every row of ``X`` (N, D) with labels ``y`` (N,) of two values; returns self."""
        self._check_params()
        X = _pyarrow_as_pandas(X)
        X, y = validate_data(self, X, y, dtype=np.float32)  # finite in float32, 2-D, dense, real; y 1-D
        classes = binary_classes(y)
        newton = X.shape[1] <= MAX_FEATURES and len(X) * (X.shape[1] + 1) ** 2 <= NEWTON_WORK
        self.solver_ = self.solver if self.solver != "auto" else "newton" if newton else "lbfgs"
        batch = DEFAULT_BATCH[self.solver_] if self.batch_size is None else self.batch_size
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        names = getattr(self, "feature_names_in_", None)  # (kept in the checkpoint: predict and export name them)
        datamodule = ArrayDataModule(X, y, val_fraction=0.0, test_fraction=0.0, batch_size=batch, shuffle=batch > 0,
                                     split_seed=seed, standardize=self.standardize,
                                     feature_names=None if names is None else list(names))  # fmt: skip
        model = self._module(X.shape[1], datamodule, classes, seed)
        model.record_logs = self.log_dir is not None or bool(self.verbose)
        with quiet_lightning(self.verbose):
            trainer, run = self._trainer(model)
            with own_random_state(trainer.strategy.root_device):
                trainer.fit(model, datamodule=datamodule)
            self.classes_ = classes
            self.n_iter_ = np.array([self._iterations(trainer)], dtype=np.int32)
            converged = self._converged(trainer, model, datamodule)
            model.estimator_state = self._state()
            self._checkpoint = checkpoint_bytes(trainer)
            if run is not None:
                self._write_run(trainer, model, datamodule, run)
        self._adopt(model)
        if not converged:
            gradient = float(model.objective_gradient(datamodule.features, datamodule.labels, datamodule.train_idx))
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
        pos_weight = (
            "balanced" if self.class_weight == "balanced" else (None if weight_0 == weight_1 else weight_1 / weight_0)
        )
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, without touching the global generator
            torch.manual_seed(seed)
            model = EstimatorModule(
                n_inputs=n_features, lr=lr, l2=(1 - self.l1_ratio) * penalty, l1=self.l1_ratio * penalty,
                pos_weight=pos_weight, tol=float(self.tol), threshold=float(self.threshold),
                init_weight=0.0 if full_batch else None, init_bias=0.0 if full_batch else None,
            )  # fmt: skip
        if solver == "newton":  # configs/tabular.yaml's; one epoch is one Newton step
            model.optimizer_factory = Newton
        elif solver == "lbfgs":  # configs/lbfgs.yaml's; one epoch is one step of up to max_iter iterations
            model.optimizer_factory = functools.partial(
                torch.optim.LBFGS, lr=lr, max_iter=int(self.max_iter), history_size=20,
                line_search_fn="strong_wolfe", tolerance_grad=float(self.tol), tolerance_change=0.0,
            )  # fmt: skip
        else:
            model.optimizer_factory = functools.partial(torch.optim.SGD if solver == "sgd" else torch.optim.Adam, lr=lr)
        return model

    def _trainer(self, model: EstimatorModule) -> tuple[Trainer, Path | None]:
        """A quiet Trainer: no logger, checkpoints, progress bar, summary or validation, unless ``log_dir``."""
        lbfgs, full_batch = self.solver_ == "lbfgs", self.solver_ in FULL_BATCH
        run = callbacks = logger = None
        if self.log_dir is not None:
            root = Path(self.log_dir) / "lightning_logs"
            from logreg.training import claim_version

            logger = TensorBoardLogger(save_dir=self.log_dir, name="lightning_logs", version=claim_version(root),
                                       default_hp_metric=False)  # fmt: skip
            run = Path(logger.log_dir)
            callbacks = [ModelCheckpoint(filename="last", enable_version_counter=False)]
        trainer = Trainer(
            accelerator=self.accelerator,
            devices=self.devices,
            precision="64-true" if full_batch else "32-true",  # float32 weights stall near max |grad| 1e-4
            max_epochs=1 if lbfgs else int(self.max_iter),
            logger=logger or False,
            enable_checkpointing=run is not None,
            callbacks=callbacks,
            enable_progress_bar=bool(self.verbose),
            enable_model_summary=False,
            num_sanity_val_steps=0,
            limit_val_batches=0,
            use_distributed_sampler=False,
            log_every_n_steps=1,
            default_root_dir=self.log_dir,
        )
        return trainer, run

    def _iterations(self, trainer: Trainer) -> int:
        """L-BFGS iterations (its ``n_iter`` state), or epochs (Newton: steps)."""
        if self.solver_ == "lbfgs":
            return lbfgs_progress(trainer.optimizers[0]).iterations
        return int(trainer.current_epoch)

    def _converged(self, trainer: Trainer, model: EstimatorModule, datamodule: ArrayDataModule) -> bool:
        """Whether the objective's largest absolute gradient ended below ``tol``: L-BFGS's state says why it stopped
        (``tolerance_grad=tol``); Newton's last pass is at its final weights once converged; the others take a pass."""
        if self.solver_ != "lbfgs":
            return (
                float(model.objective_gradient(datamodule.features, datamodule.labels, datamodule.train_idx))
                <= self.tol
            )
        optimizer = trainer.optimizers[0]
        progress, group = lbfgs_progress(optimizer), optimizer.param_groups[0]
        if progress.moved is None:  # stopped at the first evaluation: the starting point already met tol
            return progress.started
        return progress.iterations < group["max_iter"] and progress.evaluations < group["max_eval"] and progress.moved

    def _state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the estimator, in plain types (checkpoints load with ``weights_only=True``)."""
        params = {key: _plain(value) for key, value in self.get_params().items()}
        names = getattr(self, "feature_names_in_", None)
        return {"params": params, "classes": self.classes_.tolist(), "n_iter": int(self.n_iter_[0]),
                "feature_names_in": None if names is None else [str(n) for n in names]}  # fmt: skip

    def _write_run(self, trainer: Trainer, model: EstimatorModule, datamodule: ArrayDataModule, run: Path) -> None:
        """config.yaml (the estimator's parameters) and coefficients.csv beside TensorBoard's events and checkpoints."""
        from logreg.report.summary import model_table, save_table

        (run / "config.yaml").write_text(yaml.safe_dump({ESTIMATOR_KEY: self._state()["params"]}, sort_keys=False))
        save_table(trainer, model_table(model, datamodule))  # (and closes the event file again)

    def _adopt(self, model: EstimatorModule) -> None:
        """The fitted attributes of ``model``, on the CPU."""
        self.model_ = (model if model.device.type == "cpu" else model.cpu()).eval()  # (.cpu() walks every metric)
        weight, bias = model.coefficients()  # raw feature units
        self.coef_ = weight.double().numpy().reshape(1, -1)
        self.intercept_ = np.array([bias])

    # --- predict -----------------------------------------------------------------------------------------------

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits (N,): positive where the second class is more likely than the first."""
        check_is_fitted(self)
        X = self._validate_rows(_pyarrow_as_pandas(X))
        model = self.model_
        rows = torch.from_numpy(np.array(X, dtype=np.float32, copy=not X.flags.writeable))
        with torch.inference_mode():
            logits = model.logits(rows.to(model.linear.weight.dtype))  # (N, 1), in the model's precision
        return logits.view(-1).double().numpy()

    def _validate_rows(self, X: Any) -> np.ndarray:
        """``X`` checked as at fit, as float32 rows; reordered columns are named in both orders."""
        try:
            return validate_data(self, X, reset=False, dtype=np.float32)
        except ValueError as err:
            fitted, columns = getattr(self, "feature_names_in_", None), getattr(X, "columns", None)
            if fitted is None or columns is None or "same order" not in str(err):
                raise
            orders = f"Columns at fit: {', '.join(fitted)}\nColumns of X: {', '.join(map(str, columns))}"
            raise ValueError(f"{str(err).rstrip()}\n{orders}") from None

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities (N, 2) of ``classes_[0]`` and ``classes_[1]``."""
        positive = torch.sigmoid(torch.from_numpy(self.decision_function(X))).numpy()
        return np.column_stack([1 - positive, positive])

    def predict(self, X: Any) -> np.ndarray:
        """``classes_[1]`` where its probability is above ``threshold``, else ``classes_[0]``."""
        check_is_fitted(self)
        threshold = float(self.model_.threshold)
        return self.classes_[(self.decision_function(X) > math.log(threshold / (1 - threshold))).astype(np.int64)]

    # --- checkpoints -------------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the fitted model as a Lightning checkpoint that ``logreg predict --ckpt_path`` and :meth:`load` read
        (written to a temporary file beside ``path``, renamed into place: no half-written file)."""
        check_is_fitted(self)
        write_file(path, self._checkpoint, label=str(path))

    @classmethod
    def load(cls, path: str | Path) -> LogisticRegressionClassifier:
        """A fitted estimator from a checkpoint of :meth:`save` (or of ``logreg fit``), loaded with
        ``weights_only=True``; a file that is not one is a one-line ValueError. The model computes in the precision it
        was saved in (bf16: float32)."""
        loaded = load_model(path, EstimatorModule)
        state = loaded.checkpoint.get(ESTIMATOR_KEY) or {}
        estimator = cls(**state.get("params", {}))
        model = loaded.model
        model.estimator_state = state or None
        estimator.classes_ = np.array(loaded.classes)
        estimator.n_features_in_ = int(model.hparams.n_inputs)
        if loaded.feature_names is not None:
            estimator.feature_names_in_ = np.array(loaded.feature_names, dtype=object)
        estimator.n_iter_ = np.array([state.get("n_iter", 0)], dtype=np.int32)
        # (_checkpoint and _adopt are this class's own members, set here as fit sets them: no other library's API)
        with open(path, "rb") as handle:
            estimator._checkpoint = handle.read()
        estimator._adopt(model)
        return estimator


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
        with fs.open(path, "rb") as handle:
            return handle.read()
    finally:
        fs.rm(path.rsplit("/", 1)[0], recursive=True)


def own_random_state(device: torch.device) -> contextlib.AbstractContextManager:
    """torch's global generators restored after the block: the DataLoader draws its base seed from them."""
    return torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else [])


@contextlib.contextmanager
def quiet_lightning(verbose: bool) -> Iterator[None]:
    """Without ``verbose``, Lightning's info lines and advice are held back while fit runs (restored afterwards)."""
    if verbose:
        yield
        return
    names = ("lightning.pytorch", "lightning.fabric", "lightning.pytorch.utilities.rank_zero",
             "lightning.fabric.utilities.rank_zero")  # fmt: skip
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        for name in names:
            logging.getLogger(name).setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*does not have many workers")
            warnings.filterwarnings("ignore", message=r".*number of training batches .* is smaller than the logging")
            warnings.filterwarnings("ignore", message=r"GPU available but not used")
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")  # Lightning on torch 2.13
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


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
