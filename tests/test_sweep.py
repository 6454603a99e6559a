"""scripts/sweep.py: Optuna trials as ordinary logreg runs, pruning, the best config, and resuming a killed sweep."""

import logging
import os
import runpy
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
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
    code, out, _ = sweep("--trials", "3", "--pruner-startup-trials", "1", *SHORT)
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
        (("--storage", "sqlite:///missing/sweep.db"), "sweep: error: --storage sqlite:///missing/sweep.db: directory"),
        (("--data.val_fraction", "0"), "sweep: error: the sweep ranks trials by val_loss: keep a validation split"),
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
    from logreg.cli import Stopped

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
