"""``logreg fit|validate|test|predict``: a LightningCLI over the model and the data modules. The largest module, and
it earns it: each hook keeps a user mistake to one line before anything is built or written."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import math
import os
import pydoc
import re
import shutil
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentError, ArgumentParser, DefaultHelpFormatter, Namespace, get_loader, set_loader
from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.trainer.states import TrainerStatus
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException

from logreg.checkpoint import check_checkpoint, datamodule_key
from logreg.cli.about import FIT_EPILOG
from logreg.cli.errors import Stopped, flag_values, trainer_flag
from logreg.cli.loggers import HparamsCallback
from logreg.data.files import FileDataModule, other_columns
from logreg.data.indexed import IndexedDataModule
from logreg.data.threshold import ThresholdDataModule
from logreg.model.logistic import LogisticRegression, check_l1_optimizer, penalty_C
from logreg.model.newton import Newton
from logreg.predictions import CSVPredictionWriter, PredictionPreview
from logreg.report import summary
from logreg.report.coefficients import summary_lines
from logreg.report.figures import TrainingFigures
from logreg.training import EarlyStopping, FinalValidation, GracefulStop, claim_name, claim_version
from logreg.writes import is_stdout

CHECKPOINT_KEYWORDS = {"last", "best", "hpc", "registry"}
_PASSED = {"model", "datamodule", "weights_only"}  # not flags: logreg passes them (weights_only=True, always)
SUBCOMMANDS = {  # Lightning's subcommands with the Trainer arguments each leaves out of its flags
    "fit": _PASSED | {"train_dataloaders", "val_dataloaders"},
    "validate": _PASSED | {"dataloaders", "verbose"},
    "test": _PASSED | {"dataloaders", "verbose"},
    "predict": _PASSED | {"dataloaders", "return_predictions"},
}
DEFAULT_DATA = "logreg.data.threshold.ThresholdDataModule"  # the tutorial's data, when no --data is given
CONFIGS = Path(__file__).parents[1] / "configs"
RUN_KEYS = ("save_dir", "name", "version")  # a logger with these arguments keeps its runs in save_dir/name/version
PARSER_MODE = "logreg"  # jsonargparse's YAML, without aliases (load_yaml_without_aliases)


def trainer_defaults() -> dict[str, Any]:
    """The Trainer's defaults for logreg (fresh callback objects for every CLI)."""
    last = ModelCheckpoint(filename="last", enable_version_counter=False)  # the resume point (not save_last: monitored)
    logger = {"save_dir": ".", "name": "lightning_logs", "default_hp_metric": False}  # HparamsCallback logs hparams
    return {
        "max_epochs": 50,
        "accelerator": "auto",
        "logger": {"class_path": "lightning.pytorch.loggers.TensorBoardLogger", "init_args": logger},
        "use_distributed_sampler": False,  # the data modules shard batches across DDP ranks themselves
        "num_sanity_val_steps": 0,  # validation runs the training step's code; a sanity pass only warns
        "log_every_n_steps": 1,  # everything is logged per epoch; this silences a warning about short epochs
        "enable_model_summary": False,  # two parameters need no table
        "enable_progress_bar": sys.stderr.isatty(),  # no redraws in pipes, logs and CI
        "callbacks": [TrainingFigures(), last, GracefulStop(last)],
    }


def _fraction_or_count(low: int) -> tuple[Any, str]:
    """Lightning's rule for ``limit_*_batches`` (``low`` 0: 0 turns the loop off) and ``val_check_interval`` (1)."""
    return (
        lambda v: v >= low if isinstance(v, int) else (v > 0 if low else v >= 0) and v <= 1,
        f"a fraction in {'(0' if low else '[0'}, 1] of the batches or a number of batches >= {low}",
    )


COUNTS_OR_FRACTIONS = ("val_check_interval", *(f"limit_{loop}_batches" for loop in ("train", "val", "test", "predict")))
# Values Lightning accepts when the Trainer is built, then fails on mid-run or ignores: refused while parsing.
TRAINER_CHECKS: dict[str, tuple[Any, str]] = {
    "accumulate_grad_batches": (lambda value: value >= 1, "an integer >= 1"),
    "check_val_every_n_epoch": (lambda value: value >= 1, "an integer >= 1 (or null: by val_check_interval)"),
    "val_check_interval": _fraction_or_count(1),
    **{name: _fraction_or_count(0) for name in COUNTS_OR_FRACTIONS[1:]},
    "max_epochs": (lambda value: value >= 1 or value == -1, "an integer >= 1, or -1 for no limit"),
    "max_steps": (lambda value: value >= 1 or value == -1, "an integer >= 1, or -1 for no limit"),
    "min_epochs": (lambda value: value >= 0, "an integer >= 0"),
    "min_steps": (lambda value: value >= 0, "an integer >= 0"),
    "gradient_clip_val": (lambda value: 0 <= value < float("inf"), "a finite number >= 0 (0 or null: no clipping)"),
    "log_every_n_steps": (lambda value: value >= 0, "an integer >= 0"),
    "num_sanity_val_steps": (lambda value: value >= -1, "an integer >= 0, or -1 for every batch"),
}


def check_trainer_flags(trainer: Namespace) -> None:
    """Refuse the :data:`TRAINER_CHECKS` values in one line each (None and non-numbers are Lightning's to check)."""
    if trainer.get("overfit_batches"):  # Lightning swaps in a per-row sampler, which logreg's loaders do not take
        raise ValueError(
            f"--trainer.overfit_batches {trainer.overfit_batches:g}: not supported (logreg's data loaders batch and "
            "shard the rows themselves); use --trainer.limit_train_batches N with --trainer.limit_val_batches N"
        )
    for name, (ok, requirement) in TRAINER_CHECKS.items():
        value = trainer.get(name)
        if name in COUNTS_OR_FRACTIONS and isinstance(value, float) and value > 1 and value.is_integer():
            value = trainer[name] = int(value)  # jsonargparse parses `5` as 5.0 (int | float); Lightning wants 5
        if isinstance(value, int | float) and not isinstance(value, bool) and not (value == value and ok(value)):
            raise ValueError(f"--trainer.{name} must be {requirement}, got {value}")


def refuse_untrained_fit(trainer: Namespace) -> None:
    """Refuse a fit that would train nothing and exit 0 (its test would score the starting weights):
    ``--trainer.limit_train_batches 0`` and a zero ``--trainer.max_time``, as ``--trainer.max_epochs 0`` is."""
    if trainer.get("limit_train_batches") == 0:
        raise ValueError("--trainer.limit_train_batches must be a fraction in (0, 1] of the batches or a number of "
                         "batches >= 1 for fit (0 trains nothing), got 0")  # fmt: skip
    max_time = trainer.get("max_time")
    if isinstance(max_time, str):  # Lightning's DD:HH:MM:SS
        with contextlib.suppress(ValueError):
            max_time = dict(zip(("days", "hours", "minutes", "seconds"), map(int, max_time.split(":")), strict=False))
    with contextlib.suppress(TypeError):  # a mapping of timedelta's arguments (or a timedelta, kept)
        max_time = timedelta(**max_time)
    if isinstance(max_time, timedelta) and max_time.total_seconds() <= 0:
        raise ValueError(f"--trainer.max_time must be a duration above 0 (DD:HH:MM:SS), got {trainer.max_time}")


def check_seed(seed: Any) -> None:
    """Refuse a ``--seed_everything`` that Lightning's ``seed_everything`` refuses without naming the flag."""
    if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed < 2**32:
        raise ValueError(f"--seed_everything {seed}: must be an integer in [0, 2**32) (numpy's seeds), or true")


