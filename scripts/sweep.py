#!/usr/bin/env python
"""Optuna sweep over lr, l2 and pos_weight: each trial an ordinary `logreg fit`, compared in TensorBoard's HPARAMS tab.

    python scripts/sweep.py --trials 20 [--storage sqlite:///sweep.db] [--study-name logreg-sweep]
                            [--root lightning_logs] [LOGREG FIT ARGUMENTS ...]

Every other argument goes to `logreg fit` (data flags, --config, --trainer.max_epochs, ...). Trial K logs into
ROOT/sweep/trial_K/ with its config.yaml, checkpoints and `hp_metric`; the study (parameters, values, states) lives
in the --storage database. The search space:

- `lr`: log-uniform in [1e-3, 10];
- `l2`: 0 or log-uniform in [1e-6, 1] (a categorical `l2_on` chooses, so that an unpenalised fit stays possible);
- `pos_weight`: null or balanced.

Trials are ranked by their best validation loss (the value of their best checkpoint), and Optuna's median pruner stops
a trial whose validation loss after an epoch is worse than the median of the finished trials at that epoch; a pruned
trial's directory stays, with `pruned.txt` saying when and why. `--trials N` counts finished trials (complete or
pruned) in the study: run the same command again after an interruption and the sweep goes on to N. Trials that were
running when the sweep was killed are marked failed and their parameters queued again. (One sweep process per study at
a time: a second one would take the first one's running trial for a killed one.)

At the end it prints the best trial's config.yaml; `logreg fit --config THAT` reproduces its val_loss exactly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import optuna
import sqlalchemy.exc
import yaml
from lightning.pytorch import Callback, LightningModule, Trainer
from optuna.trial import FrozenTrial, Trial, TrialState

from logreg.cli import Stopped, is_user_error, one_line
from logreg.lightning_cli import LogRegCLI, build_cli, quiet_known_noise

SWEPT = ("--model.lr", "--model.l2", "--model.pos_weight")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
NO_VALIDATION = "the sweep ranks trials by val_loss: keep a validation split (--data.val_fraction > 0)"


class OneLineParser(argparse.ArgumentParser):
    """argparse, whose mistakes end as the sweep's one ``sweep: error: ...`` line instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The sweep's own options, and the rest for `logreg fit` (which may not set what the sweep chooses)."""
    parser = OneLineParser(prog="sweep.py", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--trials", type=int, required=True, help="finished trials the study should hold")
    parser.add_argument("--storage", default="sqlite:///sweep.db", help="Optuna storage URL (default: %(default)s)")
    parser.add_argument("--study-name", default="logreg-sweep", help="study in that storage (default: %(default)s)")
    parser.add_argument("--root", type=Path, default=Path("lightning_logs"), help="log root; runs go to ROOT/sweep/")
    parser.add_argument("--seed", type=int, default=0, help="seed of Optuna's sampler (default: %(default)s)")
    parser.add_argument("--pruner-startup-trials", type=int, default=5,
                        help="complete trials before pruning starts (default: %(default)s)")  # fmt: skip
    options, fit_args = parser.parse_known_args(argv)
    if options.trials < 1:
        parser.error(f"--trials must be at least 1, got {options.trials}")
    for word in fit_args:
        if word.split("=", 1)[0] in SWEPT:
            raise ValueError(f"{word.split('=', 1)[0]}: the sweep chooses it; leave it out")
    if fit_args[:1] == ["fit"]:
        fit_args = fit_args[1:]
    return options, fit_args


def suggest(trial: Trial) -> dict[str, str]:
    """The trial's `logreg fit` flags for lr, l2 and pos_weight."""
    lr = trial.suggest_float("lr", 1e-3, 10.0, log=True)
    l2 = trial.suggest_float("l2", 1e-6, 1.0, log=True) if trial.suggest_categorical("l2_on", [False, True]) else 0.0
    pos_weight = trial.suggest_categorical("pos_weight", ["null", "balanced"])
    return {"--model.lr": repr(lr), "--model.l2": repr(l2), "--model.pos_weight": pos_weight}


