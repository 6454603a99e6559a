"""scripts/sweep.py: Optuna trials as ordinary logreg runs, pruning, the best config, and resuming a killed sweep."""

import importlib.util
import logging
import os
import runpy
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import logreg
from conftest import _LEVEL_LOGGERS, REPO, call_main

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

SCRIPT = REPO / "scripts" / "sweep.py"
STORAGE = "sqlite:///sweep.db"  # relative: in the test's tmp_path
SHORT = ("--trainer.max_epochs", "3", "--data.test_fraction", "0")  # the tutorial's 40 points: 3 epochs of 14 steps


@pytest.fixture
def sweep(tmp_path, monkeypatch, capsys):
    """``sweep(*args)``: the script's ``main(args)`` in this process, in ``tmp_path``; returns (exit code, stdout,
    stderr).

    The warning filters and logger levels it sets for its runs are put back afterwards."""
    main = runpy.run_path(str(SCRIPT))["main"]
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        levels = {name: logging.getLogger(name).level for name in _LEVEL_LOGGERS}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # as call_main runs logreg
                code = main(["--storage", STORAGE, *args])
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def scalars(run):
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [event.value for event in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.slow
def test_three_trials_give_three_runs_one_pruned_and_a_best_config_that_reproduces(tmp_path, sweep):
    # The trials queued, as Optuna's enqueue_trial allows (sampled ones could be pruned or not): a slow one, one with
    # a learning rate too small to move, which the median pruner (started after 1 trial) stops at its first
    # validation, and a fast one with a penalty and balanced class weights, which stays below the first all along.
    study = optuna.create_study(storage=STORAGE, study_name="logreg-sweep")
    study.enqueue_trial({"lr": 0.1, "l2_on": False, "pos_weight": "null"})
    study.enqueue_trial({"lr": 1e-3, "l2_on": False, "pos_weight": "null"})
    study.enqueue_trial({"lr": 2.0, "l2_on": True, "l2": 1e-4, "pos_weight": "balanced"})
    # two epochs: the pruner's stop at epoch 0 is before the last epoch of the two trials it lets run
    code, out, _ = sweep("--trials", "3", "--pruner-startup-trials", "1", "--trainer.max_epochs", "2",
                         "--data.test_fraction", "0")  # fmt: skip
    assert code == 0, out

    study = optuna.load_study(storage=STORAGE, study_name="logreg-sweep")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    runs = sorted((tmp_path / "lightning_logs" / "sweep").iterdir())
    assert [run.name for run in runs] == ["trial_0", "trial_1", "trial_2"]
    assert "pruned after epoch 0" in (runs[1] / "pruned.txt").read_text()
    assert len(scalars(runs[1])["val_loss"]) == 1  # stopped there, with its last checkpoint
    assert (runs[1] / "checkpoints" / "last.ckpt").is_file()
    for run in runs:  # each trial is a TensorBoard run with its entry in the HPARAMS tab
        assert (run / "config.yaml").is_file() and "hp_metric" in scalars(run)
    assert min(scalars(runs[0])["val_loss"]) == pytest.approx(study.trials[0].value, abs=0)

    best = study.best_trial
    config = tmp_path / "lightning_logs" / "sweep" / f"trial_{best.number}" / "config.yaml"
    assert f"best config: {config.relative_to(tmp_path)}" in out
    call_main("fit", "--config", str(config.relative_to(tmp_path)), cwd=tmp_path)
    reproduced = tmp_path / "lightning_logs" / "sweep" / "version_0"
    assert min(scalars(reproduced)["val_loss"]) == best.value  # the same float32, not just close


@pytest.mark.slow
def test_a_killed_sweep_resumes_and_retries_the_trial_it_was_running(tmp_path, sweep):
    """The sweep process is SIGKILLed while its second trial runs; the same command then finishes the study."""
    # The logreg under test, also when PYTHONPATH is relative (the child runs in tmp_path)
    path = os.pathsep.join(filter(None, [str(Path(logreg.__file__).parents[1]), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": path}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--trials", "2", "--storage", STORAGE, *SHORT],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    second = tmp_path / "lightning_logs" / "sweep" / "trial_1"  # made once trial 0 is told complete
    deadline = time.monotonic() + 120
    while not second.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    output = proc.communicate(timeout=30)[0].decode()
    assert second.exists(), output
    killed = optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials
    assert [t.state for t in killed] == [TrialState.COMPLETE, TrialState.RUNNING]

    code, out, _ = sweep("--trials", "2", *SHORT)
    assert code == 0, out
    assert "resuming: trials [1] were running" in out
    trials = optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    assert trials[2].params == killed[1].params  # the killed trial's parameters ran again
    for number in (0, 2):
        assert (tmp_path / "lightning_logs" / "sweep" / f"trial_{number}" / "config.yaml").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model.lr", "1"), "sweep: error: --model.lr: the sweep chooses it; leave it out"),
        (("--data.batch_size", "-1"), "sweep: error: batch_size must be"),
        (("--trials", "0"), "sweep: error: --trials must be at least 1, got 0"),
        (("--trials", "x"), "sweep: error: argument --trials: invalid int value: 'x'"),
        (("--seed", "-1"), "sweep: error: --seed must be in [0, 2**32), got -1"),
        (("--pruner-startup-trials", "-1"), "sweep: error: --pruner-startup-trials must be at least 0, got -1"),
        (("--storage", "sqlite:///missing/sweep.db"), "sweep: error: --storage sqlite:///missing/sweep.db: directory"),
        (("--data.val_fraction", "0"), "sweep: error: the sweep ranks trials by val_loss: keep a validation split"),
        (("--model.C", "1"), "sweep: error: --model.C: the sweep chooses it; leave it out"),
        (("--optimizer", "Adam", "--optimizer.lr", "0.1"), "sweep: error: --optimizer.lr: the sweep chooses it"),
        (("--optimizer", "Adam", "--model.lr", "1"), "sweep: error: --model.lr: the sweep chooses --optimizer.lr"),
        (("--print_config",), "sweep: error: --print_config: the sweep runs trials; each saves its config.yaml"),
        (("--model.nope", "1"), "sweep: error: unrecognized arguments: --model.nope 1"),
    ],
)
def test_bad_arguments_are_one_line_and_leave_no_study(args, message, tmp_path, sweep):
    optuna_records = []  # Optuna logs a failed trial with its traceback through its own (non-propagating) logger
    handler = logging.Handler()
    handler.emit = optuna_records.append
    logging.getLogger("optuna").addHandler(handler)
    try:
        code, _, err = sweep("--trials", "2", *args)
    finally:
        logging.getLogger("optuna").removeHandler(handler)
    err = err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(message), err
    assert [record.getMessage() for record in optuna_records] == []
    assert sorted(tmp_path.iterdir()) == []  # no sweep.db, no run (a trial without validation made one: removed)


def test_a_stopped_trial_says_only_how_to_resume_the_sweep(tmp_path, monkeypatch, capsys):
    """A trial stopped by a signal: the sweep's advice alone, not logreg fit's (resume that run) beside it."""
    from logreg.cli.errors import Stopped

    namespace = runpy.run_path(str(SCRIPT))
    advice = "resume with: logreg fit --config trial_0/config.yaml --ckpt_path trial_0/checkpoints/last.ckpt"

    def stopped_fit(*args, **kwargs):
        raise Stopped(f"stopped by SIGINT at epoch 0, step 3; {advice}", 128 + signal.SIGINT)

    monkeypatch.setitem(namespace["Objective"].__call__.__globals__, "build_cli", stopped_fit)
    monkeypatch.chdir(tmp_path)
    assert namespace["main"](["--storage", STORAGE, "--trials", "1"]) == 130
    assert capsys.readouterr().err == (
        "sweep: stopped by SIGINT at epoch 0, step 3; run the same command again to resume the sweep\n"
    )


ONE_EPOCH = ("--trainer.max_epochs", "1", "--data.test_fraction", "0")
SEARCHED_AT = {  # where each searched parameter lands in a trial's config.yaml (l2_on: l2 is 0 when False)
    "lr": ("model", "lr"),
    "l2": ("model", "l2"),
    "C": ("model", "C"),
    "pos_weight": ("model", "pos_weight"),
}


def trial_config(tmp_path, number):
    return yaml.safe_load((tmp_path / "lightning_logs" / "sweep" / f"trial_{number}" / "config.yaml").read_text())


@pytest.fixture
def table(tmp_path):
    """A 40-row CSV with two features and a noisy label, for the FileDataModule configs (tabular)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = (x[:, 0] + 0.5 * rng.normal(size=40) > 0).astype(int)
    path = tmp_path / "good.csv"
    path.write_text("a,b,label\n" + "".join(f"{a:.6f},{b:.6f},{c}\n" for (a, b), c in zip(x, y, strict=True)))
    return path.name


@pytest.mark.parametrize(
    ("args", "searched", "lr_at"),
    [
        (("--config", "lbfgs"), {"l2_on", "pos_weight"}, None),  # L-BFGS's lr scales its line search's step
        (("--model.loss", "mse"), {"lr", "l2_on"}, ("model", "lr")),  # mse takes no pos_weight
        (("--config", "tabular", "--data.path", "good.csv"), {"C", "pos_weight"}, None),  # C set: C, not l2
    ],
)
def test_every_searched_parameter_reaches_the_run(args, searched, lr_at, tmp_path, sweep, table):
    """Each parameter the trial drew is the value its run's config.yaml trained with; none is drawn in vain."""
    code, out, err = sweep("--trials", "1", *args, *ONE_EPOCH)
    assert code == 0, out + err
    (trial,) = optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials
    assert set(trial.params) - {"l2"} == searched
    config = trial_config(tmp_path, 0)
    for name, value in trial.params.items():
        if name == "l2_on":
            assert (config["model"]["l2"] != 0) == value
            continue
        section, *keys = lr_at if name == "lr" else SEARCHED_AT[name]
        found = config[section]
        for key in keys:
            found = found[key]
        assert found == (None if value == "null" else value), name
    assert ("lr=" in out) == ("lr" in searched)


def test_two_trials_with_another_optimizer_lr_train_differently(tmp_path, sweep):
    """With --optimizer Adam the searched lr is Adam's: two lr give two val_loss (not Adam's own 0.001 twice)."""
    study = optuna.create_study(storage=STORAGE, study_name="logreg-sweep")
    for lr in (0.01, 1.0):
        study.enqueue_trial({"lr": lr, "l2_on": False, "pos_weight": "null"})
    code, out, err = sweep("--trials", "2", "--optimizer", "Adam", *ONE_EPOCH)
    assert code == 0, out + err
    first, second = optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials
    assert first.value != second.value
    assert [trial_config(tmp_path, n)["optimizer"]["init_args"]["lr"] for n in (0, 1)] == [0.01, 1.0]


def test_a_resumed_sweep_draws_new_points_and_refuses_other_fit_arguments_or_data(tmp_path, sweep, table):
    """Resuming draws parameters not tried yet; a fresh study with the same seed draws the same. A resume with other
    fit arguments, or on a data file that changed under the same path, is refused in one line (its "best" would
    compare two experiments): the first before any trial runs, the second before the trial trains."""
    data = ("--data", "FileDataModule", "--data.path", table, *ONE_EPOCH)
    assert sweep("--trials", "1", *data)[0] == 0
    assert sweep("--trials", "2", *data)[0] == 0  # resumed
    first, second = optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials
    assert first.params != second.params

    assert sweep("--trials", "1", "--storage", "sqlite:///fresh.db", *data, "--root", "fresh")[0] == 0
    assert optuna.load_study(storage="sqlite:///fresh.db", study_name="logreg-sweep").trials[0].params == first.params

    code, _, err = sweep("--trials", "3", *data, "--data.split_seed", "1")
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("sweep: error: study 'logreg-sweep' in sqlite:///sweep.db was made with other fit "), err
    assert "data.init_args.split_seed: 0 there, 1 here" in err
    assert len(optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials) == 2

    lines = (tmp_path / table).read_text().splitlines(keepends=True)
    (tmp_path / table).write_text("".join(lines[:-1]))  # the last row gone
    code, _, err = sweep("--trials", "3", *data)
    assert code == 2 and err == (
        "sweep: error: good.csv: not the data of the study's trials (feature_values, label_values, rows, "
        "sha256_first_mib, size differ); use another --study-name\n"
    )
    trials = optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    runs = tmp_path / "lightning_logs" / "sweep"
    assert (runs / "trial_1" / "config.yaml").is_file()
    assert (runs / "trial_2" / "failed.txt").read_text() == err.removeprefix("sweep: error: ")


def test_a_study_that_maximizes_is_refused(tmp_path, sweep):
    optuna.create_study(storage=STORAGE, study_name="logreg-sweep", direction="maximize")
    code, _, err = sweep("--trials", "1", *ONE_EPOCH)
    assert code == 2 and err == (
        "sweep: error: study 'logreg-sweep' in sqlite:///sweep.db maximizes its value; the sweep minimizes val_loss: "
        "use another --study-name\n"
    )
    assert optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sweep.db"]  # kept: the user's


def test_a_study_with_trials_of_unknown_fit_arguments_is_refused(sweep):
    """A study an older sweep.py filled (no fit arguments stored) cannot be told apart from another experiment."""
    study = optuna.create_study(storage=STORAGE, study_name="logreg-sweep")
    lr = optuna.distributions.FloatDistribution(1e-3, 10.0, log=True)
    study.add_trial(optuna.trial.create_trial(params={"lr": 0.1}, distributions={"lr": lr}, value=0.5))
    code, _, err = sweep("--trials", "2", *ONE_EPOCH)
    assert code == 2 and err == (
        "sweep: error: study 'logreg-sweep' in sqlite:///sweep.db holds trials of unknown fit arguments (from an "
        "older sweep.py); use another --study-name\n"
    )
    assert len(optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials) == 1


def test_a_failed_trial_is_recorded_and_removes_nothing(tmp_path, sweep):
    """A trial whose drawn parameters fail in training (an lr beyond float32) is FAIL in the study, with its reason,
    and the next trial runs; a trial refused before it trains (its directory is another study's) stops the sweep in
    one line. Nothing is removed: not the database, not the completed trial, not the failed one, not the other's."""
    study = optuna.create_study(storage=STORAGE, study_name="logreg-sweep")
    study.enqueue_trial({"lr": 1e39, "l2_on": False, "pos_weight": "null"})  # (out of the range: Optuna allows it)
    study.enqueue_trial({"lr": 0.1, "l2_on": False, "pos_weight": "null"})
    runs = tmp_path / "lightning_logs" / "sweep"
    (runs / "trial_2").mkdir(parents=True)
    (runs / "trial_2" / "notes.txt").write_text("someone else's\n")
    code, out, err = sweep("--trials", "3", *ONE_EPOCH)
    assert code == 2 and err == (
        "sweep: error: lightning_logs/sweep/trial_2: exists from another study; choose another --root or --study-name\n"
    )
    trials = optuna.load_study(storage=STORAGE, study_name="logreg-sweep").trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE, TrialState.FAIL]
    assert trials[0].user_attrs["error"].startswith("learning rate became 1e+39 at epoch 0, step 0")
    assert (
        "trial 0   failed             lr=1e+39 l2=0 pos_weight=null  lightning_logs/sweep/trial_0  (learning rate "
        "became 1e+39 at epoch 0" in out
    )
    assert (runs / "trial_0" / "failed.txt").read_text().startswith("learning rate became 1e+39")
    assert (runs / "trial_0" / "summary.txt").is_file()
    assert (runs / "trial_1" / "config.yaml").is_file()
    assert (runs / "trial_2" / "notes.txt").read_text() == "someone else's\n"


def test_a_storage_without_its_driver_is_one_line_naming_it(tmp_path, sweep):
    if any(importlib.util.find_spec(driver) for driver in ("psycopg", "psycopg2")):  # SQLAlchemy 2.1's, 2.0's
        pytest.skip("a PostgreSQL driver is installed: the line would be a refused connection")
    code, _, err = sweep("--trials", "1", "--storage", "postgresql://user:secret@localhost/db")
    assert code == 2 and err == (
        "sweep: error: --storage postgresql://user:***@localhost/db: cannot open (its driver psycopg is not "
        "installed)\n"
    )
    assert sorted(tmp_path.iterdir()) == []