def check_C(model: Any) -> None:
    """Refuse a ``--model.C`` (flag or config) the model would refuse, while parsing: jsonargparse takes any text and
    any number for C (<= 0 too), and ``--print_config`` must print only a config that runs."""
    C = model.get("C") if isinstance(model, Namespace) else None
    try:
        penalty_C(C)
    except ValueError as err:
        raise ValueError(f"--model.C {C}: {err}") from None


class LogRegTrainer(Trainer):
    """Lightning's Trainer, whose ``predict`` also streams predictions into a CSV file (its signature: the flags)."""

    def predict(self, model: LightningModule | None = None, dataloaders: Any = None,
                datamodule: LightningDataModule | None = None, return_predictions: bool | None = None,
                ckpt_path: str | None = None, weights_only: bool | None = None, predictions: str | None = None,
                overwrite: bool = False, threshold: float | None = None) -> Any:  # fmt: skip
        """Run inference on your data; with ``predictions``, write them to that CSV file, else show a preview.

        Args:
            ckpt_path: the checkpoint to predict with (loaded with ``weights_only=True``).
            predictions: write ``probability,predicted_label[,label]`` rows, in input order, to this CSV file.
            overwrite: replace an existing ``predictions`` file.
            threshold: ``predicted_label`` is 1 above this probability (default: the checkpoint's threshold).
        """
        if predictions is not None and not predictions.strip():
            raise ValueError("--predictions: an empty path; give a file name such as out.csv")
        if predictions == "-":  # (standard output is /dev/stdout)
            raise ValueError("--predictions -: not a file name; give one such as out.csv, or /dev/stdout")
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
    """LightningCLI for logreg (built by :func:`build_cli`): ``--ckpt_path`` checked before use, each run in a directory
    of its own (a resumed run in its old one), summaries. Only LightningCLI's public hooks are overridden."""

    checkpoint: dict[str, Any] | None = None  # the --ckpt_path checkpoint, once checked
    ckpt_path: str | None = None  # as given; after_instantiate_classes clears it in a fit's saved config
    fitted_data: dict[str, Any] | None = None  # the data the --ckpt_path run was fitted on (validate, test, predict)
    data_given: bool = False  # whether --data flags or a config's data section chose the data
    file_flags_error: ArgumentError | None = None  # FileDataModule flags without --data.path, unless the run's file
    printing: tuple[str, ...] = ()  # --print_config words, for the last parse only
    args: list[str] | None = None  # the command line as parsed
    claimed_run: Path | None = None  # the version directory this process created for its run
    created: Path | None = None  # the outermost directory this command created for its run, to remove on failure
    named_run: bool = False  # whether the claimed run directory is the one --trainer.logger.version names

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.as_configured: dict[str, Any] = {}  # trainer settings changed for the run, saved in config.yaml as given
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self.discard_failed_run()
            raise
        if self.trainer.fast_dev_run:  # a trial run: Lightning logs and checkpoints nothing
            self.discard_failed_run()

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults({"data": {"class_path": DEFAULT_DATA}})
        parser.link_arguments("data.n_features", "model.n_inputs", apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {"checkpoint.filename": "best-epoch={epoch}-step={step}", "checkpoint.auto_insert_metric_name": False}
        )
        parser.add_lightning_class_args(EarlyStopping, "early_stopping")
        parser.add_lightning_class_args(FinalValidation, "validation")  # full batch: once, unless every_epoch
        monitor = {"compute_fn": lambda f: "val_loss" if f > 0 else "train_loss", "apply_on": "instantiate"}
        for target in ("checkpoint.monitor", "early_stopping.monitor"):  # train_loss without a validation split
            parser.link_arguments("data.val_fraction", target, **monitor)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then check and load ``--ckpt_path`` (LightningCLI then takes the model's hyperparameters from it)."""
        args = prepared_args(sys.argv[1:] if args is None else list(args))
        self.printing = tuple(word for word in args if word.startswith("--print_config"))
        if guessed := (given_data_class(args) if args[:1] == ["fit"] else None):  # parsed with its defaults at once
            parser.set_defaults({"fit.data": {"class_path": guessed}})
        try:
            self.parse(parser, args, last=False)
        except ArgumentError:
            if (file_args := with_file_data(args)) is None:
                raise
            try:
                self.parse(parser, file_args, last=False)
                args = file_args
            except ArgumentError as err:  # no --data.path: the --ckpt_path run's file may be the data
                self.parse(parser, [*file_args, "--data.path", os.devnull], last=False)  # to learn the subcommand
                if self.config.get("subcommand") in (None, "fit"):
                    raise err from None
                self.file_flags_error = err
        if (run_args := with_run_data(args)) is not args:
            self.parse(parser, args := run_args, last=False)
        self.args = args
        self.data_given = any(word == "--data" or word.startswith(("--data.", "--data=")) for word in args)
        subcommand = self.config.get("subcommand")
        if not subcommand:
            return
        check_seed(self.config[subcommand].get("seed_everything"))  # (these while parsing: --print_config prints
        check_C(self.config[subcommand].get("model"))  # only a config that runs)
        check_trainer_flags(self.config[subcommand].get("trainer"))
        if self.printing and isinstance(model := self.config[subcommand].get("model"), Namespace):
            LogisticRegression(**model.as_dict())  # the model's own checks (C with l2, tol 0...), before it prints
        self.ckpt_path = ckpt_path = self.config[subcommand].get("ckpt_path")
        if subcommand != "fit" and not ckpt_path:  # Lightning would evaluate an untrained model
            if self.printing:  # --print_config shows the flags without needing a checkpoint (and exits)
                self.parse(parser, args, last=True)
            if any(word.partition("=")[0] == "--ckpt_path" for word in args):  # a later config's ckpt_path: null won
                raise ValueError("--ckpt_path is replaced by a later --config's ckpt_path (null, as a fit's "
                                 "config.yaml saves it): give --ckpt_path after --config")  # fmt: skip
            raise ValueError(f"logreg {subcommand} evaluates a trained model: give its checkpoint, e.g. --ckpt_path "
                             "lightning_logs/version_0/checkpoints/last.ckpt")  # fmt: skip
        if subcommand != "fit" and ckpt_path in CHECKPOINT_KEYWORDS:
            raise ValueError(f"--ckpt_path {ckpt_path}: only fit knows its {ckpt_path!r} checkpoint; give a checkpoint "
                             "file, e.g. lightning_logs/version_0/checkpoints/last.ckpt")  # fmt: skip
        if ckpt_path and ckpt_path not in CHECKPOINT_KEYWORDS:
            self.checkpoint = check_checkpoint(ckpt_path)
            self.refuse_model_changes(args, subcommand)
        self.use_data_defaults(parser, args, subcommand, guessed or DEFAULT_DATA)

    def refuse_model_changes(self, args: list[str], subcommand: str) -> None:
        """Refuse a model setting (flag or config) that differs from the checkpoint's: LightningCLI would replace it by
        the checkpoint's hyperparameters without a word. The fit's own values, repeated, pass."""
        saved = dict(self.checkpoint.get("hyper_parameters") or {})
        flags = [flag for _, flag, _ in flag_values(args) if flag.partition(".")[0] == "--model"]
        model = self.config[subcommand].model
        sections = [section for section in self.config_sections("model") if isinstance(section, dict)]
        given = {flag[8:] for flag in flags} | {key for section in sections for key in section}
        given = {*model.keys()} if "--model" in flags else given  # a --model FILE or mapping: any key
        why = {"fit": "a resume continues the fitted model", "predict": "predict takes --threshold, not the model's"}
        why = why.get(subcommand, f"{subcommand} evaluates the checkpoint's model as fitted")
        C = model.get("C")
        resolved = {"C", "l2"} if C is not None else set()  # the checkpoint keeps C as l2 (of n rows)
        if resolved and "C" in self.checkpoint:  # and the C it was given, kept beside it; an l2 given too: compared
            saved["C"], resolved = self.checkpoint["C"], set() if model.get("l2") else {"l2"}
        elif resolved and (model_value("C", C) != float("inf") or saved.get("l2")):  # fitted with l2: C is a change
            raise ValueError(f"--model.C {C}: the checkpoint's model has l2 {saved.get('l2')} (no C); {why} (to change "
                             "it, fit anew without --ckpt_path)")  # fmt: skip
        for key in sorted(given & {*saved} - resolved - {"n_inputs"}):
            if model_value(key, model.get(key)) != model_value(key, saved[key]):
                raise ValueError(f"--model.{key} {model.get(key)}: the checkpoint's model has {key} {saved[key]}; "
                                 f"{why} (to change it, fit anew without --ckpt_path)")  # fmt: skip

    def use_data_defaults(self, parser: LightningArgumentParser, args: list[str], command: str, base: str) -> None:
        """Make ``--data`` default to the data of the checkpoint's run (validate, test, predict), then parse again with
        the chosen class as the default, unless it is ``base`` (the class parsed with): jsonargparse carries the
        defaults of the default's class over to another class (its issue #460, still in 4.53)."""
        if command != "fit":
            path_given = any(flag == "--data.path" for _, flag, _ in flag_values(args)) or any(
                isinstance(section, dict) and "path" in (section.get("init_args") or section)
                for section in self.config_sections("data"))  # fmt: skip
            self.fitted_data = fitted = fitted_data(self.checkpoint, self.ckpt_path, path_given)
            self.data_given = self.data_given or bool(self.config_sections("data"))
            if fitted is None and not self.data_given:
                raise ValueError(
                    f"--ckpt_path {self.ckpt_path}: the checkpoint does not record the data it was fitted on; give "
                    "the data, e.g. --data FileDataModule --data.path FILE"
                )
            if self.file_flags_error and (fitted is None or pydoc.locate(fitted["class_path"]) is not FileDataModule):
                raise self.file_flags_error
            if fitted is not None:
                parser.set_defaults({f"{command}.data": fitted})
                self.parse(parser, args, last=False)
                base = fitted["class_path"]
        data = self.config[command].get("data")
        chosen = isinstance(data, Namespace) and pydoc.locate(data.class_path) is not pydoc.locate(base)
        if chosen:
            parser.set_defaults({f"{command}.data": {"class_path": data.class_path}})
        if chosen or self.printing:
            self.parse(parser, args, last=True)

    def config_sections(self, key: str) -> list[Any]:
        """The ``key`` sections of this command's ``--config`` files (top level or under the subcommand)."""
        subcommand, sections = self.config.get("subcommand"), []
        for path in [*(self.config.get("config") or []), *(self.config[subcommand].get("config") or [])]:
            with contextlib.suppress(OSError, yaml.YAMLError, TypeError):
                content = yaml.safe_load(Path(str(path)).read_text(encoding="utf-8"))
                levels = (content, content.get(subcommand)) if isinstance(content, dict) else ()
                sections += [level[key] for level in levels if isinstance(level, dict) and key in level]
        return sections

    def parse(self, parser: LightningArgumentParser, args: list[str], last: bool) -> None:
        """Parse ``args``; only the last parse prints ``--print_config`` (which exits). A flag given no value is named
        as typed: jsonargparse names a subclass's group instead (``--data`` for ``--data.path``)."""
        try:
            self.config = parser.parse_args(args if last else [word for word in args if word not in self.printing])
        except ArgumentError as err:
            found = re.fullmatch(r"argument (\S+): expected one argument", str(err))
            names = found.group(1).split("/") if found else []
            groups = tuple(f"{name}." for name in names)
            missing = [flag for i, flag, value in flag_values(args) if "=" not in args[i] and value[:2] in ("", "--")]
            for i, flag, value in flag_values(args):  # argparse reads a value such as -inf or -1e300 as a flag
                if flag in names and "=" not in args[i] and value[:1] == "-" and value[:2] != "--":
                    raise ArgumentError(None, f"argument {flag}: expected one argument ({value} is read as a flag; "
                                              f"write {flag}={value})") from None  # fmt: skip
            if not (typed := [flag for flag in missing if flag.startswith(groups)]):  # missing: no next word, or a flag
                raise
            raise ArgumentError(None, f"argument {typed[0]}: expected one argument") from None

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        check_trainer_flags(config.trainer)  # (again, on the config the Trainer is built from: 5.0 batches become 5)
        if self.subcommand == "fit":
            refuse_untrained_fit(config.trainer)
        if self.subcommand != "fit":  # validate, test and predict never write checkpoints: where they would is moot
            warnings.filterwarnings("ignore", message="The dirpath has changed from|Be aware that when using `ckpt")
        if self.subcommand == "predict":  # predict logs nothing: no logger, no run directory, no config.yaml
            config.trainer.logger = False
            self.save_config_callback = None
            return
        logger = config.trainer.get("logger")
        keeps_runs = isinstance(logger, Namespace) and all(key in (logger.get("init_args") or {}) for key in RUN_KEYS)
        resumed = resumed_run(self.ckpt_path) if self.subcommand == "fit" and (keeps_runs or logger is False) else None
        if resumed is not None:  # a resumed fit writes into its run's directory again: config.yaml, checkpoints
            self.save_config_kwargs["overwrite"] = True
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        if logger is False:
            self.run_without_logger(config.trainer, resumed)
        elif keeps_runs:
            self.run_with_logger(config.trainer, logger, resumed)

    def run_with_logger(self, trainer: Namespace, logger: Namespace, resumed: Path | None) -> None:
        """The logger's run directory: a resumed run's own, else a new one no other run can take."""
        self.as_configured["logger"] = logger.clone()
        args = logger.init_args
        for key in ("name", "version"):  # one directory each: "../x" or "a/b" would put the run elsewhere
            if (value := str(args.get(key) or "")) == ".." or {"/", os.sep} & {*value}:
                raise ValueError(f"--trainer.logger.{key} {value}: a run name, not a path (no '/' or '..')")
        if trainer.get("default_root_dir") and args.save_dir == ".":  # where Lightning's own logger would log
            args.save_dir = trainer.default_root_dir
        if resumed is not None:  # the same TensorBoard run; the configured save_dir keeps the checkpoints' dirpath
            if (Path(args.save_dir) / (args.name or "")).resolve() != resumed.parent:
                args.save_dir, args.name = str(resumed.parent.parent), resumed.parent.name
            args.version = resumed.name
        elif rank_zero_only.rank == 0:
            args.version = self.claim(Path(args.save_dir) / (args.name or ""), args.get("version"))

    def run_without_logger(self, trainer: Namespace, resumed: Path | None) -> None:
        """``--trainer.logger false``: ``ROOT/lightning_logs/version_N`` is the Trainer's root directory."""
        root = Path(trainer.get("default_root_dir") or ".") / "lightning_logs"
        if resumed is not None:
            spelled = root / resumed.name
            run = spelled if spelled.resolve() == resumed else resumed  # as the checkpoints' dirpath was saved
        elif rank_zero_only.rank == 0:
            run = root / f"version_{self.claim(root, None)}"
        else:
            return
        self.as_configured["default_root_dir"] = trainer.get("default_root_dir")
        trainer.default_root_dir = str(run)

    def claim(self, root: Path, version: int | str | None) -> int | str:
        """Create this run's directory under ``root`` (the next ``version_N``, or ``version``), remembering it."""
        created = next((path for path in (*reversed(root.parents), root) if not path.exists()), None)  # outermost
        self.named_run = version is not None
        try:
            version = version if self.named_run else claim_version(root)
            run = claim_name(root, version) if self.named_run else root / f"version_{version}"
        except OSError as err:
            raise ValueError(f"cannot create the run directory under {root} ({err.strerror or err})") from None
        self.claimed_run, self.created = run, created or run
        return version

    def after_instantiate_classes(self) -> None:
        """config.yaml describes the run, not this command (``fit --config RUN/config.yaml`` makes a new run)."""
        for key, value in self.as_configured.items():
            self.config[self.subcommand].trainer[key] = value
        if self.subcommand == "fit":
            self.config.fit.ckpt_path = None

    def discard_failed_run(self) -> None:
        """Remove the run directory of a command that failed before any checkpoint, and the directories it created
        (a run named by ``--trainer.logger.version`` only when empty)."""
        run = self.claimed_run
        if run is None or not run.is_dir() or any(run.rglob("*.ckpt")) or (self.named_run and any(run.iterdir())):
            return
        shutil.rmtree(run, ignore_errors=True)
        for directory in run.parents:
            if self.created is None or self.created not in (directory, *directory.parents):
                break
            with contextlib.suppress(OSError):  # only when empty: another run may have claimed a version meanwhile
                directory.rmdir()

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        self.check_checkpoint_matches_data()  # before the Trainer prints anything
        if self.config_init[self.subcommand].trainer.get("enable_checkpointing") is False:  # logreg's last and best out
            callbacks = self.trainer_defaults["callbacks"]
            self.trainer_defaults["callbacks"] = [cb for cb in callbacks if not isinstance(cb, ModelCheckpoint)]
            self.config_init[self.subcommand]["checkpoint"] = Callback()  # the --checkpoint group's place, inert
        try:
            return super().instantiate_trainer(**kwargs)
        except TypeError as err:  # Lightning's checks of flag values, e.g. `devices` with CPUAccelerator (-1 or 1.5)
            raise ValueError(f"a --trainer flag Lightning refuses: {err}") from None
        except ValueError as err:  # e.g. --trainer.strategy nope, in Lightning's words without the flag
            raise ValueError(f"{trainer_flag(str(err), self.args or []) or 'a --trainer flag'}: {err}") from None

    def check_checkpoint_matches_data(self) -> None:
        """Refuse a checkpoint whose model takes other features, a resume on other data, and validate or test on the
        run's data changed since (its splits are not the run's; predict gets a note)."""
        if self.checkpoint is None:
            return
        trained, given = self.checkpoint.get("hyper_parameters", {}).get("n_inputs"), self.model.hparams.n_inputs
        state, source = self.saved_data_state(self.datamodule), self.datamodule.describe()
        names = state.get("feature_names") if isinstance(state, dict) else None
        mismatch = trained is not None and trained != given
        if mismatch and isinstance(names, list) and isinstance(self.datamodule, FileDataModule):  # the columns, named
            raise ValueError(other_columns(source, self.datamodule.feature_names, names))
        if mismatch:
            raise ValueError(f"{self.ckpt_path}: the checkpoint's model takes {trained} features, the data has {given}")
        if self.subcommand == "fit" and isinstance(state, dict):
            self.datamodule.check_resumable(state)
        if self.subcommand == "fit" or not isinstance(state, dict):
            return
        saved = state.get("fingerprint")
        if self.fitted_data is None or self.data_given or not isinstance(saved, dict):
            return
        changed = self.datamodule.fingerprint_changes(saved)
        if not changed:
            return
        if self.subcommand == "predict":
            print(f"logreg: note: {source} changed since the fit ({changed} differ from the checkpoint's); predicting "
                  "its rows as they are now", file=sys.stderr, flush=True)  # fmt: skip
            return
        split = "validation" if self.subcommand == "validate" else "test"
        raise ValueError(
            f"{source}: changed since the fit ({changed} differ from the checkpoint's), so its {split} rows are not "
            f"the run's; to {self.subcommand} on it as new data, name it: --data.path {source}"
        )

    def warn_other_split(self, datamodule: IndexedDataModule) -> None:
        """Warn when validate or test splits the run's data otherwise (``--data.split_seed``, the fractions): training
        rows may be scored as held out."""
        state = self.saved_data_state(datamodule)
        kept = state.get("fingerprint") if isinstance(state, dict) else None
        if kept is None or rank_zero_only.rank or datamodule.fingerprint_changes(kept):
            return
        saved, now = state.get("split"), datamodule.split_record()
        if not isinstance(saved, dict) or now in (None, saved):
            return
        changed = ", ".join(sorted(key for key in {*saved, *now} if saved.get(key) != now.get(key)))
        split = "validation" if self.subcommand == "validate" else "test"
        print(f"logreg: warning: {datamodule.describe()} is the run's data, split otherwise ({changed} differ "
              f"from the checkpoint's): its {split} rows may include rows the model was trained on, so these are "
              "not held-out metrics", file=sys.stderr, flush=True)  # fmt: skip

    def saved_data_state(self, datamodule: IndexedDataModule) -> Any:
        """What the ``--ckpt_path`` checkpoint saved of this data module's class (fingerprint, split), or None."""
        return (self.checkpoint or {}).get(datamodule_key(type(datamodule)))

    def on_fit_rows(self, datamodule: IndexedDataModule) -> bool:
        """Whether ``datamodule`` is the checkpoint's run's data, split as the fit split it."""
        state = self.saved_data_state(datamodule)
        same = isinstance(state, dict) and not datamodule.fingerprint_changes(state.get("fingerprint"))
        return same and state.get("split") == datamodule.split_record()

    @contextlib.contextmanager
    def signals_end_in_one_line(self) -> Iterator[None]:
        """A command stopped by SIGTERM or Ctrl-C ends with :class:`Stopped`: one line, exit 143 or 130."""
        try:
            yield
        except SystemExit as stop:
            if self.trainer.state.status != TrainerStatus.INTERRUPTED:
                raise
            raise self.stopped(isinstance(stop, SIGTERMException)) from None
        if self.trainer.received_sigterm:
            raise self.stopped(True)

    def stopped(self, sigterm: bool) -> Stopped:
        """The one line for a command stopped by a signal: for fit, where, and how to resume from ``last.ckpt``."""
        trainer = self.trainer
        graceful = next((cb for cb in trainer.callbacks if isinstance(cb, GracefulStop)), None)
        name = (graceful and graceful.signal_name) or ("SIGTERM" if sigterm else "SIGINT")
        code = 128 + getattr(signal, name)
        if self.subcommand != "fit" or trainer.state.fn != "fit":
            wrote = "; no predictions were written" if self.subcommand == "predict" else ""
            return Stopped(f"stopped by {name} during {trainer.state.fn.value}{wrote}", code)
        where = f"stopped by {name} at epoch {trainer.current_epoch}, step {trainer.global_step}"
        last = next((cb for cb in trainer.checkpoint_callbacks if cb.filename == "last"), None)
        if last is None:
            return Stopped(f"{where}; checkpoints are off (--trainer.enable_checkpointing false), no resume", code)
        path = Path(last.dirpath) / "last.ckpt" if last.dirpath else None
        if path is None or not path.is_file():
            return Stopped(f"{where}; no checkpoint had been written yet, so there is nothing to resume", code)
        saved_step = torch.load(path, map_location="cpu", weights_only=True).get("global_step")
        if saved_step != trainer.global_step:  # stopped while validating: the resume repeats this epoch
            where += f" (during validation; last.ckpt is from step {saved_step}, the end of the epoch before)"
        config = path.parent.parent / "config.yaml"
        return Stopped(f"{where}; resume with: logreg fit --config {config} --ckpt_path {path}", code)

    def check_resumed_optimizer(self) -> None:
        """Refuse a resume with another optimizer than the checkpoint's: its state would load, then fail mid-step
        (Adam on SGD's state: KeyError 'betas'); or with other settings (lr, weight_decay): Lightning would load the
        checkpoint's, while config.yaml recorded the new ones."""
        states = (self.checkpoint or {}).get("optimizer_states") or [{}]
        saved = (states[0].get("param_groups") or [None])[0]
        chosen = self.config.fit.get("optimizer")
        if not isinstance(saved, dict) or (chosen is not None and not isinstance(chosen, Namespace)):
            return
        params = [torch.nn.Parameter(torch.zeros(1))]
        given = self.model.configure_optimizers() if chosen is None else None  # the model's own optimizer
        given = given or pydoc.locate(chosen.class_path)(params, **chosen.init_args.as_dict())
        if optimizer_keys(saved) != optimizer_keys(given.param_groups[0]):
            raise ValueError(f"--optimizer {type(given).__name__}: the checkpoint was trained with "
                             f"{saved_optimizer(saved)}, whose state a resume continues; resume with that optimizer, "
                             "or fit anew without --ckpt_path")  # fmt: skip
        changed = changed_setting(saved, given.param_groups[0], bool(self.checkpoint.get("lr_schedulers")))
        if changed:
            key, value, old = changed
            raise ValueError(f"--optimizer.{key} {value}: the checkpoint's optimizer has {key} {old}, which a resume "
                             "loads with its state (to change it, fit anew without --ckpt_path)")  # fmt: skip

    def before_fit(self) -> None:
        """Say so when ``--optimizer`` trains with its class's default lr (``--model.lr`` sets only SGD's)."""
        self.check_resumed_optimizer()
        optimizer = self.config.fit.get("optimizer")
        if not isinstance(optimizer, Namespace):
            return
        name = optimizer.class_path.rsplit(".", 1)[1]
        if self.config.fit.model.get("l1"):  # before anything is printed (the model checks too)
            check_l1_optimizer(name, optimizer.init_args.as_dict())
        lr, model_lr = optimizer.init_args.get("lr"), self.config.fit.model.lr
        default = inspect.signature(pydoc.locate(optimizer.class_path)).parameters.get("lr")
        line_search = name == "LBFGS"  # its lr scales a step its line search chooses: 1 is the right default
        if not self.trainer.is_global_zero or default is None or lr != default.default or lr == model_lr or line_search:
            return
        if not gives_lr(self.args or [], self.config_sections("optimizer")):
            print(f"logreg: note: training with {name}(lr={lr:g}), its default; --model.lr {model_lr:g} applies only "
                  "without --optimizer (set --optimizer.lr)", file=sys.stderr, flush=True)  # fmt: skip

    def fit(self, model: LightningModule, datamodule: LightningDataModule, **kwargs: Any) -> None:
        if str(self.trainer.precision).startswith("64"):  # before a resume loads float64 weights: no float32 rounding
            model.double()
        with self.signals_end_in_one_line():
            self.trainer.fit(model, datamodule=datamodule, weights_only=True, **kwargs)

    def after_fit(self) -> None:
        """The summary of the final weights and their coefficient table (also RUN/coefficients.csv), then the test."""
        trainer, model, data = self.trainer, self.model, self.datamodule
        if trainer.interrupted:
            return
        untested = "--trainer.limit_test_batches is 0" if trainer.limit_test_batches == 0 else None
        if not len(data.test_idx):
            untested = untested or "the data has no test split (--data.test_fraction 0)"
        tested = summary.weights_to_test(trainer) if not untested else None
        log_dir = None if trainer.fast_dev_run else trainer.log_dir  # (on every process: it broadcasts under DDP)
        if trainer.is_global_zero:  # (the CLI's data is always an IndexedDataModule: --data takes its subclasses)
            table = summary.model_table(model, data)
            fit = model.training_fit(data.features, data.labels, data.train_idx)
            converged = summary.convergence(trainer, model, data, table.separated, fit)
            path = summary.save_table(trainer, table, None if log_dir is None else Path(log_dir))
            print(summary.fit_summary(trainer, model, converged, table, path, fit, tested), flush=True)
            if converged is not None and converged.warn:
                print(f"logreg: warning: {converged.line}", file=sys.stderr, flush=True)
            if untested:  # said, rather than left for the user to infer
                print(f"tested  nothing: {untested}", flush=True)
        if tested is not None:
            counter = RowCounter()
            trainer.callbacks.append(counter)
            with self.signals_end_in_one_line(), float32_evaluation(trainer, model):
                results = trainer.test(model, datamodule=data, ckpt_path=tested.ckpt_path, weights_only=True,
                                       verbose=False)  # fmt: skip
            summary.print_results(trainer, results)
            self.print_partial(counter, data, "test", self.config.fit.trainer.get("limit_test_batches"))

    def evaluate(self, model: LightningModule, datamodule: IndexedDataModule, **kwargs: Any) -> None:
        """``trainer.validate`` or ``trainer.test`` on the checkpoint, then logreg's compact rows."""
        split, loop = ("validation", "val") if self.subcommand == "validate" else ("test", "test")
        limit = self.config[self.subcommand].trainer.get(f"limit_{loop}_batches")
        self.check_something_to_evaluate(datamodule, split, loop, limit)
        self.warn_other_split(datamodule)
        counter = RowCounter()
        self.trainer.callbacks.append(counter)
        with self.signals_end_in_one_line(), float32_evaluation(self.trainer, model):
            run = getattr(self.trainer, self.subcommand)
            results = run(model, datamodule=datamodule, weights_only=True, verbose=False, **kwargs)
        if not any(results):
            raise ValueError(f"logreg {self.subcommand}: no batches were evaluated, so nothing was measured")
        summary.print_results(self.trainer, results)
        self.print_partial(counter, datamodule, loop, limit)
        self.print_other_file(datamodule, split, loop)
        if self.subcommand == "test" and self.trainer.is_global_zero:
            table = summary.model_table(model, datamodule, fit_data=self.on_fit_rows(datamodule))
            lines = summary_lines(table, top=summary.TOP_COEFFICIENTS)
            print("\n".join(["", *lines]), flush=True)

    validate = test = evaluate

    def print_other_file(self, datamodule: IndexedDataModule, split: str, loop: str) -> None:
        """Say which rows of data other than the fit's were scored: its own split, not every row."""
        state = self.saved_data_state(datamodule)
        if not self.trainer.is_global_zero or not isinstance(state, dict):
            return
        if datamodule.fingerprint_changes(state.get("fingerprint")):
            rows, total = len(getattr(datamodule, f"{loop}_idx")), len(datamodule.labels)
            print(f"scored  the {split} split of {datamodule.describe()}: {rows} of its {total} rows, split as the fit "
                  "split its data (predict --predictions FILE scores every row)", flush=True)  # fmt: skip

    def print_partial(self, counter: RowCounter, datamodule: IndexedDataModule, loop: str, limit: Any) -> None:
        """Say so when ``--trainer.limit_*_batches`` left rows of the split out of the metrics."""
        rows = int(self.trainer.strategy.reduce(torch.tensor(counter.rows), reduce_op="sum"))  # all ranks' rows
        total = len(getattr(datamodule, f"{loop}_idx"))
        if self.trainer.is_global_zero and rows < total:
            why = "--trainer.fast_dev_run" if self.trainer.fast_dev_run else f"--trainer.limit_{loop}_batches {limit:g}"
            print(f"scored  {rows} of the {total} {loop} rows ({why})", flush=True)

    def check_something_to_evaluate(self, datamodule: IndexedDataModule, split: str, loop: str, limit: Any) -> None:
        """Refuse data without the split, or its loop off: no metric and exit 0 would look like an evaluation."""
        if limit == 0:
            raise ValueError(f"--trainer.limit_{loop}_batches {limit:g}: nothing to {self.subcommand}")
        if getattr(datamodule, f"{loop}_fraction") != 0:
            return
        if self.fitted_data is not None and not self.data_given:
            raise ValueError(
                f"--ckpt_path {self.ckpt_path}: its run held out no {split} rows (data.{loop}_fraction 0), so there is "
                f"nothing to {self.subcommand}; give other data: --data.path FILE"
            )
        raise ValueError(
            f"{datamodule.describe()}: no {split} split (--data.{loop}_fraction 0), so there is nothing to "
            f"{self.subcommand}; set --data.{loop}_fraction above 0"
        )

    def before_predict(self) -> None:
        """Refuse ``--predictions`` naming a file this command reads, and ``--trainer.limit_predict_batches`` (a
        partial file, exit 0)."""
        limit = self.config.predict.trainer.get("limit_predict_batches")
        if limit is not None and not (isinstance(limit, float) and limit == 1):
            raise ValueError(f"--trainer.limit_predict_batches {limit:g}: predict writes every row; leave it out")
        target = self.config.predict.get("predictions")
        reads = [self.ckpt_path, *(str(path) for path in self.config.predict.get("config") or [])]
        if isinstance(self.datamodule, FileDataModule):
            reads.append(str(self.datamodule.path))
        for path in filter(None, reads if target else []):
            source = Path(path).resolve()
            if Path(target).resolve() == source or source in Path(target).resolve().parents:
                raise ValueError(f"--predictions {target}: is {path}, which this command reads; choose another file")
        if target:  # (--overwrite true through a link would replace the run's data or checkpoints)
            check_not_run_file(target, f"--predictions {target}", self.checkpoint, self.ckpt_path)

    def predict(self, model: LightningModule, datamodule: LightningDataModule, **kwargs: Any) -> None:
        with self.signals_end_in_one_line(), float32_evaluation(self.trainer, model):
            self.trainer.predict(model, datamodule=datamodule, weights_only=True, return_predictions=False, **kwargs)
        path = kwargs.get("predictions")
        if path and self.trainer.is_global_zero:  # (on stderr when the predictions themselves went to stdout)
            print(f"predictions written to {path}", file=sys.stderr if is_stdout(path) else sys.stdout)
        elif self.trainer.is_global_zero:  # LogRegTrainer.predict added the preview
            preview = next(cb for cb in self.trainer.callbacks if isinstance(cb, PredictionPreview))
            print("\n".join([*preview.lines(), "pass --predictions FILE.csv to save the predictions"]))


# param_group keys torch added over versions, which an optimizer's __setstate__ fills in for an older checkpoint
NEWER_OPTIMIZER_KEYS = {"maximize", "foreach", "capturable", "differentiable", "fused", "decoupled_weight_decay"}


def optimizer_keys(group: dict[str, Any]) -> set[str]:
    """The settings of an optimizer's param group that tell its class (Adam's betas, SGD's momentum; AdamW is Adam
    with ``decoupled_weight_decay`` true, which a resume would load as Adam's false)."""
    keys = {*group} - {"params", "initial_lr"} - NEWER_OPTIMIZER_KEYS  # (initial_lr: set by an LR scheduler)
    return keys | {"decoupled_weight_decay"} if group.get("decoupled_weight_decay") else keys


def changed_setting(saved: dict[str, Any], given: dict[str, Any], scheduled: bool) -> tuple[str, Any, Any] | None:
    """The first setting of the ``given`` param group that differs from the ``saved`` one, as (key, given, saved), or
    None. With a scheduler only lr, as it began ('initial_lr'): the scheduler's state changes the rest."""
    keys = ["lr"] if "initial_lr" in saved else []
    keys = keys if scheduled else sorted({*saved} & {*given} - {"params", "initial_lr"})
    for key in keys:
        old = saved["initial_lr"] if key == "lr" and "initial_lr" in saved else saved[key]
        if not same_setting(given[key], old):
            return key, given[key], old
    return None


def same_setting(a: Any, b: Any) -> bool:
    """Equal settings, numbers to float32's precision (a tensor lr, or one rounded to float32), tuples item by item."""
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(map(same_setting, a, b))
    if isinstance(a, (int, float, torch.Tensor)) and isinstance(b, (int, float, torch.Tensor)):
        return math.isclose(float(a), float(b), rel_tol=1e-6)
    return a == b


def saved_optimizer(group: dict[str, Any]) -> str:
    """The optimizer classes (torch's, logreg's Newton) whose param group has the keys of the saved ``group``."""
    found = []
    for cls in [*vars(torch.optim).values(), Newton]:
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer:
            with contextlib.suppress(Exception):  # one that cannot be built on one number is not it
                if optimizer_keys(cls([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]) == optimizer_keys(group):
                    found.append(cls.__name__)
    return " or ".join(found) or f"another optimizer (its settings: {', '.join(sorted(optimizer_keys(group)))})"


class RowCounter(Callback):
    """The rows validate or test scored on this process (``--trainer.limit_*_batches`` can leave some out)."""

    rows = 0

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:  # fmt: skip
        self.rows += len(batch[0])

    on_test_batch_end = on_validation_batch_end


@contextlib.contextmanager
def float32_evaluation(trainer: Trainer, model: LightningModule) -> Iterator[None]:
    """Evaluate in float32 under a 16-bit ``--trainer.precision``: the test after such a fit, and validate, test and
    predict of a checkpoint, whose float32 model Lightning would otherwise convert to 16 bits when the loop starts
    (``test`` has no per-call precision; the precision plugin is public and settable)."""
    plugin = trainer.strategy.precision_plugin
    if summary.half_precision(trainer):
        trainer.strategy.precision_plugin = Precision()
        model.float()
    try:
        yield
    finally:
        trainer.strategy.precision_plugin = plugin


def subcommands_to_build(args: Any) -> dict[str, set[str]]:
    """Only the subcommand a command line starts with (a parser costs 0.1 s); every one when it starts otherwise or
    jsonargparse reads the environment (``PL_CONFIG`` may hold any)."""
    words = sys.argv[1:] if args is None else args
    first = words[0] if isinstance(words, list | tuple) and words else None
    if not isinstance(first, str) or first not in SUBCOMMANDS or ArgumentParser().default_env:
        return SUBCOMMANDS
    return {first: SUBCOMMANDS[first]}


PENALTY_FLAGS = {"--model.l2": ("--model.C", "null"), "--model.C": ("--model.l2", "0")}  # each with the other's reset
CONFIG_FLAGS = ("--config", "-c", *(f"--{group}" for group in ("model", "data", "trainer", "optimizer", "lr_scheduler",
                                                                 "checkpoint", "early_stopping")))  # fmt: skip


def prepared_args(args: list[str]) -> list[str]:
    """``args`` made ready for parsing, in one pass over the flags: ``--config NAME`` of a config shipped with logreg
    (``tabular.yaml``, or ``tabular``; unless NAME is a path) becomes its path; ``--model.l2`` or ``--model.C`` is
    followed by the other's reset, so that it replaces the other from a ``--config`` (both as flags stay a conflict
    the model refuses). Refuses, naming the flag, ``--model.l2 inf`` (or nan, or l1's: jsonargparse says "Expected a
    float"), and a config file given to ``--config`` or a group (``--model FILE``) that :func:`config_problem` refuses
    (jsonargparse names no file)."""
    found, penalties = list(args), []
    for i, flag, value in flag_values(args):
        at = i if "=" in args[i] else i + 1
        packaged = [path for path in (CONFIGS / value, CONFIGS / f"{value}.yaml") if path.is_file()]
        if flag in ("--config", "-c") and packaged and "/" not in value and not Path(value).exists():
            value = str(packaged[0])
            found[at] = f"{flag}={value}" if at == i else value
        if flag in ("--model.l2", "--model.l1") and value.strip().lower().lstrip("+-") in ("inf", "infinity", "nan"):
            raise ValueError(f"{flag} {value}: {flag[8:]} must be a finite number >= 0 (--model.C inf means no "
                             "penalty; so does --model.l2 0)")  # fmt: skip
        with contextlib.suppress(OSError):
            if flag in CONFIG_FLAGS and Path(value).is_file() and (problem := config_problem(Path(value))):
                hint = "; a data file is given as --data.path FILE" if flag == "--data" else ""
                raise ValueError(f"{flag} {value}: {problem}{hint}")
        if flag in PENALTY_FLAGS:
            penalties.append((at, flag))
    for value_at, flag in reversed(penalties if len({flag for _, flag in penalties}) == 1 else []):
        found[value_at + 1 : value_at + 1] = PENALTY_FLAGS[flag]
    return found


def config_problem(path: Path) -> str | None:
    """Why the config file at ``path`` is refused, or None (it is read as jsonargparse reads it)."""
    try:
        if uses_yaml_aliases(text := path.read_text(encoding="utf-8")):
            return "uses YAML aliases (*name), which logreg configs do not allow"
        config = get_loader("yaml")(text)
    except UnicodeDecodeError as err:
        return f"not UTF-8 text ({err.reason} at byte {err.start})"
    except yaml.YAMLError as err:
        mark, words = getattr(err, "problem_mark", None), (getattr(err, "context", None), getattr(err, "problem", None))
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"not valid YAML: {', '.join(filter(None, words)) or str(err).splitlines()[0]}{where}"
    kind = {list: "a list", type(None): "empty"}.get(type(config), "a single value")
    return None if isinstance(config, dict) else f"not a mapping of settings (key: value lines): it is {kind}"


def uses_yaml_aliases(text: str) -> bool:
    """Whether YAML ``text`` has an alias (``*name``: "billion laughs"); text that is not YAML is jsonargparse's."""
    with contextlib.suppress(yaml.YAMLError):  # (parsed only when it may hold one)
        return "&" in text and "*" in text and any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text))
    return False


