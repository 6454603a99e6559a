#!/usr/bin/env python
"""Optuna sweep over lr, the penalty and pos_weight: each trial an ordinary `logreg fit`, compared in TensorBoard.

    python scripts/sweep.py --trials 20 [--storage sqlite:///sweep.db] [--study-name logreg-sweep]
                            [--root lightning_logs] [LOGREG FIT ARGUMENTS ...]

Every other argument goes to `logreg fit` (data flags, --config, --trainer.max_epochs, ...). Trial K logs into
ROOT/sweep/trial_K/ with its config.yaml, checkpoints and `hp_metric`; the study (parameters, values, states, and the
fit arguments it was made with) lives in the --storage database. The search space, each parameter only where it
reaches the run (see SearchSpace):

- `lr`: log-uniform in [1e-3, 10], the built-in SGD's `--model.lr` or another optimizer's `--optimizer.lr`; not
  searched for L-BFGS with a line search (`--config lbfgs`, `--config tabular`);
- `l2`: 0 or log-uniform in [1e-6, 1] (a categorical `l2_on` chooses, so that an unpenalised fit stays possible);
  where the fit arguments set `C` (`--config tabular`), `C` log-uniform in [1e-3, 1e3] instead;
- `pos_weight`: null or balanced (not with `--model.loss mse`).

Trials are ranked by their best validation loss (the value of their best checkpoint), and Optuna's median pruner stops
a trial whose validation loss after an epoch is worse than the median of the finished trials at that epoch; a pruned
trial's directory stays, with `pruned.txt` saying when and why. A trial that fails in training (its lr diverged, say)
is FAIL in the study, with `failed.txt` in its directory, and the sweep goes on; arguments refused before a trial
trains stop the sweep in one line. `--trials N` counts finished trials (complete or pruned) in the study: run the same
command again after an interruption and the sweep goes on to N, drawing new points (the sampler's seed is --seed plus
the trials the study holds). A resume with other fit arguments, or on changed data, is refused. Trials that were
running when the sweep was killed are marked failed and their parameters queued again. (One sweep process per study at
a time: a second one would take the first one's running trial for a killed one.)

At the end it prints the best trial's config.yaml; `logreg fit --config THAT` reproduces its val_loss exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, NoReturn

import optuna
import sqlalchemy.exc
import yaml
from lightning.pytorch import Callback, LightningModule, Trainer
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, Trial, TrialState
from sqlalchemy.engine import make_url

from logreg.cli.errors import Stopped, is_user_error, one_line
from logreg.cli.lightning import LogRegCLI, build_cli
from logreg.data.indexed import IndexedDataModule
from logreg.training import quiet_known_noise

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
NO_VALIDATION = "the sweep ranks trials by val_loss: keep a validation split (--data.val_fraction > 0)"


class OneLineParser(argparse.ArgumentParser):
    """argparse, whose mistakes end as the sweep's one ``sweep: error: ...`` line instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The sweep's own options, and the rest for `logreg fit`."""
    parser = OneLineParser(prog="sweep.py", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--trials", type=int, required=True, help="finished trials the study should hold")
    parser.add_argument("--storage", default="sqlite:///sweep.db", help="Optuna storage URL (default: %(default)s)")
    parser.add_argument("--study-name", default="logreg-sweep", help="study in that storage (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=Path("lightning_logs"), help="log root; runs go to ROOT/sweep/")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sampler; a resumed study adds its number of trials (default: 0)")  # fmt: skip
    parser.add_argument("--pruner-startup-trials", type=int, default=5,
                        help="complete trials before pruning starts (default: %(default)s)")  # fmt: skip
    options, fit_args = parser.parse_known_args(argv)
    if options.trials < 1:
        parser.error(f"--trials must be at least 1, got {options.trials}")
    if not 0 <= options.seed < 2**32:  # NumPy's seeds
        parser.error(f"--seed must be in [0, 2**32), got {options.seed}")
    if options.pruner_startup_trials < 0:
        parser.error(f"--pruner-startup-trials must be at least 0, got {options.pruner_startup_trials}")
    if fit_args[:1] == ["fit"]:
        fit_args = fit_args[1:]
    printing = next((word for word in fit_args if word.startswith("--print_config")), None)
    if printing:
        raise ValueError(f"{printing}: the sweep runs trials; each saves its config.yaml in its directory")
    return options, fit_args


def fit_config(fit_args: list[str]) -> dict[str, Any]:
    """The config that `logreg fit FIT_ARGS --print_config` prints: what every trial starts from before the sweep's
    flags (configs, defaults and flags resolved; no class is built, nothing is written). Bad flags fail here."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):  # --print_config exits when printed
        build_cli(["fit", *fit_args, "--print_config"])
    config = yaml.safe_load(printed.getvalue())
    if not isinstance(config, dict):  # (--print_config prints a mapping, or the parse failed with an exception)
        raise ValueError(f"logreg fit {shlex.join(fit_args)}: printed no config")
    return config


