"""``logreg fit|validate|test|predict``: a LightningCLI over the model and the data modules.

With no config at all, ``logreg fit`` runs the tutorial's experiment (seed 0, 50 epochs, SGD lr 2, batch 2)
on a stratified train/val/test split, logs to ``./lightning_logs/version_N``, prints a summary and tests the
best checkpoint. :func:`logreg.cli.main` turns user mistakes into one line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import logging
import shutil
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentParser, DefaultHelpFormatter, Namespace
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from logreg.about import FIT_EPILOG
from logreg.callbacks import CSVPredictionWriter, EarlyStopping, GracefulStop, TrainingFigures
from logreg.checkpoint import check_checkpoint
from logreg.cli import Stopped
from logreg.coefficients import summary_lines
from logreg.data import IndexedDataModule
from logreg.files import FileDataModule
from logreg.loggers import HparamsCallback, claim_version
from logreg.model import LogisticRegression, check_l1_optimizer
from logreg.preview import PredictionPreview
from logreg.summary import (
    TOP_COEFFICIENTS,
    Tested,
    convergence,
    fit_summary,
    half_precision,
    model_table,
    print_results,
    save_table,
    weights_to_test,
)
from logreg.writes import is_stdout

CHECKPOINT_KEYWORDS = {"last", "best", "hpc", "registry"}
_HANDLED_HERE = {"model", "datamodule", "ckpt_path", "weights_only"}  # not flags: logreg sets these itself
SUBCOMMANDS = {  # Lightning's subcommands with the Trainer arguments each leaves out of its flags
    "fit": _HANDLED_HERE | {"train_dataloaders", "val_dataloaders"},
    "validate": _HANDLED_HERE | {"dataloaders", "verbose"},
    "test": _HANDLED_HERE | {"dataloaders", "verbose"},
    "predict": _HANDLED_HERE | {"dataloaders", "return_predictions"},
}
DEFAULT_DATA = "logreg.data.ThresholdDataModule"  # the tutorial's data, when no --data is given


def trainer_defaults() -> dict[str, Any]:
    """The Trainer's defaults for logreg (fresh callback objects for every CLI)."""
    # last.ckpt is rewritten after every epoch and at a stop by a signal: the resume point. (Lightning >= 2.5 writes
    # ModelCheckpoint's own save_last only when the monitored metric improves, which would resume from a stale epoch.)
    last = ModelCheckpoint(filename="last", enable_version_counter=False)
    return {
        "max_epochs": 50,
        "accelerator": "auto",
        "logger": {
            "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
            # hparams are logged once per run by HparamsCallback (the whole config, hp_metric and test accuracy).
            # No model graph (log_graph): TensorBoard's add_graph traces with torch.jit.trace, deprecated from torch
            # 2.14 on (a FutureWarning in every run), and the graph of Linear + sigmoid shows nothing.
            "init_args": {"save_dir": ".", "name": "lightning_logs", "default_hp_metric": False},
        },
        # The data modules shard batches across DDP ranks themselves (EpochBatches), exactly once per row.
        "use_distributed_sampler": False,
        # Validation runs the training step's own code; a two-batch sanity pass over a tiny split only produces
        # single-class metric warnings.
        "num_sanity_val_steps": 0,
        "log_every_n_steps": 1,  # everything is logged per epoch; this only silences a warning about short epochs
        "enable_model_summary": False,  # two parameters need no table
        # Lightning's progress bar on a terminal; none in pipes, logs and CI, where it only spams redraws.
        "enable_progress_bar": sys.stderr.isatty(),
        "callbacks": [TrainingFigures(), last, GracefulStop(last)],
    }


def monitor_for(val_fraction: float) -> str:
    """The metric that picks the best checkpoint: validation loss, or training loss without a validation split."""
    return "val_loss" if val_fraction > 0 else "train_loss"