def load_yaml_without_aliases(text: str) -> Any:
    """jsonargparse's YAML loader for every config and value (parser mode ``logreg``), refusing aliases."""
    if isinstance(text, str) and uses_yaml_aliases(text):
        raise ValueError("a config uses YAML aliases (*name), which logreg configs do not allow")
    return get_loader("yaml")(text)


def resumed_run(ckpt_path: str | None) -> Path | None:
    """``RUN`` for ``--ckpt_path RUN/checkpoints/X.ckpt`` when RUN is a logreg run directory (has config.yaml)."""
    if not ckpt_path or ckpt_path in CHECKPOINT_KEYWORDS:
        return None
    path = Path(ckpt_path).resolve()
    run = path.parent.parent
    return run if path.parent.name == "checkpoints" and (run / "config.yaml").is_file() else None


def gives_lr(args: list[str], sections: list[Any]) -> bool:
    """Whether the command line or a config's ``optimizer`` section (``sections``) gives the optimizer's lr."""
    sections = list(sections)
    for _, flag, value in flag_values(args):
        if flag in ("--optimizer.lr", "--optimizer.init_args.lr"):
            return True
        if flag == "--optimizer":
            with contextlib.suppress(OSError, yaml.YAMLError, ValueError):
                sections.append(yaml.safe_load(Path(value).read_text() if Path(value).is_file() else value))
    return any(isinstance(s, dict) and ("lr" in s or "lr" in (s.get("init_args") or {})) for s in sections)