class SearchSpace:
    """What the sweep draws for one experiment, each parameter only where it reaches the run:

    - ``lr``, log-uniform in [1e-3, 10]: ``--model.lr`` (the built-in SGD's), or ``--optimizer.lr`` where
      ``--optimizer`` names another optimizer; not searched for L-BFGS with a line search, whose lr only scales the
      step the line search chooses (nor for an optimizer without an ``lr``);
    - the penalty: ``l2``, 0 or log-uniform in [1e-6, 1] (a categorical ``l2_on`` chooses, so that an unpenalised fit
      stays possible); or, where the fit arguments set ``C`` (``--config tabular``), ``C`` log-uniform in [1e-3, 1e3]
      instead (l2 beside C is refused);
    - ``pos_weight``: null or balanced; not with ``--model.loss mse``, which takes no class weight.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        optimizer, model = config.get("optimizer"), config.get("model") or {}
        options = (optimizer or {}).get("init_args") or {}
        if optimizer is None:
            self.lr_flag: str | None = "--model.lr"
        elif "lr" in options and not options.get("line_search_fn"):
            self.lr_flag = "--optimizer.lr"
        else:
            self.lr_flag = None
        self.penalty = "C" if model.get("C") is not None else "l2"
        self.pos_weight = model.get("loss", "bce") != "mse"

    def flags(self) -> dict[str, str]:
        """The flag that sets each searched parameter in the trial's `logreg fit`."""
        flags = {"lr": self.lr_flag, self.penalty: f"--model.{self.penalty}"}
        return {**flags, "pos_weight": "--model.pos_weight" if self.pos_weight else None}

    def chosen_keys(self) -> set[str]:
        """Where the searched parameters sit in the fit config (``model.lr``, ``optimizer.init_args.lr``, ...)."""
        flags = {flag.removeprefix("--") for flag in self.flags().values() if flag}
        return {"optimizer.init_args.lr" if flag == "optimizer.lr" else flag for flag in flags}

    def refuse_fixed(self, fit_args: list[str]) -> None:
        """The fit arguments may not set what the sweep chooses (the trial's value would win, unannounced); nor
        ``--model.lr`` where the sweep chooses another optimizer's lr (it would not train)."""
        refused = {f"--{key}": "the sweep chooses it; leave it out" for key in self.chosen_keys()}
        if self.lr_flag == "--optimizer.lr":
            refused["--optimizer.lr"] = refused["--optimizer.init_args.lr"]
            refused["--model.lr"] = "the sweep chooses --optimizer.lr (--model.lr sets only SGD's)"
        for word in fit_args:
            flag = word.split("=", 1)[0]
            if flag in refused:
                raise ValueError(f"{flag}: {refused[flag]}")

    def suggest(self, trial: Trial) -> dict[str, str]:
        """The trial's `logreg fit` flags for the parameters it draws."""
        chosen = {}
        if self.lr_flag:
            chosen[self.lr_flag] = repr(trial.suggest_float("lr", 1e-3, 10.0, log=True))
        if self.penalty == "C":
            chosen["--model.C"] = repr(trial.suggest_float("C", 1e-3, 1e3, log=True))
        else:
            on = trial.suggest_categorical("l2_on", [False, True])
            chosen["--model.l2"] = repr(trial.suggest_float("l2", 1e-6, 1.0, log=True) if on else 0.0)
        if self.pos_weight:
            chosen["--model.pos_weight"] = trial.suggest_categorical("pos_weight", ["null", "balanced"])
        return chosen

    def experiment(self, config: dict[str, Any]) -> dict[str, Any]:
        """The fit config less what the sweep chooses, flat (``data.init_args.path``: value), as JSON stores it:
        two sweeps are one experiment when these are equal."""
        chosen = self.chosen_keys()
        return json.loads(json.dumps({k: v for k, v in flatten(config).items() if k not in chosen}))


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}`` (lists stay values)."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Pruning(Callback):
    """Reports each epoch's val_loss to the trial and, when Optuna's pruner says so, stops the fit as early stopping
    would (``trainer.should_stop``), so that the pruned run still ends normally: its last checkpoint, its summary
    and its ``hp_metric`` in the HPARAMS tab. (optuna-integration's ``PyTorchLightningPruningCallback`` raises
    ``TrialPruned`` inside the fit instead, which aborts the run before the callbacks after it have logged.)"""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None  # the epoch after which the pruner stopped the fit
        self.training = False  # arguments, data and model were accepted: a failure now is this trial's own

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Refuse, before it trains: a run without validation (the sweep ranks trials by val_loss), and data that
        differ from the study's first trial's (a data file changed under the same --data.path)."""
        if not any(cb.monitor == "val_loss" for cb in trainer.checkpoint_callbacks):
            raise ValueError(NO_VALIDATION)
        data = trainer.datamodule
        if isinstance(data, IndexedDataModule):
            check_data(self.trial.study, data)
        self.training = True

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or "val_loss" not in trainer.callback_metrics:
            return
        self.trial.report(float(trainer.callback_metrics["val_loss"]), step=trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True


def check_data(study: optuna.Study, data: IndexedDataModule) -> None:
    """The study's first trial stores its data's fingerprint (rows, columns; for a file its size, a hash of its
    first MiB and checksums of its values, as checkpoints keep); every later trial must train on the same (compared on
    the keys an older study stored)."""
    now, stored = json.loads(json.dumps(data.fingerprint())), study.user_attrs.get("data")
    if stored is None:
        study.set_user_attr("data", now)
    elif changed := data.fingerprint_changes(stored):
        raise ValueError(f"{data.describe()}: not the data of the study's trials ({changed} differ); "
                         "use another --study-name")  # fmt: skip


class TrialFailed(Exception):
    """A trial that failed in training (its parameters diverged, say): Optuna records it as FAIL, the sweep goes on."""


class Objective:
    """One trial: `logreg fit` in this process under ROOT/sweep/trial_K, pruned by validation loss."""

    def __init__(self, fit_args: list[str], root: Path, space: SearchSpace) -> None:
        self.fit_args, self.root, self.space = fit_args, root, space
        self.runs: list[Path] = []  # the trial directories this process made (none existed before)
        self.finished: list[Path] = []  # those of them whose trial completed or was pruned
        self.failed = 0  # trials of this process that failed in training
        self.new_parents = [d for d in (root / "sweep", root) if not d.exists()]  # made by the first trial, if any

    def __call__(self, trial: Trial) -> float:
        run = self.root / "sweep" / f"trial_{trial.number}"
        if run.exists():
            raise ValueError(f"{run}: exists from another study; choose another --root or --study-name")
        flags = [word for pair in self.space.suggest(trial).items() for word in pair]
        logger = ["--trainer.logger.init_args.save_dir", str(self.root), "--trainer.logger.init_args.name", "sweep",
                  "--trainer.logger.init_args.version", run.name, "--trainer.enable_progress_bar", "false"]  # fmt: skip
        trial.set_user_attr("run", str(run))
        self.runs.append(run)
        pruning = Pruning(trial)
        summary = io.StringIO()  # the fit's summary and warnings go to RUN/summary.txt; the sweep prints one line
        try:
            with contextlib.redirect_stdout(summary), contextlib.redirect_stderr(summary):
                cli = build_cli(["fit", *self.fit_args, *flags, *logger], callbacks=[pruning])
        except Exception as err:
            if not is_user_error(err):
                raise
            reason = one_line(err)
            trial.set_user_attr("error", reason)
            if pruning.training:  # the CLI removes a run that failed before its first checkpoint; the trial keeps why
                run.mkdir(parents=True, exist_ok=True)
            if run.is_dir():
                (run / "failed.txt").write_text(f"{reason}\n")
            if not pruning.training:  # refused before training: the arguments or the data are wrong, stop the sweep
                raise
            self.failed += 1
            raise TrialFailed(reason) from err
        finally:
            if run.is_dir():
                (run / "summary.txt").write_text(summary.getvalue())
        value = self.finish(trial, cli, run)
        self.finished.append(run)
        if pruning.pruned_at is not None:
            reason = f"pruned after epoch {pruning.pruned_at}: val_loss above the median of the finished trials"
            (run / "pruned.txt").write_text(f"{reason} (Optuna's MedianPruner)\n")
            raise optuna.TrialPruned(reason)
        return value

    def remove_runs(self) -> None:
        """Delete the trial directories this process made, and the parents it made that are left empty."""
        for run in self.runs:
            shutil.rmtree(run, ignore_errors=True)
        for parent in self.new_parents:
            with contextlib.suppress(OSError):  # not empty: another run lives there
                parent.rmdir()

    @staticmethod
    def finish(trial: Trial, cli: LogRegCLI, run: Path) -> float:
        """The best validation loss, and the run's config made re-runnable: a new version beside the trials."""
        best = next((cb for cb in cli.trainer.checkpoint_callbacks if cb.monitor), None)
        if best is None or best.monitor != "val_loss" or best.best_model_score is None:
            raise ValueError(NO_VALIDATION)
        config = run / "config.yaml"
        # The saved config names this trial's directory as its logger's version; `logreg fit --config` must log a
        # new run (ROOT/sweep/version_N), not collide with the trial's. Nothing else in the file changes.
        saved = yaml.safe_load(config.read_text())
        saved["trainer"]["logger"]["init_args"]["version"] = None
        config.write_text(yaml.safe_dump(saved, sort_keys=False))
        trial.set_user_attr("config", str(config))
        return float(best.best_model_score)