class LogRegTrainer(Trainer):
    """Lightning's Trainer, whose ``predict`` can also stream the predictions into a CSV file.

    LightningCLI makes each subcommand's flags from the trainer method's signature, so these two arguments are
    ``logreg predict --predictions FILE [--overwrite true]``.
    """

    def predict(
        self,
        model: LightningModule | None = None,
        dataloaders: Any = None,
        datamodule: LightningDataModule | None = None,
        return_predictions: bool | None = None,
        ckpt_path: str | None = None,
        weights_only: bool | None = None,
        predictions: str | None = None,
        overwrite: bool = False,
        threshold: float | None = None,
    ) -> Any:
        """Run inference on your data; with ``predictions``, write them to that CSV file, else show a preview.

        Args:
            predictions: write ``probability,predicted_label[,label]`` rows, in input order, to this CSV file.
            overwrite: replace an existing ``predictions`` file.
            threshold: ``predicted_label`` is 1 above this probability (default: the checkpoint's threshold).
        """
        if predictions == "":
            raise ValueError("--predictions: an empty path; give a file name such as out.csv")
        if threshold is not None and not 0 < threshold < 1:
            raise ValueError(f"--threshold must be in (0, 1), got {threshold}")
        if predictions:
            writer = CSVPredictionWriter(predictions, overwrite=overwrite, threshold=threshold)
            writer.check_target()
            self.callbacks.append(writer)
        else:
            self.callbacks.append(PredictionPreview(threshold=threshold))
        return super().predict(model, dataloaders, datamodule, return_predictions, ckpt_path, weights_only)


