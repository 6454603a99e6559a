"""Shared helpers: the ``logreg`` command run in-process (or, where the process itself is under test, in a
subprocess), a small Trainer, and the run directories a command leaves behind.

torch, Lightning and the CLI are imported where first used, not here: under pytest-xdist the controller process
loads this file only for its hooks, and importing them there cost about 10 s of CPU (and of wall time before the
workers start) on the slow 2-core machine."""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import io
import logging
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import logreg  # (its names load lazily: importing it does not import torch)

if TYPE_CHECKING:
    from lightning.pytorch import Trainer

REPO = Path(__file__).resolve().parents[1]
CONFIGS = Path(logreg.__file__).parent / "configs"  # of the logreg under test (PYTHONPATH may point elsewhere)

# Environment that changes what ``main`` does (LOGREG_DEBUG shows tracebacks) or that ``seed_everything`` leaves
# behind for the next run (Lightning reads PL_GLOBAL_SEED back in its DDP launcher and worker init).
_ENVIRONMENT = ("LOGREG_DEBUG", "PL_GLOBAL_SEED", "PL_SEED_WORKERS")
# Loggers whose handlers Lightning binds to the interpreter's stderr at import time, and loggers whose level
# ``quiet_known_noise`` changes.
_HANDLER_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
_LEVEL_LOGGERS = ("lightning.fabric.utilities.seed", "lightning.pytorch.utilities.rank_zero", *_HANDLER_LOGGERS)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, schedule test files in the order :func:`pytest_collection_modifyitems` leaves them rather
    than by their number of tests (``--loadscope-reorder``, on by default): by that count the few-test files that
    start real processes would come last, where one of them keeps a worker busy while the other has finished.

    One torch thread, here and (through ``OMP_NUM_THREADS``) in the processes the tests start, unless the variable
    is set: the suite runs a file per core, so a second intra-op thread waits for a core the other worker holds. On
    the busy 2-core machine ``binary_cross_entropy_with_logits`` of 8 rows took 4 ms with two threads and 0.1 ms
    with one, and the tutorial's 1,000-step fit 11 s of CPU instead of 4. (Results do not depend on it: the tests'
    processes and the in-process runs they are compared with all run one thread.) torch reads the variable when it
    is imported, which is after this hook unless a plugin imported it first."""
    if hasattr(config.option, "loadscopereorder"):  # the option's dest; absent without pytest-xdist
        config.option.loadscopereorder = False
    os.environ["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS") or "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        atexit.register(end_worker)  # registered before torch's and Lightning's handlers: runs after them


def end_worker() -> None:
    """The end of an xdist worker, once its results are sent and every exit handler registered after pytest's
    configuration has run: exit without the interpreter's teardown of the modules. With torch and Lightning loaded
    that teardown took 2.3 s of CPU (6 s on the loaded 2-core machine), and the controller waits for its workers to
    exit before it ends the run."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with a ``slow`` test first (each file's own order kept): with ``--dist loadfile`` a file is one unit of
    work, and the long ones started first leave the short ones to even out the workers at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)  # a stable sort: each file stays in one piece


def pytest_collection_finish() -> None:
    """What collection imported (torch, Lightning, scikit-learn, ...) lives until the end: moved out of the garbage
    collector's view, its full collections no longer walk it (on 23 rows of test_bad_inputs.py the collector's
    time went from 1.9 to 1.6 CPU-s)."""
    gc.freeze()