def requeue_killed_trials(study: optuna.Study) -> list[int]:
    """Trials left RUNNING by a sweep that was killed: marked failed, their parameters queued to run again."""
    killed = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in killed:
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    return [trial.number for trial in killed]


def describe(trial: FrozenTrial) -> str:
    """One line: the trial's value or state, what it drew, its directory (and why it failed)."""
    drawn = []
    for name in ("lr", "l2_on", "C", "pos_weight"):  # as drawn; l2_on False is l2 0
        value = trial.params.get(name)
        if name == "l2_on" and value is not None:
            name, value = "l2", trial.params.get("l2", 0) if value else 0
        if value is not None:
            drawn.append(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}")
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        value = f"val_loss {trial.value:.6f}"
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        value = f"pruned (epoch {max(trial.intermediate_values)})"
    else:
        value = "failed" if trial.state == TrialState.FAIL else trial.state.name.lower()
    error = f"  ({trial.user_attrs['error']})" if "error" in trial.user_attrs else ""
    return f"trial {trial.number:<3} {value:<17}  {' '.join(drawn)}  {trial.user_attrs.get('run', '')}{error}"


def sweep(options: argparse.Namespace, objective: Objective, experiment: dict[str, Any]) -> optuna.Study:
    """Create or resume the study and run trials of ``objective`` until it holds ``options.trials`` finished ones
    (failed ones use up this run's trials: the same command again runs more)."""
    study = open_study(options)
    check_experiment(study, options, objective.fit_args, experiment)
    retried = requeue_killed_trials(study)
    if retried:
        print(f"resuming: trials {retried} were running when the sweep stopped; their parameters run again")
    done = len(study.get_trials(deepcopy=False, states=FINISHED))

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        print(describe(trial), flush=True)

    if done < options.trials:
        study.optimize(objective, n_trials=options.trials - done, callbacks=[report], catch=(TrialFailed,))
    done = len(study.get_trials(deepcopy=False, states=FINISHED))
    if objective.failed and done < options.trials:
        print(f"{objective.failed} trial(s) failed (see failed.txt in their directories); the study holds {done} "
              f"finished of {options.trials}: the same command runs more")  # fmt: skip
    return study