def model_value(key: str, value: Any) -> Any:
    """A model setting as the model takes it, to compare with the checkpoint's: C's words 'inf' and 'none' (no penalty)
    and a number given as text become floats (jsonargparse keeps ``C: float | str``'s words as typed)."""
    if key == "C" and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return penalty_C(value)
    with contextlib.suppress(ValueError):
        return float(value) if isinstance(value, str) else value
    return value


def given_data_class(args: list[str]) -> str | None:
    """The data class the last ``--data`` flag or ``--config`` file's ``data`` section names (FileDataModule for its
    flags alone), as its full path, or None: the parse takes its defaults from the start, and
    :meth:`LogRegCLI.use_data_defaults` parses again only when the guess was wrong."""
    found = None
    for _, flag, value in flag_values(args):
        if flag in ("--data", "--data.class_path"):
            found = value
        with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):  # (a wrong guess only costs a parse)
            content = yaml.safe_load(Path(value).read_text(encoding="utf-8")) if flag in ("--config", "-c") else {}
            section = content.get("data") or (content.get("fit") or {}).get("data") or {}
            found = section.get("class_path", found)
    found, cls = found or (with_file_data(args) and "FileDataModule"), None  # (a file's flag alone: as parsed below)
    with contextlib.suppress(pydoc.ErrorDuringImport):  # (a module that fails to import: the parse reports it)
        cls = found and (pydoc.locate(found) or pydoc.locate(f"logreg.{found}"))
    known = isinstance(cls, type) and issubclass(cls, IndexedDataModule)
    return f"{cls.__module__}.{cls.__qualname__}" if known else None


