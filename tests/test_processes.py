"""Real ``python -m logreg fit`` processes, three started together in one directory: they race for ``version_N``,
one is SIGKILLed (no hook of its own runs) and one is SIGTERMed (as a scheduler stops a job) once each has
checkpointed its first epoch, and the third runs to its end.

The three processes are started once for this module (each start costs seconds of ``import lightning``); each test
checks one thing they show: the race, the killed run's resume, the stopped run's exit status and line.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from conftest import _ENVIRONMENT, call_main, run_dirs

pytestmark = pytest.mark.slow  # three real processes

# Killed: n-feature data, shuffle on, Adam (its state must be restored too): 300 steps per epoch, 2 epochs
KILLED = ("fit", "--data.n_features", "4", "--data.n_samples", "4000", "--data.label_noise", "0.1",
          "--data.batch_size", "8", "--optimizer", "Adam", "--optimizer.lr", "0.01",
          "--trainer.max_epochs", "2")  # fmt: skip
# Stopped: 75 steps per epoch, far more epochs than it gets to run
STOPPED = ("fit", "--data.n_features", "4", "--data.n_samples", "1000", "--data.batch_size", "8",
           "--trainer.max_epochs", "20")  # fmt: skip
PLAIN = ("fit", "--trainer.max_epochs", "1", "--trainer.enable_progress_bar", "false", "--data.test_fraction", "0")


@dataclass
class Started:
    """What the three processes left in ``root``: their run directories, exit statuses and the stopped one's
    stderr, and the epoch of the killed run's last.ckpt at the kill."""

    root: Path
    runs: dict[str, Path]  # "killed", "stopped", "plain"
    returncodes: dict[str, int]
    stopped_stderr: str
    epoch_at_kill: int


def run_of(root: Path, n_samples: str) -> Path | None:
    """The run directory whose config.yaml has ``n_samples`` (each process's data differs), once it exists."""
    for run in run_dirs(root):
        config = run / "config.yaml"
        if config.is_file() and f"n_samples: {n_samples}\n" in config.read_text():
            return run
    return None


def signal_after_first_checkpoint(procs: dict, root: Path, logs: Path) -> dict[str, Path]:
    """SIGKILL the killed process 0.15 s and SIGTERM the stopped one 0.3 s after its epoch-0 last.ckpt appears: into
    the next epoch, so the kill is not on an epoch boundary of the uninterrupted run (on a quiet machine the killed
    run's 300-step epoch took under 0.5 s)."""
    plan = {"killed": ("4000", 0.15, signal.SIGKILL), "stopped": ("1000", 0.3, signal.SIGTERM)}
    runs, due = {}, {}
    deadline = time.monotonic() + 240
    while len(due) < len(plan) or any(due.values()):
        assert time.monotonic() < deadline, f"no checkpoint within 240 s: {runs}, {due}"
        for name, (n_samples, delay, signum) in plan.items():
            if due.get(name, 0) is not None and procs[name].poll() is not None:  # ended before its signal
                pytest.fail(f"{name} exited {procs[name].returncode}\n{(logs / f'{name}.err').read_text()[-2000:]}")
            if name not in runs and (run := run_of(root, n_samples)) is not None:
                runs[name] = run
            if name in runs and name not in due and (runs[name] / "checkpoints" / "last.ckpt").exists():
                due[name] = time.monotonic() + delay
            if due.get(name) is not None and time.monotonic() >= due[name]:
                procs[name].send_signal(signum)
                due[name] = None  # sent
        time.sleep(0.02)
    return runs


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> Started:
    root = tmp_path_factory.mktemp("together")
    logs = tmp_path_factory.mktemp("outputs")  # outside root: the race directory holds only lightning_logs
    env = {key: value for key, value in os.environ.items() if key not in _ENVIRONMENT}
    env["PYTHONWARNINGS"] = "ignore"
    procs = {}
    for name, args in {"killed": KILLED, "stopped": STOPPED, "plain": PLAIN}.items():
        with (logs / f"{name}.out").open("w") as out, (logs / f"{name}.err").open("w") as err:
            procs[name] = subprocess.Popen([sys.executable, "-m", "logreg", *args], cwd=root, env=env, stdout=out,
                                           stderr=err)  # fmt: skip
    try:
        runs = signal_after_first_checkpoint(procs, root, logs)
        for proc in procs.values():
            proc.wait(timeout=300)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    runs["plain"] = run_of(root, "null")  # the built-in grid: n_samples not given
    returncodes = {name: proc.returncode for name, proc in procs.items()}
    assert returncodes["plain"] == 0, (logs / "plain.err").read_text()[-2000:]
    _, _, epoch_at_kill = states(runs["killed"] / "checkpoints" / "last.ckpt")
    return Started(root, runs, returncodes, (logs / "stopped.err").read_text(), epoch_at_kill)


def states(ckpt):
    checkpoint = torch.load(ckpt, weights_only=True)
    return checkpoint["state_dict"], checkpoint["optimizer_states"][0]["state"], checkpoint["epoch"]


def assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_bitwise_equal(a[key], b[key])
        else:
            assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])), key


def test_runs_started_together_each_get_their_own_version(started):
    """Three real processes racing for ``version_N`` in one directory (threads in one process would not race)."""
    runs = run_dirs(started.root)
    assert [r.name for r in runs] == ["version_0", "version_1", "version_2"]
    assert sorted(started.runs.values()) == runs  # one run each
    assert sorted(p.name for p in started.root.iterdir()) == ["lightning_logs"]
    for run in runs:
        assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
        assert len(list(run.glob("events.out.tfevents.*"))) >= 1
    best = {str(next(p for p in (r / "checkpoints").iterdir() if p.name != "last.ckpt")) for r in runs}
    assert len(best) == 3


def test_killed_and_resumed_run_equals_the_uninterrupted_one(started, tmp_path, run_cli):
    """The killed run is a real process (SIGKILL: no hook of its own runs); the uninterrupted run and the resume
    are in-process."""
    assert started.returncodes["killed"] == -signal.SIGKILL
    assert started.epoch_at_kill < 1, "the run finished before it was killed; the test proves nothing"
    run_cli(*KILLED)  # uninterrupted, in tmp_path

    run = started.runs["killed"]
    last = run / "checkpoints" / "last.ckpt"
    call_main("fit", "--config", str(run / "config.yaml"), "--ckpt_path", str(last), cwd=started.root)
    assert run_dirs(started.root) == sorted(started.runs.values())  # resumed into the same run directory

    model_a, optim_a, epoch_a = states(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    model_b, optim_b, epoch_b = states(last)
    assert epoch_a == epoch_b == 1
    assert_bitwise_equal(model_a, model_b)
    assert_bitwise_equal(optim_a, optim_b)


def test_sigterm_stops_fit_with_one_line_exit_143_and_the_resume_command(started):
    """A scheduler's or a container's stop is not success: the real process exits 143 with one line saying where
    and how to resume, from a last.ckpt written at that step (resuming from it: the in-process tests in
    test_resume.py)."""
    stderr = started.stopped_stderr
    assert started.returncodes["stopped"] == 143, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith("logreg: stopped by SIGTERM at epoch ")
    run = started.runs["stopped"].relative_to(started.root)
    last = run / "checkpoints" / "last.ckpt"
    assert line.endswith(f"; resume with: logreg fit --config {run / 'config.yaml'} --ckpt_path {last}")
    step = int(line.split(", step ")[1].split(";")[0].split()[0])
    assert "during validation" in line or torch.load(started.root / last, weights_only=True)["global_step"] == step