def open_study(options: argparse.Namespace) -> optuna.Study:
    """The study in ``--storage``, created or loaded, which minimizes; its sampler seeded with ``--seed`` plus the
    trials it holds, so that a resumed study draws new points and a new one draws the same as before. A storage that
    cannot be opened is one line naming it."""
    storage = shown(options.storage)
    database = new_sqlite_file(options.storage)
    if database is not None and not database.parent.is_dir():
        raise FileNotFoundError(f"--storage {storage}: directory {database.parent} does not exist")
    try:
        study = optuna.create_study(
            storage=options.storage, study_name=options.study_name, load_if_exists=True, direction="minimize"
        )
    except sqlalchemy.exc.SQLAlchemyError as err:  # a URL or a database file that SQLAlchemy cannot open
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        raise ValueError(f"--storage {storage}: cannot open ({reason})") from None
    except ImportError as err:  # Optuna's, from SQLAlchemy's import of the URL's driver
        missing = next((e.name for e in (err, err.__cause__, err.__context__) if isinstance(e, ImportError) and e.name),
                       None)  # fmt: skip
        reason = f"its driver {missing} is not installed" if missing else one_line(err)
        raise ValueError(f"--storage {storage}: cannot open ({reason})") from None
    if study.directions != [StudyDirection.MINIMIZE]:  # create_study loads an existing study whatever its direction
        what = "maximizes its value" if len(study.directions) == 1 else f"has {len(study.directions)} objectives"
        raise ValueError(f"study {options.study_name!r} in {storage} {what}; the sweep minimizes val_loss: "
                         "use another --study-name")  # fmt: skip
    return optuna.load_study(
        storage=options.storage,
        study_name=options.study_name,
        sampler=optuna.samplers.TPESampler(seed=(options.seed + len(study.get_trials(deepcopy=False))) % 2**32),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=options.pruner_startup_trials),
    )