class Pruning(Callback):
    """Reports each epoch's val_loss to the trial and, when Optuna's pruner says so, stops the fit as early stopping
    would (``trainer.should_stop``), so that the pruned run still ends normally: its last checkpoint, its summary
    and its ``hp_metric`` in the HPARAMS tab. (optuna-integration's ``PyTorchLightningPruningCallback`` raises
    ``TrialPruned`` inside the fit instead, which aborts the run before the callbacks after it have logged.)"""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.pruned_at: int | None = None  # the epoch after which the pruner stopped the fit

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Refuse a run without validation before it trains, not after: the sweep ranks trials by val_loss."""
        if not any(cb.monitor == "val_loss" for cb in trainer.checkpoint_callbacks):
            raise ValueError(NO_VALIDATION)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or "val_loss" not in trainer.callback_metrics:
            return
        self.trial.report(float(trainer.callback_metrics["val_loss"]), step=trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True


class Objective:
    """One trial: `logreg fit` in this process under ROOT/sweep/trial_K, pruned by validation loss."""

    def __init__(self, fit_args: list[str], root: Path) -> None:
        self.fit_args, self.root = fit_args, root
        self.runs: list[Path] = []  # the trial directories this process made (none existed before)
        self.new_parents = [d for d in (root / "sweep", root) if not d.exists()]  # made by the first trial, if any

    def __call__(self, trial: Trial) -> float:
        run = self.root / "sweep" / f"trial_{trial.number}"
        if run.exists():
            raise ValueError(f"{run}: exists from another study; choose another --root or --study-name")
        flags = [word for pair in suggest(trial).items() for word in pair]
        logger = ["--trainer.logger.init_args.save_dir", str(self.root), "--trainer.logger.init_args.name", "sweep",
                  "--trainer.logger.init_args.version", run.name, "--trainer.enable_progress_bar", "false"]  # fmt: skip
        trial.set_user_attr("run", str(run))
        self.runs.append(run)
        pruning = Pruning(trial)
        summary = io.StringIO()  # the fit's summary and warnings go to RUN/summary.txt; the sweep prints one line
        try:
            with contextlib.redirect_stdout(summary), contextlib.redirect_stderr(summary):
                cli = build_cli(["fit", *self.fit_args, *flags, *logger], callbacks=[pruning])
        finally:
            if run.is_dir():
                (run / "summary.txt").write_text(summary.getvalue())
        value = self.finish(trial, cli, run)
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
    params = trial.params
    l2 = f"{params['l2']:.3g}" if params.get("l2_on") else "0"
    if trial.state == TrialState.COMPLETE and trial.value is not None:
        value = f"val_loss {trial.value:.6f}"
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        value = f"pruned (epoch {max(trial.intermediate_values)})"
    else:
        value = trial.state.name.lower()
    return (f"trial {trial.number:<3} {value:<17}  lr={params.get('lr', float('nan')):.3g} l2={l2} "
            f"pos_weight={params.get('pos_weight')}  {trial.user_attrs.get('run', '')}")  # fmt: skip


def sweep(options: argparse.Namespace, objective: Objective) -> optuna.Study:
    """Create or resume the study and run trials of ``objective`` until it holds ``options.trials`` finished ones."""
    study = open_study(options)
    retried = requeue_killed_trials(study)
    if retried:
        print(f"resuming: trials {retried} were running when the sweep stopped; their parameters run again")
    done = len(study.get_trials(deepcopy=False, states=FINISHED))

    def report(study: optuna.Study, trial: FrozenTrial) -> None:
        print(describe(trial), flush=True)

    if done < options.trials:
        study.optimize(objective, n_trials=options.trials - done, callbacks=[report])
    return study


def open_study(options: argparse.Namespace) -> optuna.Study:
    """The study in ``--storage``, created or loaded; a storage that cannot be opened is one line naming it."""
    database = new_sqlite_file(options.storage)
    if database is not None and not database.parent.is_dir():
        raise FileNotFoundError(f"--storage {options.storage}: directory {database.parent} does not exist")
    try:
        return optuna.create_study(
            storage=options.storage,
            study_name=options.study_name,
            load_if_exists=True,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=options.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=options.pruner_startup_trials),
        )
    except sqlalchemy.exc.SQLAlchemyError as err:  # a URL or a database file that SQLAlchemy cannot open
        reason = str(getattr(err, "orig", None) or err).splitlines()[0]
        raise ValueError(f"--storage {options.storage}: cannot open ({reason})") from None


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
        database = new_sqlite_file(options.storage)
        objective = Objective(fit_args, options.root)
        study = sweep(options, objective)
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
        if database is not None and database.is_file():  # a first trial refused its arguments: leave nothing
            database.unlink()  # (its trial directories too: the next study would number its trials from 0 again)
            if objective is not None:
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