@dataclass
class Result:
    """What a finished ``logreg`` command left, with ``subprocess.CompletedProcess``'s names."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def call_main(*args: str, cwd: Path, check: bool = True) -> Result:
    """``logreg ARGS`` in ``cwd``, in this process: ``logreg.cli.main(args)`` with stdout/stderr captured.

    ``main`` ends a user error with ``sys.exit(2)`` and one ``logreg: error: ...`` line on stderr; that exit is
    caught and becomes ``returncode``. Any other exception propagates (a traceback the user would have seen fails
    the test). Lightning's log lines, which its import bound to the real stderr, are captured with stderr;
    Python warnings are ignored, as ``PYTHONWARNINGS=ignore`` did for the subprocesses. The cwd, ``sys.argv``,
    the environment, warning filters and logger levels are restored afterwards, so runs do not leak into each
    other. Fails the test with the output when ``check`` and the command exits non-zero.
    """
    from logreg.cli import main

    importlib.import_module("lightning.pytorch")  # it binds its log handlers to the real stderr: rebound below

    out, err = io.StringIO(), io.StringIO()
    levels = {name: logging.getLogger(name).level for name in _LEVEL_LOGGERS}
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # as the subprocesses ran it (PYTHONWARNINGS=ignore)
        mp.chdir(cwd)
        mp.setattr(sys, "argv", ["logreg"])  # as the console script sees it; the arguments are ``args``
        for name in _ENVIRONMENT:  # unset now, and put back as it was afterwards
            mp.setenv(name, "")
            mp.delenv(name)
        for name in _HANDLER_LOGGERS:
            for handler in logging.getLogger(name).handlers:
                if type(handler) is logging.StreamHandler:  # not a FileHandler
                    mp.setattr(handler, "stream", err)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main(list(args))
                    returncode = 0
                except SystemExit as exit_:  # what the interpreter would make of it
                    code = exit_.code
                    if code is not None and not isinstance(code, int):
                        print(code, file=sys.stderr)
                    returncode = code if isinstance(code, int) else (0 if code is None else 1)
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
    result = Result(list(args), returncode, out.getvalue(), err.getvalue())
    if check and result.returncode != 0:
        pytest.fail(f"logreg {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def run_cli(tmp_path):
    """``run_cli(*args, cwd=tmp_path, check=True)``: :func:`call_main`, in the test's ``tmp_path`` by default."""

    def run(*args: str, cwd: Path | None = None, check: bool = True) -> Result:
        return call_main(*args, cwd=tmp_path if cwd is None else cwd, check=check)

    return run


def run_logreg(
    *args: str, cwd: Path, timeout: float = 300, check: bool = True, script: Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m logreg ARGS`` (or ``python SCRIPT ARGS``) in a subprocess, in ``cwd``: only for tests of the
    process itself (exit code, signals, DDP, concurrent processes). Fails the test with the output when ``check`` and
    it exits non-zero."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for name in _ENVIRONMENT:
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, *(["-m", "logreg"] if script is None else [str(script)]), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"logreg {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def tiny_trainer(tmp_path):
    """``tiny_trainer(**overrides)``: a quiet one-epoch Trainer in ``tmp_path`` with no logger, no checkpoints,
    no progress bar and no model summary; any Trainer argument can be overridden."""

    from lightning.pytorch import Trainer

    def make(**overrides) -> Trainer:
        options = {
            "max_epochs": 1,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": tmp_path,
        }
        return Trainer(**{**options, **overrides})

    return make


def run_dirs(root: Path) -> list[Path]:
    """``root/lightning_logs/version_N`` in the order N (not the string order)."""
    return sorted((root / "lightning_logs").glob("version_*"), key=lambda p: int(p.name.removeprefix("version_")))


@pytest.fixture
def signal_at(monkeypatch):
    """``signal_at(signum, stage, n)``: the process sends itself ``signum`` in its n-th ``stage`` step (1-based),
    as a scheduler or a Ctrl-C would at that moment."""
    from logreg.model.logistic import LogisticRegression

    def arm(signum, stage, n):
        original = getattr(LogisticRegression, f"{stage}_step")
        calls = []

        def step(self, batch, batch_idx):
            calls.append(batch_idx)
            if len(calls) == n:
                os.kill(os.getpid(), signum)
            return original(self, batch, batch_idx)

        monkeypatch.setattr(LogisticRegression, f"{stage}_step", step)

    return arm


@contextlib.contextmanager
def figures_off():
    """Runs inside skip drawing their figures (about a second for a run's dozen). Everything else about the figures
    (the data they are computed from, the PR curves for TensorBoard) still runs; subprocess runs draw them all.
    For module-scoped fixtures' runs, which start before the per-test fixture below."""
    import logreg.report.figures

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(logreg.report.figures, "log_figure", lambda *args, **kwargs: None)
        yield


@pytest.fixture(autouse=True)
def figures_only_where_checked(request):
    """In-process runs skip drawing figures (:func:`figures_off`) unless the test is marked ``figures`` (those
    check the images)."""
    if request.node.get_closest_marker("figures") is None:
        with figures_off():
            yield
    else:
        yield