def check_experiment(study: optuna.Study, options: argparse.Namespace, fit_args: list[str], experiment: dict) -> None:
    """A study holds one experiment: a resume with other fit arguments would rank trials of two. The study keeps its
    fit config (less what the sweep chooses) from its first run; a later run must resolve to the same, once a trial
    has finished (until then a corrected command replaces it). Each trial checks its data too: see :class:`Pruning`."""
    stored = study.user_attrs.get("experiment")
    where = f"study {options.study_name!r} in {shown(options.storage)}"
    if not study.get_trials(deepcopy=False, states=FINISHED):
        study.set_user_attr("experiment", experiment)
        study.set_user_attr("fit_args", fit_args)
        study.set_user_attr("data", None)  # the first trial's data, set when it starts training
    elif stored is None:
        raise ValueError(f"{where} holds trials of unknown fit arguments (from an older sweep.py); "
                         "use another --study-name")  # fmt: skip
    elif stored != experiment:
        key = next(k for k in sorted({*stored, *experiment}) if stored.get(k, "unset") != experiment.get(k, "unset"))
        there, here = (json.dumps(side.get(key, "unset")) for side in (stored, experiment))
        its = shlex.join(study.user_attrs.get("fit_args", []))
        raise ValueError(f"{where} was made with other fit arguments ({key}: {there} there, {here} here); give its "
                         f"arguments ({its}) or another --study-name")  # fmt: skip


def shown(storage: str) -> str:
    """The storage URL as the sweep prints it: without its password."""
    with contextlib.suppress(sqlalchemy.exc.ArgumentError, ValueError):
        url = make_url(storage)
        if url.password:
            return url.render_as_string(hide_password=True)
    return storage


def new_sqlite_file(storage: str) -> Path | None:
    """The database file a ``sqlite:///FILE`` storage will create, when it does not exist yet."""
    path = Path(storage.removeprefix("sqlite:///")) if storage.startswith("sqlite:///") else None
    return path if path is not None and not path.exists() else None


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; print the best trial and its config.yaml. User mistakes are one line, exit code 2."""
    # The sweep prints its own line per trial, and a failed trial's error as one line: not Optuna's warning with
    # the trial's whole traceback.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    quiet_known_noise()
    database = objective = None
    try:
        options, fit_args = parse(sys.argv[1:] if argv is None else argv)
        config = fit_config(fit_args)
        space = SearchSpace(config)
        space.refuse_fixed(fit_args)
        database = new_sqlite_file(options.storage)
        objective = Objective(fit_args, options.root, space)
        study = sweep(options, objective, space.experiment(config))
    except Stopped as stop:  # SIGTERM or Ctrl-C during a trial's fit: that trial is rerun on resume
        # Where the trial stopped, without logreg fit's own advice after it (resume that run from last.ckpt): a sweep
        # resumes by rerunning the trial, and two different "resume" commands on one line would leave the user guessing.
        where = str(stop).split("; ", 1)[0]
        print(f"sweep: {where}; run the same command again to resume the sweep", file=sys.stderr)
        return stop.code
    except KeyboardInterrupt:
        print("sweep: interrupted; run the same command again to resume the sweep", file=sys.stderr)
        return 130
    except Exception as err:
        if not is_user_error(err):
            raise
        # A new study whose trials were all refused before they trained (the fit arguments are wrong): leave nothing,
        # its trial directories too (the next study would number its trials from 0 again). A study that holds a
        # finished trial, or that existed before, stays as it is: the refused trial is FAIL in it.
        if database is not None and database.is_file() and objective is not None and not objective.finished:
            database.unlink()
            objective.remove_runs()
        print(f"sweep: error: {one_line(err)}", file=sys.stderr)
        return 2
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        print("sweep: error: no trial completed (all pruned or failed)", file=sys.stderr)
        return 1
    best = study.best_trial
    print(f"\nbest: {describe(best)}")
    print(f"best config: {best.user_attrs['config']}")
    print(f"reproduce:   logreg fit --config {best.user_attrs['config']}")
    print(f"tensorboard: tensorboard --logdir {options.root / 'sweep'}   (HPARAMS tab: hp_metric per trial)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