class LogRegCLI(LightningCLI):
    """LightningCLI for logreg: the data's feature count linked into the model, the best and the last checkpoint,
    checkpoints checked before use, each run in a directory of its own (a resumed run in its old one), summaries.

    Only LightningCLI's public hooks are used. ``--ckpt_path`` is logreg's own argument (``subcommands()`` skips
    Lightning's), so that a checkpoint is loaded once, safely, before anything is built from it.
    """

    checkpoint: dict[str, Any] | None = None  # the --ckpt_path checkpoint, once checked
    claimed_run: Path | None = None  # the version directory this process created for its run
    configured_logger: Namespace | None = None  # the logger's config as given, before the run directory is set
    ckpt_path: str | None = None  # --ckpt_path; after_instantiate_classes clears it in a fit's saved config

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        parser_kwargs = kwargs.get("parser_kwargs") or {}
        self.invoked = None if reads_environment(parser_kwargs) else invoked_subcommand(kwargs.get("args"))
        built = self.subcommands()  # a parser option keyed by a subcommand that is not built would reach argparse
        kwargs["parser_kwargs"] = {k: v for k, v in parser_kwargs.items() if k not in SUBCOMMANDS or k in built}
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self.discard_failed_run()
            raise

    def subcommands(self) -> dict[str, set[str]]:
        """Lightning's subcommands, less what logreg handles itself; only the one invoked when the command line
        starts with it. Each subcommand's parser is built from the signatures of the model, data, trainer, optimizer
        and scheduler classes, about 0.1 s apiece, and ``logreg fit`` needs only its own."""
        return {self.invoked: SUBCOMMANDS[self.invoked]} if self.invoked else SUBCOMMANDS

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--ckpt_path", type=str | None, default=None,
            help="Checkpoint to resume (fit) or to evaluate; loaded with weights_only=True, never runs code.",
        )  # fmt: skip
        parser.set_defaults({"data": {"class_path": DEFAULT_DATA}})
        parser.link_arguments("data.n_features", "model.n_inputs", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {"checkpoint.filename": "best-epoch={epoch}-step={step}", "checkpoint.auto_insert_metric_name": False}
        )
        parser.link_arguments("data.val_fraction", "checkpoint.monitor", compute_fn=monitor_for, apply_on="instantiate")
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.link_arguments("data.val_fraction", "early_stopping.monitor", compute_fn=monitor_for,
                              apply_on="instantiate")  # fmt: skip

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then load ``--ckpt_path`` (once) and take the model's hyperparameters from it."""
        args = penalty_flags_replace_configs(with_packaged_configs(sys.argv[1:] if args is None else list(args)))
        refuse_yaml_aliases(args)
        printing = [word for word in args if word.startswith("--print_config")]  # printed by the last parse only
        super().parse_arguments(parser, [word for word in args if word not in printing])
        subcommand = self.config.get("subcommand")
        if subcommand:
            self.use_own_data_defaults(parser, args, subcommand, again=bool(printing))
        self.ckpt_path = ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or (ckpt_path in CHECKPOINT_KEYWORDS and subcommand == "fit"):
            return
        if ckpt_path in CHECKPOINT_KEYWORDS:  # Lightning would warn, then evaluate an untrained model
            raise ValueError(
                f"--ckpt_path {ckpt_path}: only fit knows its {ckpt_path!r} checkpoint; give a checkpoint file, e.g. "
                "lightning_logs/version_0/checkpoints/last.ckpt"
            )
        self.checkpoint = check_checkpoint(ckpt_path)
        hparams = {k: v for k, v in self.checkpoint.get("hyper_parameters", {}).items() if k != "_instantiator"}
        if hparams:
            self.config = parser.parse_object({subcommand: {"model": hparams}}, self.config)

    def use_own_data_defaults(
        self, parser: LightningArgumentParser, args: list[str], subcommand: str, again: bool = False
    ) -> None:
        """``--data FileDataModule`` gets FileDataModule's own defaults, e.g. ``batch_size`` 32.

        jsonargparse carries the previous class's init_args over when ``--data`` changes the class, so the default
        ThresholdDataModule's ``batch_size`` 2 would stay (jsonargparse issue #460). Parsing again with the chosen
        class as the default carries over only its own defaults; values given on the command line or in a config
        file are parsed again and win as before. (Public API only: ``set_defaults`` and ``parse_args``.)
        """
        data = self.config[subcommand].get("data")
        chosen = isinstance(data, Namespace) and resolved(data.class_path) is not resolved(DEFAULT_DATA)
        if chosen:
            parser.set_defaults({f"{subcommand}.data": {"class_path": data.class_path}})
        if chosen or again:  # (again: --print_config, left out of the first parse, prints the final config)
            self.config = parser.parse_args(args)

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if self.subcommand != "fit":  # validate, test and predict never write checkpoints: where they would is moot
            warnings.filterwarnings("ignore", message=r"The dirpath has changed from")
            warnings.filterwarnings("ignore", message=r"Be aware that when using `ckpt_path`, callbacks used to")
        if self.subcommand == "predict":  # predict logs nothing: no logger, no run directory, no config.yaml
            config.trainer.logger = False
            self.save_config_callback = None
            return
        logger = config.trainer.get("logger")
        if not isinstance(logger, Namespace) or not logger.class_path.endswith("TensorBoardLogger"):
            return
        self.configured_logger = logger.clone()
        args = logger.init_args
        if config.trainer.get("default_root_dir") and args.save_dir == ".":  # where Lightning's own logger would log
            args.save_dir = config.trainer.default_root_dir
        run = resumed_run(config.get("ckpt_path")) if self.subcommand == "fit" else None
        if run is not None:  # a resumed run logs into its own directory: same TensorBoard run, "best" keeps history
            if (Path(args.save_dir) / (args.name or "")).resolve() != run.parent:
                args.save_dir, args.name = str(run.parent.parent), run.parent.name
            args.version = run.name  # (the configured save_dir keeps the checkpoint's dirpath spelled as saved)
            self.save_config_kwargs["overwrite"] = True
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")  # its own
        elif args.get("version") is None and rank_zero_only.rank == 0:
            root = Path(args.save_dir) / (args.name or "")
            try:
                args.version = claim_version(root)
            except OSError as err:
                raise ValueError(f"cannot create the run directory under {root} ({err.strerror or err})") from None
            self.claimed_run = root / f"version_{args.version}"

    def after_instantiate_classes(self) -> None:
        """The saved config.yaml describes the run, not this command: the logger as configured and no checkpoint to
        resume from, so that ``logreg fit --config RUN/config.yaml`` makes a new run that reproduces this one."""
        if self.configured_logger is not None:
            self.config[self.subcommand].trainer.logger = self.configured_logger
        if self.subcommand == "fit":
            self.config.fit.ckpt_path = None

    def discard_failed_run(self) -> None:
        """Remove the run directory this command claimed, when it failed before saving any checkpoint.

        Such a run holds nothing to resume or evaluate: at most its config and the first TensorBoard events (a
        validate, test or predict run never checkpoints). A fit that failed later keeps its last good checkpoint.
        """
        run = self.claimed_run
        if run is not None and run.is_dir() and not any(run.rglob("*.ckpt")):
            shutil.rmtree(run, ignore_errors=True)
            with contextlib.suppress(OSError):  # and lightning_logs/ itself, when the claim made it and it is empty
                run.parent.rmdir()

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        self._check_checkpoint_matches_data()  # before the Trainer prints anything
        if self.config_init[self.subcommand].trainer.get("enable_checkpointing") is False:
            self.leave_out_checkpoints()
        return super().instantiate_trainer(**kwargs)

    def leave_out_checkpoints(self) -> None:
        """``--trainer.enable_checkpointing false`` trains without checkpoints: logreg's own checkpoint callbacks
        (last and best) stay out, instead of Lightning refusing the mix. Fit then tests the final weights."""
        self.trainer_defaults["callbacks"] = [
            callback for callback in self.trainer_defaults["callbacks"] if not isinstance(callback, ModelCheckpoint)
        ]
        self.config_init[self.subcommand]["checkpoint"] = Callback()  # the --checkpoint group's place, inert

    def _check_checkpoint_matches_data(self) -> None:
        if self.checkpoint is None:
            return
        trained = self.checkpoint.get("hyper_parameters", {}).get("n_inputs")
        given = self.model.hparams.n_inputs
        if trained is not None and trained != given:
            raise ValueError(f"{self.ckpt_path}: the checkpoint's model takes {trained} features, the data has {given}")
        # A resumed fit must see its own data; checked here, before config.yaml of the run is rewritten.
        saved = self.checkpoint.get(type(self.datamodule).__qualname__)  # where Lightning keeps the module's state
        if self.subcommand == "fit" and isinstance(self.datamodule, IndexedDataModule) and isinstance(saved, dict):
            self.datamodule.check_resumable(saved)

    def fit(self, model: LightningModule, datamodule: LightningDataModule) -> None:
        if str(self.trainer.precision).startswith("64"):  # before a resume loads float64 weights: no float32 rounding
            model.double()
        with self.signals_end_in_one_line():
            self.trainer.fit(model, datamodule=datamodule, ckpt_path=self.ckpt_path, weights_only=True)

    @contextlib.contextmanager
    def signals_end_in_one_line(self) -> Iterator[None]:
        """A command stopped by SIGTERM or Ctrl-C ends with :class:`Stopped`: one line, exit 143 or 130.

        Lightning ends such a run with ``SystemExit`` (``SIGTERMException`` for SIGTERM), leaving the trainer
        ``INTERRUPTED``; predict does not stop for SIGTERM by itself, so its end is checked too.
        """
        try:
            yield
        except SystemExit as stop:
            if self.trainer.state.status != TrainerStatus.INTERRUPTED:
                raise
            raise self.stopped(self.stop_signal(stop)) from None
        if self.trainer.received_sigterm:
            raise self.stopped(self.stop_signal(SIGTERMException()))

    def stop_signal(self, stop: SystemExit) -> str:
        graceful = next((cb for cb in self.trainer.callbacks if isinstance(cb, GracefulStop)), None)
        if graceful is not None and graceful.signal_name:
            return graceful.signal_name
        return "SIGTERM" if isinstance(stop, SIGTERMException) else "SIGINT"

    def stopped(self, signal_name: str) -> Stopped:
        """The one line for a command stopped by a signal: for fit, where, and how to resume from ``last.ckpt``."""
        trainer, code = self.trainer, 128 + getattr(signal, signal_name)
        if self.subcommand != "fit" or trainer.state.fn != "fit":
            wrote = "; no predictions were written" if self.subcommand == "predict" else ""
            return Stopped(f"stopped by {signal_name} during {trainer.state.fn.value}{wrote}", code)
        where = f"stopped by {signal_name} at epoch {trainer.current_epoch}, step {trainer.global_step}"
        last = next((cb for cb in trainer.checkpoint_callbacks if cb.filename == "last"), None)
        path = Path(last.dirpath) / "last.ckpt" if last is not None and last.dirpath else None
        if last is None:
            return Stopped(f"{where}; checkpoints are off (--trainer.enable_checkpointing false), no resume", code)
        if path is None or not path.is_file():
            return Stopped(f"{where}; no checkpoint had been written yet, so there is nothing to resume", code)
        saved_step = torch.load(path, map_location="cpu", weights_only=True).get("global_step")
        if saved_step != trainer.global_step:  # stopped while validating: the resume repeats this epoch
            where += f" (during validation; last.ckpt is from step {saved_step}, the end of the epoch before)"
        config = path.parent.parent / "config.yaml"
        return Stopped(f"{where}; resume with: logreg fit --config {config} --ckpt_path {path}", code)

    def validate(self, model: LightningModule, datamodule: LightningDataModule) -> None:
        self.evaluate(self.trainer.validate, model, datamodule)

    def test(self, model: LightningModule, datamodule: LightningDataModule) -> None:
        self.evaluate(self.trainer.test, model, datamodule)

    def evaluate(self, run: Any, model: LightningModule, datamodule: LightningDataModule) -> None:
        """``trainer.validate`` or ``trainer.test`` on the checkpoint, then logreg's compact rows."""
        with self.signals_end_in_one_line():
            results = run(model, datamodule=datamodule, ckpt_path=self.ckpt_path, weights_only=True, verbose=False)
        print_results(self.trainer, results)
        if run == self.trainer.test and self.trainer.is_global_zero and isinstance(datamodule, IndexedDataModule):
            print("\n".join(["", *summary_lines(model_table(model, datamodule), top=TOP_COEFFICIENTS)]), flush=True)

    def before_fit(self) -> None:
        """Say which lr trains the model when ``--optimizer`` left its lr at the class's default: ``--model.lr``
        sets only the built-in SGD's, and ``--optimizer SGD`` alone would train with torch's 0.001 unannounced."""
        optimizer = self.config.fit.get("optimizer")
        if not isinstance(optimizer, Namespace):
            return
        module, name = optimizer.class_path.rsplit(".", 1)
        if self.config.fit.model.get("l1"):  # before anything is printed (the model checks too)
            check_l1_optimizer(name, optimizer.init_args.as_dict())
        if not self.trainer.is_global_zero:
            return
        lr = optimizer.init_args.get("lr")
        default = inspect.signature(getattr(importlib.import_module(module), name)).parameters.get("lr")
        line_search = name == "LBFGS"  # its lr scales a step its line search chooses: 1 is the right default
        if default is not None and lr == default.default and lr != self.config.fit.model.lr and not line_search:
            model_lr = self.config.fit.model.lr
            print(f"logreg: note: training with {name}(lr={lr:g}), its default; --model.lr {model_lr:g} applies only "
                  "without --optimizer (set --optimizer.lr)", file=sys.stderr, flush=True)  # fmt: skip

    def before_predict(self) -> None:
        """``--predictions`` must not name a file this command reads, even with ``--overwrite true``."""
        target = self.config.predict.get("predictions")
        if not target:
            return
        reads = [self.ckpt_path, *(str(path) for path in self.config.predict.get("config") or [])]
        if isinstance(self.datamodule, FileDataModule):
            reads.append(str(self.datamodule.path))
        for path in filter(None, reads):
            source = Path(path).resolve()
            if Path(target).resolve() == source or source in Path(target).resolve().parents:
                raise ValueError(f"--predictions {target}: is {path}, which this command reads; choose another file")

    def predict(self, model: LightningModule, datamodule: LightningDataModule, **kwargs: Any) -> None:
        with self.signals_end_in_one_line():
            self.trainer.predict(model, datamodule=datamodule, ckpt_path=self.ckpt_path, weights_only=True,
                                 return_predictions=False, **kwargs)  # fmt: skip
        path = kwargs.get("predictions")
        if not self.trainer.is_global_zero:
            return
        preview = next((cb for cb in self.trainer.callbacks if isinstance(cb, PredictionPreview)), None)
        if preview is not None:
            print("\n".join(preview.lines()))
        if path:  # (on stderr when the predictions themselves went to stdout)
            print(f"predictions written to {path}", file=sys.stderr if is_stdout(path) else sys.stdout)
        else:
            print("pass --predictions FILE.csv to save the predictions")

    def after_fit(self) -> None:
        trainer, datamodule = self.trainer, self.datamodule
        if trainer.interrupted:
            return
        tests = isinstance(datamodule, IndexedDataModule) and len(datamodule.test_idx)
        tested = weights_to_test(trainer) if tests else None
        if trainer.is_global_zero:
            self.summarise_fit(trainer, self.model, datamodule, tested)
        if tested is not None:
            with self.signals_end_in_one_line(), float32_evaluation(trainer, self.model):
                results = trainer.test(self.model, datamodule=datamodule, ckpt_path=tested.ckpt_path,
                                       weights_only=True, verbose=False)  # fmt: skip
            print_results(trainer, results)

    @staticmethod
    def summarise_fit(
        trainer: Trainer, model: LogisticRegression, datamodule: LightningDataModule, tested: Tested | None = None
    ) -> None:
        """The summary of the final weights, with convergence and the coefficient table (also saved to
        ``RUN/coefficients.csv``); ``tested``: what the test after it evaluates."""
        converged = table = path = fit = None
        if isinstance(datamodule, IndexedDataModule):
            table = model_table(model, datamodule)
            fit = model.training_fit(datamodule.features, datamodule.labels, datamodule.train_idx)
            converged = convergence(trainer, model, datamodule, table.separated, fit)
            path = save_table(trainer, table)
        print(fit_summary(trainer, model, converged, table, path, fit, tested), flush=True)
        if converged is not None and converged.warn:
            print(f"logreg: warning: {converged.line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def float32_evaluation(trainer: Trainer, model: LightningModule) -> Iterator[None]:
    """A fit in 16-bit floats (``bf16-true``, ``16-true``, the ``-mixed`` ones) is tested in float32, as ``logreg
    test`` evaluates its checkpoint: half-precision standardisation and logits cost accuracy points (0.70 for 0.875).

    The strategy's precision plugin is public and settable; Lightning has no per-call precision for ``test``.
    """
    if not half_precision(trainer):
        yield
        return
    plugin = trainer.strategy.precision_plugin
    trainer.strategy.precision_plugin = Precision()
    model.float()
    try:
        yield
    finally:
        trainer.strategy.precision_plugin = plugin


CONFIGS = Path(__file__).parent / "configs"


def invoked_subcommand(args: Any) -> str | None:
    """The subcommand a command line starts with (``fit`` of ``logreg fit --model.lr 1``), else None: ``--help``, a
    ``--config`` before the subcommand, a mistyped name and a dict of arguments get every subcommand's parser."""
    words = sys.argv[1:] if args is None else args
    first = words[0] if isinstance(words, list | tuple) and words else None
    return first if isinstance(first, str) and first in SUBCOMMANDS else None


def reads_environment(parser_kwargs: dict[str, Any]) -> bool:
    """Whether jsonargparse parses environment variables (``default_env``, or ``JSONARGPARSE_DEFAULT_ENV=true``):
    then ``PL_CONFIG`` is a config of the whole command, which may hold a section for every subcommand, and every
    subcommand's parser must be built to accept it. jsonargparse's own ``default_env`` property applies its rule."""
    return ArgumentParser(default_env=bool(parser_kwargs.get("default_env", False))).default_env


def with_packaged_configs(args: list[str]) -> list[str]:
    """``--config NAME`` for a config shipped with logreg (``tutorial.yaml``, ``lbfgs.yaml``, ``tabular.yaml``; the
    ``.yaml`` may be left out), found in the installed package when NAME has no directory and no such file is in the
    current directory."""
    found = list(args)
    for i, word in enumerate(found):
        if (i and found[i - 1] in ("--config", "-c")) or word.startswith("--config="):
            prefix, name = ("--config=", word[9:]) if word.startswith("--config=") else ("", word)
            if "/" in name or Path(name).exists():
                continue
            packaged = next((path for path in (CONFIGS / name, CONFIGS / f"{name}.yaml") if path.is_file()), None)
            if packaged is not None:
                found[i] = prefix + str(packaged)
    return found


PENALTY_FLAGS = {"--model.l2": ("--model.C", "null"), "--model.C": ("--model.l2", "0")}  # each with the other's reset


def penalty_flags_replace_configs(args: list[str]) -> list[str]:
    """``--model.l2`` and ``--model.C`` are two spellings of one penalty: one given on the command line replaces
    the other from an earlier ``--config`` (``--config tabular --model.l2 0.01`` drops the recipe's C=1), as a later
    value replaces an earlier one anywhere in LightningCLI. Each such flag is followed by the other's reset (C null,
    l2 0). Both spellings as flags on one command line stay a conflict, which the model refuses."""
    flags = [word.split("=", 1)[0] for word in args if isinstance(word, str)]
    given = {flag for flag in PENALTY_FLAGS if flag in flags}
    if len(given) != 1:
        return args
    [flag] = given
    found = []
    for i, word in enumerate(args):
        found.append(word)
        if (isinstance(word, str) and word.startswith(f"{flag}=")) or (i and args[i - 1] == flag):  # after its value
            found.extend(PENALTY_FLAGS[flag])
    return found


def refuse_yaml_aliases(args: list[str]) -> None:
    """Refuse a ``--config`` file that uses YAML aliases (``*name``) before it is parsed.

    A few hundred bytes of nested aliases expand to billions of elements once the config is processed ("billion
    laughs"), exhausting memory; logreg's configs never need aliases.
    """
    for i, word in enumerate(args):
        path = word.split("=", 1)[1] if word.startswith("--config=") else None
        if word in ("--config", "-c") and i + 1 < len(args):
            path = args[i + 1]
        if path is None or not Path(path).is_file():
            continue
        try:
            events = yaml.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
            if any(isinstance(event, yaml.AliasEvent) for event in events):
                raise ValueError(f"--config {path}: uses YAML aliases (*name), which logreg configs do not allow")
        except yaml.YAMLError:
            continue  # not YAML at all: jsonargparse's parser says what is wrong with it


def resolved(class_path: str) -> type:
    """The class a ``class_path`` names (jsonargparse writes ``logreg.ThresholdDataModule`` for the default, a
    config may write ``logreg.data.ThresholdDataModule``)."""
    module, name = class_path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def resumed_run(ckpt_path: str | None) -> Path | None:
    """``RUN`` for ``--ckpt_path RUN/checkpoints/X.ckpt`` when RUN is a logreg run directory (has config.yaml)."""
    if not ckpt_path or ckpt_path in CHECKPOINT_KEYWORDS:
        return None
    path = Path(ckpt_path).resolve()
    run = path.parent.parent
    return run if path.parent.name == "checkpoints" and (run / "config.yaml").is_file() else None


def quiet_known_noise() -> None:
    """Silence messages that say nothing to a logreg user: the seed (it is in config.yaml), Lightning's
    "GPU available"/tips/restoring info lines (the summary says what matters) and known harmless warnings."""
    warnings.filterwarnings("ignore", message=r"Total length of .* across ranks is zero")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings("ignore", message=r"Couldn't infer the batch indices")  # predictions keep input order
    warnings.filterwarnings("ignore", message=r".*multiple `ModelCheckpoint` callbacks")  # the first is "best"
    warnings.filterwarnings("ignore", message=r".*configure_optimizers` will be overridden by")  # --optimizer's job
    warnings.filterwarnings("ignore", message=r"Detected pickle protocol")  # hostile files are refused anyway
    # Batches are one gather each in the main process; worker processes would only add copies and start-up.
    warnings.filterwarnings("ignore", message=r".*does not have many workers which may be a bottleneck")
    warnings.filterwarnings("ignore", message=r"LightningCLI's args parameter is intended")  # main(args) in Python
    logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    # "Received SIGTERM": logreg's own line says so, with where the run stopped and how to resume
    logging.getLogger("lightning.pytorch.trainer.connectors.signal_connector").setLevel(logging.WARNING)


DATA_MODULES = (FileDataModule,)  # imported so that ``--data FileDataModule`` finds it by its short name


def build_cli(args: list[str] | None = None, callbacks: Sequence[Callback] = ()) -> LogRegCLI:
    """Parse ``args`` (``sys.argv`` when None), build model, data and trainer, and run the subcommand.

    ``callbacks`` join the Trainer's for this run only: objects that cannot be spelled on a command line (an Optuna
    trial's pruning callback in ``scripts/sweep.py``). Like every default callback they stay out of config.yaml.
    """
    defaults = trainer_defaults()
    defaults["callbacks"] = [*defaults["callbacks"], *callbacks]
    return LogRegCLI(
        LogisticRegression,
        IndexedDataModule,
        subclass_mode_data=True,
        trainer_class=LogRegTrainer,
        trainer_defaults=defaults,
        save_config_callback=HparamsCallback,
        seed_everything_default=0,
        parser_kwargs={
            "prog": "logreg",
            "exit_on_error": False,
            "allow_abbrev": False,
            "description": DESCRIPTION,
            "formatter_class": TablesAsWritten,
            "fit": {"epilog": FIT_EPILOG},
        },
        args=args,
    )


DESCRIPTION = """Logistic regression with cross-entropy, as a Lightning project.
Also: `logreg convert SOURCE OUT_DIR [--label NAME]` turns a CSV or Parquet file into a memory-mapped
x.npy/y.npy directory for --data.path (see `logreg convert --help`), and
`logreg export --ckpt_path CKPT --output model.onnx` writes a checkpoint as an ONNX model (`logreg export --help`)."""


class TablesAsWritten(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """jsonargparse's help formatter, with descriptions and epilogs kept as written (argparse's public
    ``RawDescriptionHelpFormatter``): the common flags that end ``logreg fit --help`` are a table.

    (jsonargparse gives subcommands the main parser's formatter, so this is set on the main parser.)
    """