def with_file_data(args: list[str]) -> list[str] | None:
    """``args`` with ``--data FileDataModule`` before the first ``--data.`` flag when they give no data class but a
    flag only a file has (``--data.path``); else None."""
    if any(word == "--data" or word.startswith("--data=") for word in args):
        return None
    file_only = {*inspect.signature(FileDataModule).parameters} - {*inspect.signature(ThresholdDataModule).parameters}
    given = [word.partition("=")[0].removeprefix("--data.") for word in args if word.startswith("--data.")]
    if not file_only.intersection(given):
        return None
    first = next(i for i, word in enumerate(args) if word.startswith("--data."))
    return [*args[:first], "--data", "FileDataModule", *args[first:]]


def with_run_data(args: list[str]) -> list[str]:
    """``args`` and ``--data.path`` found from the fit's directory when the last ``--config`` (after any ``--data``)
    is a run's config.yaml that gives its data file as a relative path, as test and predict find a checkpoint's data:
    from elsewhere the same name could be another file. ``args`` itself when they give the data (a path or another
    class), or the file is the same from here."""
    data_flags = ("--config", "-c", "--data.path", "--data", "--data.class_path")  # a later data class has no path
    flags = [(flag, value) for _, flag, value in flag_values(args) if flag in data_flags]
    config = Path(flags[-1][1]) if flags and flags[-1][0] in ("--config", "-c") else Path()
    last = config.parent / "checkpoints" / "last.ckpt"
    if config.name != "config.yaml" or not last.is_file() or config_problem(config):
        return args
    data = yaml.safe_load(config.read_text(encoding="utf-8")).get("data")
    path = ((data.get("init_args") or {}) if isinstance(data, dict) else {}).get("path")
    if not isinstance(path, str) or Path(path).is_absolute():
        return args
    fitted_in = data_directory(check_checkpoint(str(last)), str(last), path, f"--config {config}")
    if fitted_in is None or (fitted_in / path).resolve() == Path(path).resolve():
        return args
    relative = os.path.relpath(fitted_in / path)
    return [*args, "--data.path", str(fitted_in / path) if relative.startswith("..") else relative]


