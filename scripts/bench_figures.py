"""The benchmark's figures and whole-process measurements (``scripts/bench.py --plots``, and its end-to-end section).

- ``docs/images/scaling.png``: wall time and peak anonymous memory against rows (1M, 3M, 10M x 32, memory-mapped
  ``x.npy``/``y.npy`` under /tmp, deleted after) for ``logreg fit`` with full-batch L-BFGS (``--config lbfgs.yaml
  --data.batch_size 0``), with the Newton solver (``--config tabular.yaml``, when ``NEWTON`` imports), with SGD, and
  a scikit-learn script that loads the same files; each run is a whole process, as a user runs it.
- ``docs/images/throughput.png``: training rows per second against batch size (256 to 65,536) for logreg's
  ``Trainer.fit`` and a plain PyTorch loop, on 1M x 32 in memory, one epoch each.

Every number a figure is drawn from is printed as a table first.
"""

from __future__ import annotations

import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
FEATURES = 32
TRAIN_FRACTION = 0.6  # FileDataModule's default split: 0.2 validation, 0.2 test
NEWTON = "logreg.model.newton.Newton"  # the streaming Newton solver's optimizer class (issue 27)


@dataclass
class ProcessRun:
    """One whole process: wall seconds, peak RSS (``VmHWM`` sampled every 10 ms, a memory map's pages included), peak
    anonymous RSS (sampled from /proc every 10 ms: memory the process itself allocated), and CPU seconds (user +
    system, all threads: less sensitive than wall time to other jobs on a shared machine)."""

    wall: float
    peak_rss: int
    peak_anon: int
    returncode: int
    stderr: str
    cpu: float = float("nan")
    stdout: str = ""


