#!/usr/bin/env python
"""Side-by-side benchmark of logreg against the tutorial's loop, a plain PyTorch loop and scikit-learn.

Everything is measured in one run on the same data and reported as medians over --repeats runs, with the
ratios the project's targets are stated in (see docs/benchmarks.md). Needs the `bench` extra
(scikit-learn): pip install -e '.[bench]'.

    python scripts/bench.py [--repeats 3] [--rows 1000000] [--features 32] [--sections 1,2,3,4,5,6,7,8]
                            [--mmap-rows 10000000] [--device cuda]
    python scripts/bench.py --device cuda   # the GPU sections 9, 10, 11 (scripts/bench_gpu.py); gpu_check.sh runs it
    python scripts/bench.py --plots     # only the figures: docs/images/scaling.png and throughput.png (minutes)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from torch.utils.data import DataLoader, Dataset, TensorDataset

import bench_figures
import bench_gpu
from logreg import FileDataModule, LogisticRegression, ThresholdDataModule

BATCH = 4096
LR = 0.5
DEVICE = "cpu"  # --device: where the Trainers (and the loops of sections 1 and 6 and the figures) run


def quiet_trainer(**kwargs) -> Trainer:
    """A Trainer without logger, checkpoints, progress bar or summary: training cost only."""
    options = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    accelerator = "gpu" if DEVICE == "cuda" else "cpu"
    return Trainer(accelerator=accelerator, devices=1, num_sanity_val_steps=0, **options, **kwargs)


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return ((model(x) > 0.5).float() == y).float().mean().item()


# -- 1. the tutorial problem ------------------------------------------------------------------------------------


class TutorialData(Dataset):
    def __init__(self):
        self.x = torch.arange(-2, 2, 0.1).view(-1, 1)
        self.y = torch.zeros(self.x.shape[0], 1)
        self.y[self.x[:, 0] > 0.2] = 1

    def __getitem__(self, idx):
        return self.x[idx], self.y[idx]

    def __len__(self):
        return len(self.x)


def tutorial_loop(epochs: int = 50) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(1, 1).to(DEVICE)
    optimizer = torch.optim.SGD(linear.parameters(), lr=2)
    criterion = torch.nn.BCELoss()
    for _ in range(epochs):
        for x, y in DataLoader(TutorialData(), batch_size=2):
            x, y = x.to(DEVICE), y.to(DEVICE)
            loss = criterion(torch.sigmoid(linear(x)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def tutorial_project(epochs: int = 50) -> None:
    seed_everything(0, verbose=False)
    data = ThresholdDataModule(val_fraction=0, test_fraction=0, shuffle=False)
    quiet_trainer(max_epochs=epochs).fit(LogisticRegression(), data)


# -- 2. one million rows ----------------------------------------------------------------------------------------


class BareModule(LightningModule):
    """The same linear model and loss with nothing else: what Lightning's loop itself costs per step."""

    def __init__(self, n_inputs: int):
        super().__init__()
        self.linear = torch.nn.Linear(n_inputs, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.binary_cross_entropy_with_logits(self.linear(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=LR)


def project_fit(data: ThresholdDataModule, epochs: int) -> LogisticRegression:
    seed_everything(0, verbose=False)
    model = LogisticRegression(n_inputs=data.n_features, lr=LR)
    quiet_trainer(max_epochs=epochs, limit_val_batches=0).fit(model, data)
    return model


def bare_fit(data: ThresholdDataModule, epochs: int) -> None:
    seed_everything(0, verbose=False)
    quiet_trainer(max_epochs=epochs, limit_val_batches=0).fit(BareModule(data.n_features), data)


def plain_loop(x: torch.Tensor, y: torch.Tensor, epochs: int) -> torch.nn.Module:
    """The fast plain-PyTorch pattern: one randperm per epoch, one tensor gather per batch."""
    return bench_figures.plain_loop(x, y, epochs, BATCH, LR)


def per_sample_loop(x: torch.Tensor, y: torch.Tensor, batches: int) -> torch.nn.Module:
    """The tutorial's pattern at scale: a per-sample Dataset and the default collate, for ``batches`` steps."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], 1)
    optimizer = torch.optim.SGD(linear.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    for step, (xb, yb) in enumerate(loader):
        if step == batches:
            break
        loss = F.binary_cross_entropy_with_logits(linear(xb), yb)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return torch.nn.Sequential(linear, torch.nn.Sigmoid())


def cli_fit(directory: Path, root: Path) -> float:
    """``logreg fit --config tabular.yaml`` in this process (fit, summary and test, figures and checkpoints as by
    default) on an ``x.npy``/``y.npy`` directory; its test accuracy."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from logreg.cli import main

    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        main(["fit", "--config", "tabular.yaml", "--data.path", str(directory), "--data.val_fraction", "0",
              "--trainer.default_root_dir", str(root)])  # fmt: skip
    found = re.search(r"test_acc\s+([0-9.]+)", out.getvalue())
    return float(found.group(1)) if found else float("nan")


def cli_against_sklearn(data: ThresholdDataModule, repeats: int) -> None:
    """Section 2's rows as a memory-mapped directory: the in-process CLI (parse, fit, summary, test) against
    scikit-learn's StandardScaler and LogisticRegression (C=1, tabular.yaml's recipe) fit and score on the same
    training and test rows (FileDataModule's split with val_fraction 0 is section 2's)."""
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = data.features.numpy(), data.labels.view(-1).numpy().astype(np.int8)
    train, test = data.train_idx.numpy(), data.test_idx.numpy()

    def sklearn_fit_score() -> float:
        model = make_pipeline(StandardScaler(), SkLogisticRegression()).fit(x[train], y[train])
        return float(model.score(x[test], y[test]))

    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        np.save(Path(tmp) / "x.npy", x)
        np.save(Path(tmp) / "y.npy", y)
        times, results = interleaved({"cli": lambda: cli_fit(Path(tmp), Path(tmp) / "runs"),
                                      "sklearn": sklearn_fit_score}, repeats)  # fmt: skip
    ratio = times["cli"] / times["sklearn"]
    print(f"   in-process CLI, {len(x):,} rows from x.npy/y.npy: logreg fit --config tabular.yaml (parse, fit, "
          "summary, test; after a warm-up run)\n   against scikit-learn's StandardScaler + LogisticRegression fit and "
          "score on the same rows")  # fmt: skip
    print(f"   logreg fit (in-process)     {times['cli']:8.3f} s   test acc {results['cli']:.4f}")
    print(f"   sklearn fit + score         {times['sklearn']:8.3f} s   test acc {results['sklearn']:.4f}")
    print(f"   ratio CLI / sklearn         {ratio:8.2f}     (target <= 1.2: {verdict(ratio <= 1.2)})\n")


# -- 3. time to accuracy ----------------------------------------------------------------------------------------


class StopAtAccuracy(Callback):
    """Checks test accuracy every ``every`` steps and stops training once it reaches ``target``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, target: float, every: int = 10):
        self.x, self.y, self.target, self.every = x, y, target, every
        self.reached: float | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if (trainer.global_step % self.every) == 0:
            acc = accuracy(pl_module, self.x, self.y)
            if acc >= self.target:
                self.reached = acc
                trainer.should_stop = True


class LBFGSRecipe(LogisticRegression):
    """The module with what ``logreg fit --optimizer LBFGS --data.batch_size 0`` configures: full-batch L-BFGS
    (strong Wolfe), the split streamed in chunks; ``tol`` also ends L-BFGS's own iterations inside a step."""

    def __init__(self, max_iter: int = 5, **kwargs):
        super().__init__(**kwargs)
        self.max_iter = max_iter

    def configure_optimizers(self):
        return torch.optim.LBFGS(self.parameters(), lr=1, max_iter=self.max_iter, history_size=20,
                                 line_search_fn="strong_wolfe", tolerance_grad=self.hparams.tol,
                                 tolerance_change=0)  # fmt: skip


def project_time_to_accuracy(full: ThresholdDataModule, test: tuple, target: float) -> float | None:
    """The documented recipe: L-BFGS on the streamed full batch (``full``, batch_size 0); stops at ``target`` on the
    ``test`` rows (x, y)."""
    seed_everything(0, verbose=False)
    stop = StopAtAccuracy(*test, target, every=1)
    model = LBFGSRecipe(n_inputs=full.n_features, max_iter=5, tol=1e-4)  # accuracy checked every 5 iterations
    quiet_trainer(max_epochs=50, limit_val_batches=0, callbacks=[stop]).fit(model, full)
    return stop.reached


def project_penalised(full: ThresholdDataModule, l2: float, precision: str) -> LogisticRegression:
    """Full-batch L-BFGS to sklearn's own stopping rule (max |gradient| < 1e-4) with the ridge penalty ``l2``."""
    seed_everything(0, verbose=False)
    model = LBFGSRecipe(n_inputs=full.n_features, max_iter=20, l2=l2, tol=1e-4)
    quiet_trainer(max_epochs=100, limit_val_batches=0, precision=precision).fit(model, full)
    return model


def objective(weight: np.ndarray, bias: float, x: np.ndarray, y: np.ndarray, l2: float) -> float:
    """Mean cross-entropy plus ``l2 / 2 * ||w||^2``, in float64 NumPy: the same yardstick for both fits."""
    z = x.astype(np.float64) @ weight.astype(np.float64) + bias
    return float(np.mean(np.logaddexp(0, z) - y * z) + 0.5 * l2 * float(weight @ weight))


def sklearn_fit(x: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    return SkLogisticRegression(solver="lbfgs", max_iter=1000).fit(x, y)


# -- 4. memory (each case in a fresh process) -------------------------------------------------------------------


def status_kib(field: str) -> int:
    """A field of /proc/self/status, after returning freed heap memory to the OS (memory in use, not cached)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (peak RSS) to the current RSS


def memory_case(case: str, rows: int, features: int, directory: str | None) -> dict:
    warm = ThresholdDataModule()  # import and warm up Lightning before measuring
    quiet_trainer(max_epochs=1).fit(LogisticRegression(), warm)
    reset_peak_rss()
    rss0, anon0 = status_kib("VmRSS"), status_kib("RssAnon")
    if case == "inmemory":
        data = ThresholdDataModule(n_features=features, n_samples=rows, label_noise=0.1, batch_size=BATCH)
        nbytes = data.features.nbytes + data.labels.nbytes
    else:
        data = FileDataModule(directory, batch_size=BATCH)
        nbytes = (Path(directory) / "x.npy").stat().st_size + (Path(directory) / "y.npy").stat().st_size
    quiet_trainer(max_epochs=1, limit_val_batches=0).fit(LogisticRegression(n_inputs=features, lr=LR), data)
    return {
        "bytes": nbytes,
        "peak_growth": (status_kib("VmHWM") - rss0) * 1024,
        "anon_growth": (status_kib("RssAnon") - anon0) * 1024,
    }


def run_memory_case(case: str, rows: int, features: int, directory: str | None = None) -> dict:
    args = [sys.executable, __file__, "--memory-case", case, "--rows", str(rows), "--features", str(features)]
    out = subprocess.run([*args, *(["--dir", directory] if directory else [])], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- 5. a memory-mapped directory, whole processes -------------------------------------------------------------

SKLEARN_SCRIPT = """
import time
start = time.perf_counter()
import sys, numpy as np
from sklearn.linear_model import LogisticRegression
imported = time.perf_counter() - start
directory, split = sys.argv[1], np.load(sys.argv[2])
x, y = np.load(directory + "/x.npy", mmap_mode="r"), np.load(directory + "/y.npy", mmap_mode="r")
model = LogisticRegression(solver="lbfgs", max_iter=1000).fit(x[split["train"]], y[split["train"]])
print(model.score(x[split["test"]], y[split["test"]]), model.n_iter_[0], imported)
"""


def watch(args: list[str], cwd: str) -> dict:
    """Run ``args`` as a process; its wall time, peak RSS (VmHWM) and peak anonymous RSS (polled every 10 ms), and
    its stdout."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    status, peak_anon, peak = Path(f"/proc/{proc.pid}/status"), 0, 0
    while proc.poll() is None:
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
            peak_anon = max(peak_anon, int(fields["RssAnon"].split()[0]) * 1024)
            peak = max(peak, int(fields["VmHWM"].split()[0]) * 1024)
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.01)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}")
    return {"wall": wall, "peak": peak, "peak_anon": peak_anon, "stdout": proc.stdout.read()}


MMAP_CONFIGS = {  # section 5's logreg commands, beside the data arguments; tabular.yaml is the recipe's defaults
    "lbfgs.yaml": ["--config", "lbfgs.yaml", "--data", "FileDataModule", "--data.standardize", "false",
                   "--trainer.precision", "32-true", "--model.tol", "1e-4", "--optimizer.tolerance_grad", "1e-4"],
    "tabular.yaml": ["--config", "tabular.yaml", "--model.tol", "1e-4"],
}  # fmt: skip
PHASES = ["import", "open the data", "statistics", "solver", "summary: the fit's loss and accuracy", "test",
          "coefficient table", "figures, checkpoints", "other"]  # fmt: skip


def write_mmap_data(directory: Path, rows: int, features: int) -> None:
    """``x.npy`` (float32) and ``y.npy`` (int8) of a noisy linear problem, written in blocks of a million rows."""
    directory.mkdir()
    x = np.lib.format.open_memmap(directory / "x.npy", mode="w+", dtype=np.float32, shape=(rows, features))
    y = np.lib.format.open_memmap(directory / "y.npy", mode="w+", dtype=np.int8, shape=(rows,))
    generator = np.random.default_rng(0)
    direction = generator.standard_normal(features)
    for start in range(0, rows, 1_000_000):
        block = generator.standard_normal((min(1_000_000, rows - start), features), dtype=np.float32)
        x[start : start + len(block)] = block
        y[start : start + len(block)] = block @ direction + generator.logistic(size=len(block)) * 0.5 > 0
    x.flush()
    y.flush()


def logreg_run(config: str, directory: Path, cwd: str) -> dict:
    """``logreg fit --config config`` on ``directory`` as a process, under ``bench_phases.py``: its wall time (less
    the bare passes that script makes after the command), peak memory, test accuracy and phases."""
    script = Path(__file__).resolve().parent / "bench_phases.py"
    run = watch([sys.executable, str(script), str(directory), "fit", *MMAP_CONFIGS[config],
                 "--data.path", str(directory)], cwd)  # fmt: skip
    report = json.loads(run["stdout"].strip().splitlines()[-1])
    found = re.search(r"test_acc\s+([0-9.]+)", run["stdout"])
    return {**run, **report, "wall": run["wall"] - (report["after"] - report["command"]),
            "acc": float(found.group(1)) if found else float("nan")}  # fmt: skip


def memory_mapped_fit(rows: int, features: int, repeats: int) -> None:
    """``logreg fit`` (full-batch, streamed, float32) and a scikit-learn script on the same ``x.npy``/``y.npy`` and
    the same split (logreg's: the script loads its training and test indices), each a whole process, in turns; each
    logreg run's phases with their passes against a bare torch pass; and the memory rows cost (the same commands on
    the first 100,000 rows)."""
    from logreg.data.indexed import stratified_split

    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        directory, small = Path(tmp) / "data", Path(tmp) / "small"
        write_mmap_data(directory, rows, features)
        small.mkdir()
        for name in ("x.npy", "y.npy"):
            np.save(small / name, np.load(directory / name, mmap_mode="r")[:100_000])
        y = torch.from_numpy(np.load(directory / "y.npy")).view(-1, 1)
        train, _, test = stratified_split(y, 0.2, 0.2, 0)  # FileDataModule's
        np.savez(Path(tmp) / "split.npz", train=train.numpy(), test=test.numpy())
        del y, train, test
        sklearn_args = [sys.executable, "-c", SKLEARN_SCRIPT, str(directory), str(Path(tmp) / "split.npz")]
        runs: dict[str, list[dict]] = {"sklearn": [], **{config: [] for config in MMAP_CONFIGS}}
        for _ in range(repeats):  # in turns; the files stay in the page cache for all
            runs["sklearn"].append(watch(sklearn_args, tmp))
            for config in MMAP_CONFIGS:
                runs[config].append(logreg_run(config, directory, tmp))
        small_anon = {config: logreg_run(config, small, tmp)["peak_anon"] for config in MMAP_CONFIGS}
    med = {name: {key: statistics.median(run[key] for run in results) for key in ("wall", "peak", "peak_anon")}
           for name, results in runs.items()}  # fmt: skip
    acc_sk, iterations, _ = runs["sklearn"][-1]["stdout"].split()
    gib, mib = 2**30, 2**20
    print(f"5. {rows:,} x {features} memory-mapped x.npy/y.npy ({rows * features * 4 / gib:.2f} GiB), whole processes, "
          f"logreg's split for both, medians of {repeats} in turns")  # fmt: skip
    print(f"   {'':34}{'wall s':>8} {'peak RSS GiB':>13} {'peak anon GiB':>14} {'test acc':>9}")
    m = med["sklearn"]
    label = f"sklearn script (lbfgs, C=1, {iterations} it.)"
    print(f"   {label:<34}{m['wall']:8.2f} {m['peak'] / gib:13.2f} {m['peak_anon'] / gib:14.2f} {float(acc_sk):9.4f}")
    for config in MMAP_CONFIGS:
        m, acc = med[config], runs[config][-1]["acc"]
        print(f"   {'logreg fit --config ' + config:<34}{m['wall']:8.2f} {m['peak'] / gib:13.2f} "
              f"{m['peak_anon'] / gib:14.2f} {acc:9.4f}")  # fmt: skip
    for config in MMAP_CONFIGS:
        print_phases(config, runs[config])
    own = {name: statistics.median(run["wall"] - (float(run["stdout"].split()[2]) if name == "sklearn" else
                                                  run["phases"]["import"][0]) for run in results)
           for name, results in runs.items()}  # fmt: skip
    print(
        f"   less each process's imports (information; the target counts them): sklearn {own['sklearn']:.2f} s, "
        + ", ".join(f"{config} {own[config]:.2f} s ({own[config] / own['sklearn']:.2f}x)" for config in MMAP_CONFIGS)
    )
    for config in MMAP_CONFIGS:
        wall, gap = med[config]["wall"] / med["sklearn"]["wall"], abs(runs[config][-1]["acc"] - float(acc_sk))
        delta = (med[config]["peak_anon"] - small_anon[config]) / mib
        print(f"   {config:<13} wall / sklearn {wall:5.2f} (target <= 1.0: {verdict(wall <= 1.0)}); test accuracy "
              f"{gap * 100:.2f} pt from sklearn's (target <= 0.2: {verdict(gap <= 0.002)}); peak anon minus the "
              f"100,000-row run {delta:.1f} MiB (target <= 64: {verdict(delta <= 64)})")  # fmt: skip
    print()


def print_phases(config: str, runs: list[dict]) -> None:
    """The phases of the run of median wall time, each one's passes and their time against that run's bare pass."""
    run = sorted(runs, key=lambda run: run["wall"])[len(runs) // 2]
    print(f"   phases of logreg fit --config {config}, its run of median wall time (timed in the process; the bare "
          f"pass:\n   every row of x.npy in 64k-row chunks, one thread, {run['bare']:.3f} s, median of 3 after the "
          "command)")  # fmt: skip
    print(f"     {'phase':<38}{'s':>7} {'passes':>7} {'s/pass':>8} {'/ bare':>7}{'peak anon MiB':>16}")
    for phase in PHASES:
        seconds, kinds = run["phases"].get(phase, [0.0, {}])
        anon = run["phase_peak_anon"].get(phase) if phase != "import" else None  # (import: before the sampling)
        count = f"{'':24}" if kinds else f"{0:7d}{'':17}"
        print((f"     {phase:<38}{seconds:7.2f} {count}" + (f"{anon / 2**20:16.0f}" if anon else "")).rstrip())
        for kind, passes in kinds.items():
            per_pass = statistics.median(passes)
            print(f"       {kind + ' passes':<36}{sum(passes):7.2f} {len(passes):7d} {per_pass:8.3f} "
                  f"{per_pass / run['bare']:7.2f}")  # fmt: skip
    print(f"     {'whole process (wall, less the bare passes)':<38}{run['wall']:7.2f}")


# -- 6. end to end (whole processes) -----------------------------------------------------------------------------


TUTORIAL_SCRIPT = Path(__file__).resolve().parent / "tutorial.py"


def end_to_end_commands() -> dict[str, list[str]]:
    """Whole processes as a user starts them: the tutorial's script, ``logreg fit`` with defaults, ``logreg --help``
    and Lightning's own import (the floor of every logreg command but ``convert``)."""
    accelerator = ["--trainer.accelerator", "gpu"] if DEVICE == "cuda" else []
    return {
        "tutorial script": [sys.executable, str(TUTORIAL_SCRIPT)],
        "logreg fit (defaults)": [sys.executable, "-m", "logreg", "fit", *accelerator],
        "logreg --help": [sys.executable, "-m", "logreg", "--help"],
        "import lightning.pytorch": [sys.executable, "-c", "import lightning.pytorch"],
    }


def end_to_end(repeats: int) -> dict[str, bench_figures.ProcessRun]:
    """Median wall time of each command, interleaved (each round runs all of them once), in scratch directories."""
    env = {**bench_figures.child_env(), "MPLBACKEND": "Agg"}  # the tutorial's plt.show() returns at once
    runs: dict[str, list[bench_figures.ProcessRun]] = {}
    with tempfile.TemporaryDirectory(prefix="logreg-e2e-") as tmp:
        for i in range(repeats):
            for j, (name, command) in enumerate(end_to_end_commands().items()):
                cwd = Path(tmp) / f"round{i}-command{j}"
                cwd.mkdir()
                run = bench_figures.run_process(command, cwd, env)
                runs.setdefault(name, []).append(bench_figures.checked(run, name))
    return {name: bench_figures.median_run(found) for name, found in runs.items()}


def print_end_to_end(runs: dict[str, bench_figures.ProcessRun], repeats: int) -> None:
    print(f"6. end to end: whole processes, wall time, medians of {repeats} interleaved")
    for name, run in runs.items():
        print(f"   {name:<28}{run.wall:8.3f} s   CPU {run.cpu:7.3f} s   peak RSS {run.peak_rss / 2**20:6.0f} MiB")
    fit, tutorial = runs["logreg fit (defaults)"], runs["tutorial script"]
    helped, imported = runs["logreg --help"], runs["import lightning.pytorch"]
    ratio, help_over = fit.wall / tutorial.wall, helped.wall - imported.wall
    print(f"   ratio fit / tutorial script {ratio:8.2f}     (target <= 1.7: {verdict(ratio <= 1.7)}; "
          f"in CPU time {fit.cpu / tutorial.cpu:.2f})")  # fmt: skip
    floor = imported.wall / tutorial.wall
    print(f"   Lightning's import alone / tutorial script {floor:.2f} (the floor of any command built on Lightning)")
    print(f"   --help minus the import     {help_over:8.3f} s   (target < 1.5 s: {verdict(help_over < 1.5)}; "
          f"in CPU time {helped.cpu - imported.cpu:.3f} s)\n")  # fmt: skip


def plots(args: argparse.Namespace) -> None:
    """``--plots``: measure, print the tables, then draw docs/images/scaling.png and throughput.png."""
    rows = [int(part) for part in args.scaling_rows.split(",")]
    print(f"scaling: {', '.join(f'{r:,}' for r in rows)} rows x {bench_figures.FEATURES}, memory-mapped x.npy/y.npy, "
          f"whole processes (L-BFGS {args.lbfgs_epochs} epochs, SGD {args.sgd_epochs}), on {DEVICE}")  # fmt: skip
    scaling = bench_figures.measure_scaling(rows, DEVICE, args.lbfgs_epochs, args.sgd_epochs, args.plot_repeats)
    bench_figures.print_scaling(scaling)
    batches = [int(part) for part in args.throughput_batches.split(",")]
    print(f"\nthroughput: {args.rows:,} x {bench_figures.FEATURES} in memory, one epoch per batch size, median of "
          f"{args.plot_repeats}, on {DEVICE}")  # fmt: skip
    throughput = bench_figures.measure_throughput(batches, args.rows, DEVICE, args.plot_repeats)
    bench_figures.print_throughput(throughput)
    bench_figures.IMAGES.mkdir(parents=True, exist_ok=True)
    bench_figures.draw_scaling(scaling, bench_figures.IMAGES / "scaling.png")
    bench_figures.draw_throughput(throughput, args.rows, bench_figures.IMAGES / "throughput.png")
    print(f"\nwrote {bench_figures.IMAGES / 'scaling.png'} and {bench_figures.IMAGES / 'throughput.png'}")


# -- report -----------------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--per-sample-batches", type=int, default=100)
    parser.add_argument("--sections", help="comma-separated, e.g. 2; default 1-8, with --device cuda 9,10,11 (GPU)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where Trainers and loops run")
    parser.add_argument("--plots", action="store_true", help="only draw docs/images/scaling.png and throughput.png")
    parser.add_argument("--scaling-rows", default="1000000,3000000,10000000", help="rows of the scaling figure")
    parser.add_argument("--throughput-batches", default="256,1024,4096,16384,65536", help="batch sizes")
    parser.add_argument("--lbfgs-epochs", type=int, default=3, help="epochs of the scaling figure's L-BFGS runs")
    parser.add_argument("--sgd-epochs", type=int, default=1, help="epochs of the scaling figure's SGD runs")
    parser.add_argument("--plot-repeats", type=int, default=1, help="runs per point below 10M rows (median)")
    parser.add_argument("--mmap-rows", type=int, default=10_000_000, help="rows of section 5's memory-mapped files")
    parser.add_argument("--memory-case", choices=["inmemory", "mmap"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench.py: error: --device cuda: torch finds no CUDA device on this machine")
    global DEVICE
    DEVICE = args.device
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    if args.memory_case:
        print(json.dumps(memory_case(args.memory_case, args.rows, args.features, args.dir)))
        return
    if args.plots:
        plots(args)
        return
    repeats = max(3, args.repeats)
    print(f"logreg benchmark: torch {torch.__version__}, {torch.get_num_threads()} threads, medians of {repeats}, "
          f"on {DEVICE}\n")  # fmt: skip

    chosen = args.sections or ("9,10,11" if DEVICE == "cuda" else "1,2,3,4,5,6,7,8")  # 9-11: scripts/bench_gpu.py
    sections = {int(part) for part in chosen.split(",")}
    if 1 in sections:
        # 1. tutorial problem: 40 points, 50 epochs of 20 batches = 1,000 steps
        t_loop, _ = median_time(tutorial_loop, repeats)
        t_proj, _ = median_time(tutorial_project, repeats)
        print("1. tutorial problem (40 points, 1,000 steps)")
        print(f"   tutorial plain loop         {t_loop:8.3f} s   {t_loop / 1000 * 1e6:7.0f} us/step")
        print(f"   logreg Trainer.fit          {t_proj:8.3f} s   {t_proj / 1000 * 1e6:7.0f} us/step")
        ratio_tutorial = t_proj / t_loop
        verdict_1 = verdict(ratio_tutorial <= 4)
        print(f"   ratio fit / loop            {ratio_tutorial:8.2f}     (target <= 4: {verdict_1})\n")

    if sections & {2, 3}:
        # 2. one million rows
        data = ThresholdDataModule(
            n_features=args.features, n_samples=args.rows, label_noise=0.1, batch_size=BATCH, val_fraction=0
        )
        data.setup("fit")
        x_train, y_train = data.features[data.train_idx], data.labels[data.train_idx]
        x_test, y_test = data.features[data.test_idx], data.labels[data.test_idx]
    if 2 in sections:
        rows_2 = 2 * len(x_train)
        n_ps = args.per_sample_batches
        runs = {"fit": lambda: project_fit(data, 2), "bare": lambda: bare_fit(data, 2),
                "plain": lambda: plain_loop(x_train, y_train, 2),
                "per_sample": lambda: per_sample_loop(x_train, y_train, n_ps)}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in runs}
        results: dict[str, object] = {}
        for _ in range(repeats):  # in turns, so that a busy moment of the machine hits every contender alike
            for name, run in runs.items():
                seconds, results[name] = median_time(run, 1)
                times[name].append(seconds)
        model, plain, per_sample = results["fit"], results["plain"], results["per_sample"]
        t_fit, t_bare, t_plain, t_ps_part = (statistics.median(times[name]) for name in times)
        steps_2 = 2 * -(-len(x_train) // BATCH)
        t_ps = t_ps_part / n_ps * steps_2
        print(f"2. {args.rows:,} x {args.features} rows, label_noise 0.1, batch {BATCH}, 2 epochs ({steps_2} steps)")
        print(f"   {'':28}{'seconds':>9} {'rows/s':>12} {'test acc':>9}")
        for name, seconds, acc in [
            ("logreg Trainer.fit", t_fit, accuracy(model, x_test, y_test)),
            ("bare LightningModule", t_bare, float("nan")),
            ("plain randperm loop", t_plain, accuracy(plain, x_test, y_test)),
            ("per-sample DataLoader (*)", t_ps, accuracy(per_sample, x_test, y_test)),
        ]:
            print(f"   {name:<28}{seconds:9.3f} {rows_2 / seconds:12,.0f} {acc:9.4f}")
        print(f"   (*) {n_ps} batches timed, extrapolated to {steps_2}; its accuracy is after those {n_ps} batches")
        overhead = (t_fit - t_plain) / steps_2 * 1e6
        print(f"   per-step cost over the plain loop: logreg {overhead:.0f} us, of which Lightning's bare loop "
              f"{(t_bare - t_plain) / steps_2 * 1e6:.0f} us")  # fmt: skip
        ratio_plain, ratio_ps = t_fit / t_plain, t_ps / t_fit
        print(f"   ratio fit / plain loop      {ratio_plain:8.2f}     (target <= 1.5: {verdict(ratio_plain <= 1.5)})")
        print(f"   per-sample / fit            {ratio_ps:8.1f}     (target >= 20: {verdict(ratio_ps >= 20)})")
        cli_against_sklearn(data, repeats)

    if 3 in sections:
        # 3. time to accuracy and the penalised objective against scikit-learn's lbfgs, same split, in turns
        x_np, y_np = x_train.numpy(), y_train.view(-1).numpy()
        full = ThresholdDataModule(**{**data.hparams, "batch_size": 0, "shuffle": False})
        n_train, sk_times, reach_times, reached, pen_times = len(x_np), [], [], None, {"32-true": [], "64-true": []}
        for _ in range(repeats):  # interleaved, so that a busy moment of the machine hits every contender alike
            start = time.perf_counter()
            sk = sklearn_fit(x_np, y_np)  # C=1, scikit-learn's default
            sk_times.append(time.perf_counter() - start)
            target = float(sk.score(x_test.numpy(), y_test.view(-1).numpy())) - 0.002
            start = time.perf_counter()
            reached = project_time_to_accuracy(full, (x_test, y_test), target)
            reach_times.append(time.perf_counter() - start)
            penalised = {}
            for precision in pen_times:
                start = time.perf_counter()
                penalised[precision] = project_penalised(full, 1 / n_train, precision)
                pen_times[precision].append(time.perf_counter() - start)
        t_sk, t_reach = statistics.median(sk_times), statistics.median(reach_times)
        acc_sk = float(sk.score(x_test.numpy(), y_test.view(-1).numpy()))
        print("3. full-batch L-BFGS, the split streamed, against scikit-learn's lbfgs on the same training rows")
        print(f"   sklearn lbfgs fit (C=1)     {t_sk:8.3f} s   test acc {acc_sk:.4f}, {int(sk.n_iter_[0])} iterations")
        shown = f"{reached:.4f}" if reached is not None else "not reached in 50 steps"
        print(f"   logreg to {target:.4f}        {t_reach:8.3f} s   test acc {shown}")
        ratio_acc = t_reach / t_sk if reached is not None else float("inf")
        print(f"   ratio logreg / sklearn      {ratio_acc:8.2f}     (target <= 1.0: {verdict(ratio_acc <= 1.0)})")
        l2 = 1 / n_train
        f_sk = objective(sk.coef_[0], float(sk.intercept_[0]), x_np, y_np, l2)
        print(f"   C=1 as --model.l2 {l2:.3g}, each to max |grad| < 1e-4 (sklearn's tol); objective in float64 NumPy: "
              f"sklearn {f_sk:.10f}")  # fmt: skip
        for precision, model in penalised.items():
            weight = model.linear.weight.detach().double().view(-1).numpy()
            f_ours = objective(weight, float(model.linear.bias), x_np, y_np, l2)
            rel, ratio = abs(f_ours - f_sk) / f_sk, statistics.median(pen_times[precision]) / t_sk
            print(f"   logreg precision {precision:<8} {statistics.median(pen_times[precision]):8.3f} s   objective "
                  f"{f_ours:.10f}, relative difference {rel:.1e} (target <= 1e-6: {verdict(rel <= 1e-6)}); "
                  f"time ratio {ratio:.2f} (target <= 1.0: {verdict(ratio <= 1.0)})")  # fmt: skip
        print()

    if 4 in sections:
        # 4. memory, each in a fresh process
        inmem = run_memory_case("inmemory", args.rows, args.features)
        with tempfile.TemporaryDirectory() as tmp:
            generator = torch.Generator().manual_seed(0)
            np.save(Path(tmp) / "x.npy", torch.randn(args.rows, args.features, generator=generator).numpy())
            np.save(Path(tmp) / "y.npy", (torch.rand(args.rows, generator=generator) > 0.5).numpy().astype(np.int8))
            mapped = run_memory_case("mmap", args.rows, args.features, tmp)
        mib = 2**20
        print("4. memory while building the data and training one epoch (fresh process each)")
        print(f"   in-memory: data {inmem['bytes'] / mib:7.1f} MiB, "
              f"peak RSS growth {inmem['peak_growth'] / mib:7.1f} MiB "
              f"= {inmem['peak_growth'] / inmem['bytes']:.2f} x data (target <= 1.5: "
              f"{verdict(inmem['peak_growth'] <= 1.5 * inmem['bytes'])})")  # fmt: skip
        print(f"   memory-mapped: files {mapped['bytes'] / mib:7.1f} MiB, anonymous RSS growth "
              f"{mapped['anon_growth'] / mib:7.1f} MiB = {mapped['anon_growth'] / mapped['bytes']:.2f} x files "
              f"(target < 0.25: {verdict(mapped['anon_growth'] < 0.25 * mapped['bytes'])}); peak RSS growth incl. "
              f"page cache {mapped['peak_growth'] / mib:.1f} MiB")  # fmt: skip

    if 5 in sections:
        memory_mapped_fit(args.mmap_rows, args.features, repeats)

    if 6 in sections:
        print_end_to_end(end_to_end(repeats), repeats)

    if 7 in sections:
        estimator_section(args.rows, args.features, repeats)

    if 8 in sections:
        step_profile(args.rows, args.features)

    if sections & bench_gpu.SECTIONS:
        bench_gpu.run(sections, args, DEVICE)


# -- 7. the scikit-learn estimator against scikit-learn (self-contained: python scripts/bench.py --sections 7) ----


def estimator_section(rows: int, features: int, repeats: int) -> None:
    """``LogisticRegressionClassifier().fit`` against ``sklearn.linear_model.LogisticRegression().fit`` on the same
    NumPy arrays (section 2's data, every row), both with their defaults (tol 1e-4) and both at tol 1e-6,
    interleaved; then the fixed cost of a fit on a small table (:func:`small_table_fits`)."""
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    from logreg import LogisticRegressionClassifier

    data = ThresholdDataModule(n_features=features, n_samples=rows, label_noise=0.1, val_fraction=0, test_fraction=0)
    x, y = data.features.numpy(), data.labels.view(-1).numpy().astype(np.int64)
    fits = {
        "logreg estimator, defaults": lambda: LogisticRegressionClassifier().fit(x, y),
        "sklearn LogisticRegression, defaults": lambda: SkLogisticRegression().fit(x, y),
        "logreg estimator, raw, tol=1e-6": lambda: LogisticRegressionClassifier(standardize=False, tol=1e-6).fit(x, y),
        "sklearn LogisticRegression, tol=1e-6": lambda: SkLogisticRegression(tol=1e-6).fit(x, y),
    }
    median, fitted = interleaved(fits, repeats)
    print(f"7. scikit-learn API: fit on {rows:,} x {features} (every row; section 2's data), interleaved")
    print(f"   {'':40}{'seconds':>9} {'n_iter':>7} {'train acc':>10}")
    for name, model in fitted.items():
        print(f"   {name:<40}{median[name]:9.3f} {int(model.n_iter_[0]):7d} {model.score(x, y):10.4f}")
    ratio = median["logreg estimator, defaults"] / median["sklearn LogisticRegression, defaults"]
    same_tol = median["logreg estimator, raw, tol=1e-6"] / median["sklearn LogisticRegression, tol=1e-6"]
    print(f"   ratio logreg / sklearn, defaults {ratio:8.2f}     (target <= 1.0: {verdict(ratio <= 1.0)})")
    print(f"   ratio at tol 1e-6, raw features  {same_tol:8.2f}")
    small_table_fits(max(30, 10 * repeats))


def small_table_fits(repeats: int) -> None:
    """``fit`` on scikit-learn's breast-cancer table (569 x 30), where a fit's fixed cost (the Trainer, its loop,
    the checkpoint kept in memory) is most of it: the estimator with its defaults (standardised inside) against
    ``make_pipeline(StandardScaler(), LogisticRegression())``, interleaved, medians of ``repeats`` fits each. One
    thread each (torch's and the BLAS's, restored afterwards): on 569 rows a second thread only waits, and on a busy
    machine multithreaded BLAS took 130 ms instead of 5 for scikit-learn's fit."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from logreg import LogisticRegressionClassifier

    x, y = load_breast_cancer(return_X_y=True)
    fits = {
        "logreg estimator, defaults": lambda: LogisticRegressionClassifier().fit(x, y),
        "sklearn StandardScaler + LogisticRegression": lambda: make_pipeline(
            StandardScaler(), SkLogisticRegression()
        ).fit(x, y),
    }
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            median, fitted = interleaved(fits, repeats)
    finally:
        torch.set_num_threads(threads)
    print(f"   breast cancer, {len(y)} x {x.shape[1]}: fit, medians of {repeats}, interleaved, one thread each")
    for name, model in fitted.items():
        n_iter = int((model[-1] if hasattr(model, "steps") else model).n_iter_[0])
        print(f"   {name:<44}{median[name] * 1e3:7.1f} ms {n_iter:4d} iterations, train acc {model.score(x, y):.4f}")
    ratio = median["logreg estimator, defaults"] / median["sklearn StandardScaler + LogisticRegression"]
    print(f"   ratio logreg / sklearn, breast cancer {ratio:6.2f}     (target <= 3.0: {verdict(ratio <= 3.0)})\n")


def interleaved(fits: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each fit over ``repeats`` rounds (after one warm-up round), and each one's fitted model.
    Interleaved: the machine's drift hits every variant alike."""
    times: dict[str, list[float]] = {name: [] for name in fits}
    fitted = {name: fit() for name, fit in fits.items()}
    for _ in range(repeats):
        for name, fit in fits.items():
            start = time.perf_counter()
            fitted[name] = fit()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}, fitted


# -- 8. where a training step's time goes (cProfile of section 2's fit) -------------------------------------------

STEP_PARTS = {  # (file fragment, function): cumulative time of these calls, which do not nest in one another
    "batch: DataLoader fetch and gather": [("logreg/data/indexed.py", "__getitem__")],
    "training_step: forward, loss": [
        ("logreg/model/logistic.py", "logits"),
        ("torch/nn/modules/linear.py", "forward"),
        ("logreg/model/logistic.py", "bce_from_logits"),
    ],
    "training_step: metrics (TrainingTotals update)": [("torchmetrics/metric.py", "wrapped_func")],
    "training_step: finiteness check (loss.item())": [("~", "<method 'item' of 'torch._C.TensorBase' objects>")],
    "backward": [("torch/_tensor.py", "backward")],
    "optimizer: the SGD update itself": [("torch/optim/sgd.py", "sgd")],
}


def step_profile(rows: int, features: int) -> None:
    """cProfile one epoch of section 2's ``Trainer.fit`` and split the time per step into the parts above; the
    rest is Lightning's loop (hooks, the closure, the optimizer wrapper, progress tracking, the profiler scopes)."""
    import cProfile
    import pstats

    data = ThresholdDataModule(n_features=features, n_samples=rows, label_noise=0.1, batch_size=BATCH)
    project_fit(data, 1)  # warm-up
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    project_fit(data, 1)
    profiler.disable()
    total = time.perf_counter() - start
    steps = len(data.train_dataloader())
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, primitive calls, tottime, cumtime, callers)}
    print(f"8. where a step goes: cProfile of one epoch of section 2's fit ({steps} steps of {BATCH} rows)")
    accounted = 0.0
    for part, functions in STEP_PARTS.items():
        seconds = sum(
            value[3]
            for (file, _, name), value in stats.items()
            if any(name == n and (f == "~" or file.endswith(f)) for f, n in functions)
        )
        accounted += seconds
        print(f"   {part:<48}{seconds / steps * 1e6:8.0f} us/step")
    rest = total - accounted
    print(f"   {'Lightning loop and the rest':<48}{rest / steps * 1e6:8.0f} us/step")
    print(f"   {'total (under cProfile)':<48}{total / steps * 1e6:8.0f} us/step\n")


if __name__ == "__main__":
    main()