def fitted_data(checkpoint: dict[str, Any] | None, ckpt_path: str | None, path_given: bool = False
                ) -> dict[str, Any] | None:  # fmt: skip
    """The ``--data`` of the run that saved ``checkpoint`` (None if not recorded), a relative path found from the fit's
    directory (unless ``path_given``: the path given replaces it). ``_class_path``: LightningCLI's undocumented key
    (checked in tests/test_layouts.py)."""
    hparams = (checkpoint or {}).get(LightningDataModule.CHECKPOINT_HYPER_PARAMS_KEY)
    if not isinstance(hparams, dict) or not isinstance(hparams.get("_class_path"), str):
        return None
    # not ``positive``: the checkpoint's classes decide the coding, and must not refuse a file spelled otherwise
    init_args = {key: value for key, value in hparams.items() if not key.startswith("_") and key != "positive"}
    path = init_args.get("path")
    if isinstance(path, str) and not Path(path).is_absolute() and not path_given:
        fitted_in = data_directory(checkpoint, ckpt_path, path)
        found = fitted_in / path if fitted_in is not None else Path(path)
        if not found.exists():
            where = f" (looked in {fitted_in}, where the fit ran)" if fitted_in is not None else ""
            raise FileNotFoundError(f"--ckpt_path {ckpt_path}: the data it was fitted on, {path}, is not found{where}; "
                                    "give the data: --data.path FILE")  # fmt: skip
        relative = os.path.relpath(found)
        init_args["path"] = str(found) if relative.startswith("..") else relative
    return {"class_path": hparams["_class_path"], "init_args": init_args}