def run_process(command: Sequence[str], cwd: str | Path, env: dict[str, str] | None = None) -> ProcessRun:
    """Run ``command`` to its end, measuring its wall time and memory; output goes to files (not pipes), kept."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out, stderr=err)
        peaks, done = [0, 0], threading.Event()  # RssAnon, VmHWM
        sampler = threading.Thread(target=_sample_peaks, args=(proc.pid, peaks, done), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        out.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return ProcessRun(wall, peaks[1], peaks[0], proc.returncode, err.read(), cpu, out.read())


def _sample_peaks(pid: int, peaks: list[int], done: threading.Event) -> None:
    """Every 10 ms: the largest anonymous RSS seen, and the process's own peak RSS (``VmHWM``, counted from its
    exec; the rusage ``ru_maxrss`` of a child instead starts from the size of the process it was forked from)."""
    while not done.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peaks[0] = max(peaks[0], int(line.split()[1]) * 1024)
                elif line.startswith("VmHWM:"):
                    peaks[1] = max(peaks[1], int(line.split()[1]) * 1024)
        except (OSError, ValueError):  # the process has ended (a zombie has no RssAnon line)
            pass
        done.wait(0.01)


def child_env() -> dict[str, str]:
    """The environment of a measured process: this checkout's ``src`` first on the path (the process runs in a
    scratch directory, where a relative ``PYTHONPATH=src`` would find another logreg), warnings off."""
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"}


def checked(run: ProcessRun, what: str) -> ProcessRun:
    if run.returncode != 0:
        raise RuntimeError(f"{what} failed with exit code {run.returncode}:\n{run.stderr[-3000:]}")
    return run


# -- scaling: whole processes on memory-mapped files ------------------------------------------------------------


def write_npy_dir(directory: Path, rows: int, features: int = FEATURES, chunk: int = 1_000_000) -> None:
    """``x.npy`` (rows, features) float32 and ``y.npy`` (rows,) int8, drawn from a logistic model in chunks (the
    harness never holds the data). Weights fixed by the seed; about 10% of the labels disagree with the sign."""
    rng = np.random.default_rng(0)
    weight = rng.normal(size=features).astype(np.float32)
    x = np.lib.format.open_memmap(directory / "x.npy", mode="w+", dtype=np.float32, shape=(rows, features))
    y = np.lib.format.open_memmap(directory / "y.npy", mode="w+", dtype=np.int8, shape=(rows,))
    for start in range(0, rows, chunk):
        block = rng.standard_normal((min(chunk, rows - start), features), dtype=np.float32)
        logits = 2 * block @ weight / np.sqrt(features)
        x[start : start + len(block)] = block
        y[start : start + len(block)] = rng.random(len(block)) < 1 / (1 + np.exp(-logits))
    x.flush()
    y.flush()
    del x, y


SKLEARN_SCRIPT = """
import sys, numpy as np
from sklearn.linear_model import LogisticRegression
x, y = np.load(sys.argv[1] + "/x.npy"), np.load(sys.argv[1] + "/y.npy")
n = int(len(x) * float(sys.argv[2]))  # as many training rows as logreg's split
model = LogisticRegression(solver="lbfgs", max_iter=100).fit(x[:n], y[:n])
print(f"accuracy on the other rows {model.score(x[n:], y[n:]):.4f}")
"""


def newton_missing() -> str | None:
    """None when ``NEWTON`` imports; else why not, printed in place of its rows (the solver is issue 27's)."""
    module, _, name = NEWTON.rpartition(".")
    try:
        getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        return f"{NEWTON} does not import ({type(err).__name__}: {err})"
    return None


def accelerator(device: str) -> list[str]:
    return ["--trainer.accelerator", "gpu" if device == "cuda" else "cpu"]


def solver_command(solver: str, path: Path, device: str, tol: float | None = None) -> list[str]:
    """``logreg fit`` with a full-batch solver's documented recipe on the data at ``path``: an ``x.npy`` directory is
    memory-mapped and streamed, an ``.npz`` is read into memory (and copied to a GPU with room for it). ``lbfgs`` is
    ``--config lbfgs.yaml``, ``newton`` is ``--config tabular.yaml`` with the Newton optimizer named; ``tol`` stops
    either at that max |gradient| (L-BFGS's inner iterations too)."""
    recipes = {"lbfgs": ["--config", "lbfgs.yaml"], "newton": ["--config", "tabular.yaml", "--optimizer", NEWTON]}
    stop = [] if tol is None else ["--model.tol", str(tol)]
    if tol is not None and solver == "lbfgs":
        stop += ["--optimizer.tolerance_grad", str(tol)]
    data = ["--data", "FileDataModule", "--data.path", str(path), "--data.batch_size", "0", "--data.shuffle", "false"]
    return [sys.executable, "-m", "logreg", "fit", *recipes[solver], *data, *stop, *accelerator(device)]


def scaling_commands(directory: Path, device: str, lbfgs_epochs: int, sgd_epochs: int) -> dict[str, list[str]]:
    """The whole-process runs of one data directory, as a user would type them (Newton's only when it imports)."""
    sgd = [sys.executable, "-m", "logreg", "fit", "--data", "FileDataModule", "--data.path", str(directory),
           "--data.batch_size", "4096", "--model.lr", "0.5", *accelerator(device)]  # fmt: skip
    lbfgs = [*solver_command("lbfgs", directory, device), "--trainer.max_epochs", str(lbfgs_epochs)]
    commands = {
        "logreg L-BFGS (full batch)": lbfgs,
        "logreg Newton (to tol 1e-4)": solver_command("newton", directory, device, tol=1e-4),
        "logreg SGD (batch 4096)": [*sgd, "--trainer.max_epochs", str(sgd_epochs)],
        "sklearn lbfgs script": [sys.executable, "-c", SKLEARN_SCRIPT, str(directory), str(TRAIN_FRACTION)],
    }
    if newton_missing():
        del commands["logreg Newton (to tol 1e-4)"]
    return commands


def measure_scaling(
    rows_list: Sequence[int], device: str, lbfgs_epochs: int, sgd_epochs: int, repeats_below_10m: int
) -> dict[str, dict[int, ProcessRun]]:
    """Each method at each size, whole processes in a scratch directory; medians of ``repeats_below_10m`` runs
    below 10M rows, one run at 10M and above (minutes each on a small machine)."""
    if reason := newton_missing():
        print(f"   (no Newton line: {reason})")
    results: dict[str, dict[int, ProcessRun]] = {}
    env = child_env()
    for rows in rows_list:
        with tempfile.TemporaryDirectory(prefix="logreg-scaling-", dir="/tmp") as tmp:
            data = Path(tmp) / "data"
            data.mkdir()
            write_npy_dir(data, rows)
            repeats = 1 if rows >= 10_000_000 else repeats_below_10m
            for method, (name, command) in enumerate(scaling_commands(data, device, lbfgs_epochs, sgd_epochs).items()):
                runs = []
                for i in range(repeats):
                    cwd = Path(tmp) / f"run-{method}-{i}"  # lightning_logs go here and are deleted with the data
                    cwd.mkdir()
                    runs.append(checked(run_process(command, cwd, env), f"{name} on {rows:,} rows"))
                results.setdefault(name, {})[rows] = median_run(runs)
    return results


def median_run(runs: list[ProcessRun]) -> ProcessRun:
    """The run with the median wall time (its memory with it)."""
    return sorted(runs, key=lambda run: run.wall)[len(runs) // 2]


def print_scaling(results: dict[str, dict[int, ProcessRun]]) -> None:
    rows_list = sorted({rows for runs in results.values() for rows in runs})
    mib = 2**20
    print(f"   {'':28}" + "".join(f"{f'{rows:,} rows':>30}" for rows in rows_list))
    print(f"   {'':28}" + "".join(f"{'wall s':>10}{'anon MiB':>10}{'RSS MiB':>10}" for _ in rows_list))
    for name, runs in results.items():
        cells = "".join(f"{runs[r].wall:10.1f}{runs[r].peak_anon / mib:10.0f}{runs[r].peak_rss / mib:10.0f}"
                        for r in rows_list)  # fmt: skip
        print(f"   {name:<28}{cells}")
    print("   (anon: peak anonymous RSS, sampled every 10 ms; RSS: peak RSS incl. the memory map's page cache)")


def draw_scaling(results: dict[str, dict[int, ProcessRun]], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100)
    wall, memory = fig.subplots(1, 2)
    for name, runs in results.items():
        rows = sorted(runs)
        wall.plot(rows, [runs[r].wall for r in rows], marker="o", label=name)
        memory.plot(rows, [runs[r].peak_anon / 2**20 for r in rows], marker="o", label=name)
    wall.set(xlabel="rows (x 32 features, memory-mapped)", ylabel="wall time of the process (s)",
             title="time, whole process")  # fmt: skip
    memory.set(xlabel="rows (x 32 features, memory-mapped)", ylabel="peak anonymous RSS (MiB)",
               title="memory, whole process")  # fmt: skip
    rows = sorted({r for runs in results.values() for r in runs})
    for ax in (wall, memory):
        log_axes(ax, rows, [f"{r / 1e6:g}M" for r in rows])
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    FigureCanvasAgg(fig).print_png(str(path))


def log_axes(ax, xticks: Sequence[float], xlabels: Sequence[str]) -> None:
    """Log scales, ticks at the measured x values, plain numbers (not powers of ten) on the y axis."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(list(xticks), list(xlabels))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: plain_number(value)))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: plain_number(value) if f"{value:e}"[0] in "25" else ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def plain_number(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


# -- throughput: rows per second against batch size, in-process, in memory ---------------------------------------


def plain_loop(x, y, epochs: int = 1, batch: int = 4096, lr: float = 0.5):
    """The fast plain-PyTorch pattern on x's device: one seeded randperm per epoch, one gather per batch. Returns
    the model (``Linear`` then ``Sigmoid``); bench.py's section 2 and the throughput figure both time it."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], 1).to(x.device)
    optimizer = torch.optim.SGD(linear.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        for i in range(0, len(x), batch):
            idx = perm[i : i + batch]
            loss = F.binary_cross_entropy_with_logits(linear(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return torch.nn.Sequential(linear, torch.nn.Sigmoid())


def with_batch_size(data, batch: int):
    """A copy of the ThresholdDataModule ``data`` at another batch size, its rows built (not part of any timing)."""
    from logreg import ThresholdDataModule

    module = ThresholdDataModule(**{**data.hparams, "batch_size": batch})
    module.setup("fit")
    return module


def logreg_epoch(module, device: str, lr: float = 0.5, epochs: int = 1, precision: str = "32-true"):
    """``epochs`` (one) of logreg's ``Trainer.fit`` on a built data module (no logger, checkpoints or validation:
    training cost only; the data's generation is not timed, as the plain loop's is not). Returns the model."""
    from lightning.pytorch import Trainer, seed_everything

    from logreg import LogisticRegression

    seed_everything(0, verbose=False)
    trainer = Trainer(accelerator="gpu" if device == "cuda" else "cpu", devices=1, max_epochs=epochs, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, limit_val_batches=0, precision=precision)  # fmt: skip
    model = LogisticRegression(n_inputs=module.n_features, lr=lr)
    trainer.fit(model, module)
    return model


def throughput_data(rows: int, features: int = FEATURES):
    """The in-memory rows of the throughput figure (and bench.py's GPU sections): built, split, no validation."""
    from logreg import ThresholdDataModule

    data = ThresholdDataModule(n_features=features, n_samples=rows, label_noise=0.1, batch_size=4096, val_fraction=0)
    data.setup("fit")
    return data


def measure_throughput(
    batches: Sequence[int], rows: int, device: str, repeats: int, data=None
) -> dict[str, dict[int, float]]:
    """Training rows per second for each batch size (median of ``repeats`` epochs), on ``data`` if given (built by
    :func:`throughput_data`), else on ``rows`` new rows."""
    from logreg import ThresholdDataModule

    data = data if data is not None else throughput_data(rows)
    x, y = data.features[data.train_idx].to(device), data.labels[data.train_idx].to(device)
    n = len(data.train_idx)

    def rate(fn) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return n / statistics.median(times)

    warm = ThresholdDataModule(**{**data.hparams, "n_samples": 1000})
    logreg_epoch(with_batch_size(warm, 256), device)  # the first fit of a process pays Lightning's one-time set-up
    results: dict[str, dict[int, float]] = {"logreg Trainer.fit": {}, "plain PyTorch loop": {}}
    for batch in batches:  # interleaved: both at one batch size before the next
        module = with_batch_size(data, batch)
        results["logreg Trainer.fit"][batch] = rate(lambda m=module: logreg_epoch(m, device))
        results["plain PyTorch loop"][batch] = rate(lambda b=batch: plain_loop(x, y, 1, b))
    return results


def print_throughput(results: dict[str, dict[int, float]]) -> None:
    batches = sorted(next(iter(results.values())))
    print(f"   {'batch size':<30}" + "".join(f"{b:>11,}" for b in batches))
    for name, rates in results.items():
        print(f"   {name + ' rows/s':<30}" + "".join(f"{rates[b]:11,.0f}" for b in batches))
    first, second = results.values()
    print(f"   {'ratio loop / logreg':<30}" + "".join(f"{second[b] / first[b]:11.2f}" for b in batches))


def draw_throughput(results: dict[str, dict[int, float]], rows: int, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), dpi=100)
    ax = fig.subplots()
    for name, rates in results.items():
        batches = sorted(rates)
        ax.plot(batches, [rates[b] for b in batches], marker="o", label=name)
    batches = sorted({b for rates in results.values() for b in rates})
    log_axes(ax, batches, [f"{b:,}" for b in batches])
    ax.set(xlabel="batch size", ylabel="training rows / s", title=f"SGD throughput, {rows:,} x {FEATURES} in memory")
    fig.subplots_adjust(left=0.19, right=0.97, bottom=0.13, top=0.9)
    FigureCanvasAgg(fig).print_png(str(path))