def check_not_run_file(target: str, label: str, checkpoint: dict[str, Any] | None, ckpt_path: str | None) -> None:
    """Refuse ``target`` (``label``: its flag and path) when it is, or is inside, a file of the checkpoint's run: an
    ``--overwrite true`` through a link would replace the run's data, checkpoints or config."""
    for path in run_files(checkpoint, ckpt_path) if checkpoint is not None and ckpt_path else []:
        source, resolved = Path(path).resolve(), Path(target).resolve()
        if resolved == source:
            raise ValueError(f"{label}: is {path}, which the checkpoint's run reads; choose another file")
        if source in resolved.parents:
            raise ValueError(f"{label}: is in {path}, a directory of the checkpoint's run; choose another file")


def run_files(checkpoint: dict[str, Any], ckpt_path: str) -> list[str]:
    """The files of the run of ``ckpt_path``: its data, found as ``logreg test`` finds it (from the fit's directory;
    none when that cannot be told: a checkpoint copied out of its run), and its run directory (the one holding its
    ``checkpoints``, unless that is the fit's directory itself), shown relative unless outside the cwd."""
    data = None
    with contextlib.suppress(FileNotFoundError, ValueError):  # (a data file that is gone cannot be overwritten)
        data = ((fitted_data(checkpoint, ckpt_path) or {}).get("init_args") or {}).get("path")
    files = [] if data is None else [str(data)]
    where = Path(ckpt_path).resolve().parent
    fitted_in = fit_directory(checkpoint, ckpt_path)
    if where.name == "checkpoints" and (fitted_in is None or fitted_in.resolve() != where.parent):
        relative = os.path.relpath(where.parent)
        files.append(str(where.parent) if relative.startswith("..") else relative)
    return files


def fit_directory(checkpoint: dict[str, Any], ckpt_path: str) -> Path | None:
    """The directory the fit of ``ckpt_path`` ran in, from its ModelCheckpoints' relative ``dirpath`` (state key and
    ``dirpath``: undocumented, checked in tests/test_layouts.py), matched against the path as given (a linked
    ``lightning_logs`` resolves to another name), then resolved; None when it cannot be told."""
    for here in (Path(os.path.abspath(ckpt_path)).parent, Path(ckpt_path).resolve().parent):
        for parts in run_dirpaths(checkpoint):
            if here.parts[-len(parts) :] == parts:
                return Path(*here.parts[: -len(parts)])
    recorded = recorded_directory(checkpoint)  # (an absolute or ``..`` dirpath: --trainer.default_root_dir /runs)
    return Path(recorded) if recorded and not run_dirpaths(checkpoint) and Path(recorded).is_dir() else None


def recorded_directory(checkpoint: dict[str, Any]) -> str | None:
    """The directory the fit's command ran in, as :class:`~logreg.cli.loggers.HparamsCallback` saves it."""
    state = (checkpoint.get("callbacks") or {}).get(HparamsCallback.__qualname__)
    return state.get("fit_directory") if isinstance(state, dict) else None


def data_directory(checkpoint: dict[str, Any], ckpt_path: str, path: str, given: str = "--ckpt_path") -> Path | None:
    """The fit's directory, where its relative data ``path`` is found; None when the checkpoint records none (an older
    one with an absolute ``dirpath``: its data from the current directory, as before). A checkpoint not under the
    ``dirpath`` it was saved in (moved, or reached by another name), or whose recorded directory is gone, is refused:
    the same name from here could be another file (``given``: the flag that named the checkpoint)."""
    fitted_in, dirpaths, recorded = fit_directory(checkpoint, ckpt_path), run_dirpaths(checkpoint), None
    if fitted_in is None and (dirpaths or (recorded := recorded_directory(checkpoint))):
        why = f"is not under {os.path.join(*dirpaths[0])}, where its run saved it" if dirpaths else (
            f"was fitted in {recorded}, which is gone")  # fmt: skip
        raise ValueError(f"{given}: the checkpoint {ckpt_path} {why}, so the directory the fit ran in, and its data "
                         f"{path} there, cannot be told; give the data: --data.path FILE")  # fmt: skip
    return fitted_in


def run_dirpaths(checkpoint: dict[str, Any]) -> list[tuple[str, ...]]:
    """The parts of the checkpoint's ModelCheckpoints' ``dirpath`` relative to the fit's directory (none: an absolute
    one, or none recorded: the checkpoint does not say where the fit ran)."""
    found = []
    for key, state in (checkpoint.get("callbacks") or {}).items():
        dirpath = state.get("dirpath") if key.startswith("ModelCheckpoint") and isinstance(state, dict) else None
        if isinstance(dirpath, str) and not Path(dirpath).is_absolute():
            parts = Path(os.path.normpath(dirpath)).parts
            found += [parts] if ".." not in parts else []
    return found


def build_cli(args: list[str] | None = None, callbacks: Sequence[Callback] = ()) -> LogRegCLI:
    """Parse ``args`` (``sys.argv`` when None), build model, data and trainer, and run the subcommand; ``callbacks``
    join the Trainer's for this run only (scripts/sweep.py's pruning), out of config.yaml."""
    defaults = trainer_defaults()
    defaults["callbacks"] = [*defaults["callbacks"], *callbacks]
    set_loader(PARSER_MODE, load_yaml_without_aliases, (yaml.YAMLError,))
    built = subcommands_to_build(args)
    cli = type(LogRegCLI.__name__, (LogRegCLI,), {"subcommands": staticmethod(lambda: built)})
    parser_kwargs = {"prog": "logreg", "parser_mode": PARSER_MODE, "exit_on_error": False, "allow_abbrev": False,
                     "description": DESCRIPTION, "formatter_class": TablesAsWritten}  # fmt: skip
    if "fit" in built:  # (an option keyed by a subcommand that is not built would reach argparse)
        parser_kwargs["fit"] = {"epilog": FIT_EPILOG}
    return cli(LogisticRegression, IndexedDataModule, subclass_mode_data=True, trainer_class=LogRegTrainer,
               trainer_defaults=defaults, save_config_callback=HparamsCallback, seed_everything_default=0,
               parser_kwargs=parser_kwargs, args=args)  # fmt: skip


DESCRIPTION = """Logistic regression with cross-entropy, as a Lightning project.
Also: `logreg convert SOURCE OUT_DIR [--label NAME]` turns a CSV or Parquet file into a memory-mapped
x.npy/y.npy directory for --data.path (see `logreg convert --help`), and
`logreg export --ckpt_path CKPT --output model.onnx` writes a checkpoint as an ONNX model (`logreg export --help`)."""


class TablesAsWritten(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """jsonargparse's help formatter, keeping descriptions and epilogs (fit's common flags) as written."""
