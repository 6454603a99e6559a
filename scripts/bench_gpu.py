"""The GPU sections of ``scripts/bench.py`` (9, 10, 11; the default with ``--device cuda``): what a CUDA device
changes, each printed in absolute times and as a ratio to scikit-learn on the CPU, measured in the same run. The
cheap sections run first, so that a run stopped by a time limit keeps them.

    python scripts/bench.py --device cuda                                    # sections 9, 10 and 11
    python scripts/bench.py --device cpu --sections 9,10,11 --rows 20000 --mmap-rows 20000 --repeats 1  # rehearsal
    python scripts/bench_gpu.py --table DIR --bench-exit N                   # scripts/gpu_check.sh's one table

9. SGD throughput against batch size, in device memory: logreg's ``Trainer.fit`` and a plain loop, against
   scikit-learn's ``SGDClassifier`` (one epoch of averaged per-sample SGD on the CPU).
10. Precision: SGD epochs at 32-true, 16-mixed and bf16-mixed, against ``SGDClassifier`` for as many epochs.
11. Full-batch L-BFGS and Newton on ``--mmap-rows`` x 32 (10M), whole processes: the data in device memory (an
    ``.npz``, read whole) and streamed from a host memory map (an ``x.npy`` directory), against a scikit-learn
    script (lbfgs, C=1) on the same rows. Newton's rows print why they are skipped until its class imports. Fewer
    rounds than --repeats where another would end after ``BENCH_GPU_DEADLINE`` (seconds since the epoch).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import bench_figures

SECTIONS = {9, 10, 11}
TOL = 1e-4  # scikit-learn's default tol: where section 11's fits stop


def run(sections: set[int], args: argparse.Namespace, device: str) -> None:
    """The sections of ``SECTIONS`` named in ``sections``, with bench.py's --rows, --features, --mmap-rows,
    --throughput-batches and --repeats."""
    import torch

    threads = f"{torch.get_num_threads()} CPU threads"
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        print(f"GPU: {props.name}, {props.total_memory / 2**30:.1f} GiB, CUDA {torch.version.cuda}; {threads}\n")
    else:
        print(f"GPU sections on the CPU (a rehearsal: the device's figures mean nothing here); {threads}\n")
    batches = [int(part) for part in args.throughput_batches.split(",")]
    runs = {
        9: lambda: throughput_section(args.rows, batches, device, args.repeats),
        10: lambda: precision_section(args.rows, args.features, device, args.repeats),
        11: lambda: full_batch_section(args.mmap_rows, args.features, device, args.repeats),
    }
    failed = 0
    for number in sorted(sections & runs.keys()):
        try:
            failed += runs[number]() or 0
        except Exception as err:  # one section's failure must not cost the others their figures (one GPU call)
            where, message = traceback.extract_tb(err.__traceback__)[-1], " ".join(str(err).split())[:300]
            print(f"{number}. FAILED\n   section {number}  FAILED: {type(err).__name__}: {message} "
                  f"({Path(where.filename).name}:{where.lineno})\n")  # fmt: skip
            failed += 1
    if failed:
        sys.exit("bench.py: error: a section or a command failed (its row says why)")


def timed(fn: Callable[[], object], device: str) -> tuple[float, object]:
    """Seconds of ``fn()``, the device's queue drained before the clock stops, and its result."""
    import torch

    start = time.perf_counter()
    result = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def median_times(fits: dict[str, Callable[[], object]], device: str, repeats: int) -> tuple[dict, dict]:
    """Median seconds and the last result of each fit, interleaved (one warm-up round first, not timed)."""
    results = {name: fit() for name, fit in fits.items()}
    times: dict[str, list[float]] = {name: [] for name in fits}
    for _ in range(repeats):
        for name, fit in fits.items():
            seconds, results[name] = timed(fit, device)
            times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}, results


def sgd_classifier(epochs: int) -> Callable:
    """scikit-learn's logistic-loss SGD for exactly ``epochs`` passes (tol None: no early stop), averaged: with its
    default step sizes alone it ends 10 points of accuracy short of the optimum on these rows, averaged within 1."""
    from sklearn.linear_model import SGDClassifier

    return lambda x, y: SGDClassifier(loss="log_loss", max_iter=epochs, tol=None, average=True, random_state=0).fit(
        x, y
    )


def held_out_accuracy(model, data) -> float:
    """Accuracy of a fitted LogisticRegression on the data module's test rows, on the CPU."""
    x, y = data.features[data.test_idx], data.labels[data.test_idx]
    return float(((model.cpu().linear(x) > 0).float() == y).float().mean())


# -- 9. SGD throughput against batch size ----------------------------------------------------------------------


def throughput_section(rows: int, batches: list[int], device: str, repeats: int) -> None:
    data = bench_figures.throughput_data(rows)
    x, y = data.features[data.train_idx].numpy(), data.labels[data.train_idx].view(-1).numpy()
    sk_time, _ = median_times({"sklearn": lambda: sgd_classifier(1)(x, y)}, "cpu", repeats)
    results = bench_figures.measure_throughput(batches, rows, device, repeats, data=data)
    n, sk_rate = len(x), len(x) / sk_time["sklearn"]
    print(f"9. SGD throughput: {n:,} training rows x {bench_figures.FEATURES} in {device} memory, one epoch per batch "
          f"size, medians of {repeats}")  # fmt: skip
    bench_figures.print_throughput(results)
    logreg = results["logreg Trainer.fit"]
    print(f"   {'logreg epoch s':<30}" + "".join(f"{n / logreg[b]:11.3f}" for b in batches))
    print(f"   {'logreg / sklearn rows/s':<30}" + "".join(f"{logreg[b] / sk_rate:11.2f}" for b in batches))
    print(f"   sklearn SGDClassifier (log_loss, averaged, one epoch, CPU)  {sk_time['sklearn']:.3f} s, "
          f"{sk_rate:,.0f} rows/s\n")  # fmt: skip


# -- 10. precision -----------------------------------------------------------------------------------------------


def precision_section(rows: int, features: int, device: str, repeats: int, epochs: int = 2) -> None:
    import torch

    data = bench_figures.throughput_data(rows, features)
    x, y = data.features[data.train_idx].numpy(), data.labels[data.train_idx].view(-1).numpy()
    skipped = {"16-mixed": "Lightning runs 16-mixed on CUDA only"} if device != "cuda" else {}
    if device == "cuda" and not torch.cuda.is_bf16_supported():
        skipped["bf16-mixed"] = "this GPU does not support bfloat16"
    fits: dict[str, Callable[[], object]] = {"sklearn SGDClassifier (CPU)": lambda: sgd_classifier(epochs)(x, y)}
    for precision in ("32-true", "16-mixed", "bf16-mixed"):
        if precision not in skipped:
            fits[f"logreg {precision}"] = lambda p=precision: bench_figures.logreg_epoch(
                data, device, epochs=epochs, precision=p
            )
    median, models = median_times(fits, device, repeats)
    sklearn = median["sklearn SGDClassifier (CPU)"]
    x_test, y_test = data.features[data.test_idx].numpy(), data.labels[data.test_idx].view(-1).numpy()
    print(f"10. precision: SGD, batch {data.batch_size}, {epochs} epochs of {len(x):,} x {features} rows in {device} "
          f"memory, medians of {repeats}, interleaved")  # fmt: skip
    print(f"   {'':32}{'seconds':>9} {'per sklearn':>12} {'test acc':>9}")
    for name, model in models.items():
        accuracy = model.score(x_test, y_test) if name.startswith("sklearn") else held_out_accuracy(model, data)
        print(f"   {name:<32}{median[name]:9.3f} {median[name] / sklearn:12.2f} {accuracy:9.4f}")
    for precision, reason in skipped.items():
        print(f"   logreg {precision}  skipped: {reason}")
    print()


# -- 11. full-batch solvers, whole processes -------------------------------------------------------------------


def full_batch_section(rows: int, features: int, device: str, repeats: int) -> int:
    """Each command a whole process as a user runs it, in turns, on one data set written twice: an ``x.npy``
    directory (memory-mapped: streamed from the host) and an ``.npz`` (read whole: in device memory). Returns how
    many commands failed (each printed as a row with its last line of stderr)."""
    import numpy as np

    where = "GPU memory" if device == "cuda" else "memory"
    missing = bench_figures.newton_missing()
    with tempfile.TemporaryDirectory(prefix="logreg-gpu-", dir="/tmp") as tmp:
        npy, npz = Path(tmp) / "npy", Path(tmp) / "data.npz"
        npy.mkdir()
        bench_figures.write_npy_dir(npy, rows, features)
        np.savez(npz, x=np.load(npy / "x.npy", mmap_mode="r"), y=np.load(npy / "y.npy"))
        commands = {"sklearn lbfgs script (CPU)": [sys.executable, "-c", bench_figures.SKLEARN_SCRIPT, str(npy),
                                                   str(bench_figures.TRAIN_FRACTION)]}  # fmt: skip
        for solver, label in (("lbfgs", "L-BFGS"), ("newton", "Newton")):
            if solver == "newton" and missing:
                continue
            commands[f"logreg {label}, in {where} (.npz)"] = bench_figures.solver_command(solver, npz, device, TOL)
            commands[f"logreg {label}, streamed from x.npy"] = bench_figures.solver_command(solver, npy, device, TOL)
        runs: dict[str, list[bench_figures.ProcessRun]] = {name: [] for name in commands}
        failed: dict[str, str] = {}  # a command that failed once is not run again; the others go on
        env, deadline = bench_figures.child_env(), float(os.environ.get("BENCH_GPU_DEADLINE", "inf"))
        for done in range(1, repeats + 1):
            start = time.time()
            for j, (name, command) in enumerate((name, c) for name, c in commands.items() if name not in failed):
                cwd = Path(tmp) / f"run-{done}-{j}"
                cwd.mkdir()
                found = bench_figures.run_process(command, cwd, env)
                if found.returncode == 0:
                    runs[name].append(found)
                else:
                    failed[name] = f"exit {found.returncode}: {(found.stderr.strip().splitlines() or [''])[-1][:200]}"
            if 2 * time.time() - start > deadline:  # another round would end past the deadline
                break
    median = {name: bench_figures.median_run(found) for name, found in runs.items() if name not in failed}
    medians = f"medians of {done}" + (f" (not {repeats}: gpu_check.sh's time limit)" if done < repeats else "")
    gib = 2**30
    sklearn = median["sklearn lbfgs script (CPU)"].wall if "sklearn lbfgs script (CPU)" in median else float("nan")
    print(f"11. full batch on {rows:,} x {features} ({rows * features * 4 / gib:.2f} GiB float32), whole processes, "
          f"{medians}, in turns; each stops at max |grad| < {TOL:g} (sklearn's tol)")  # fmt: skip
    print(f"   {'':42}{'wall s':>8} {'per sklearn':>12} {'peak RSS GiB':>13} {'test acc':>9} {'passes':>7}")
    for name, found in median.items():
        accuracy, passes = fit_figures(found.stdout)
        print(f"   {name:<42}{found.wall:8.2f} {found.wall / sklearn:12.2f} {found.peak_rss / gib:13.2f} "
              f"{accuracy:>9} {passes:>7}")  # fmt: skip
    for name, why in failed.items():
        print(f"   {name}  FAILED: {why}")
    if missing:
        print(f"   logreg Newton rows  skipped: {missing}")
    print(f"   (sklearn: the first {bench_figures.TRAIN_FRACTION:.0%} of the rows, scored on the rest; logreg: its "
          f"split, scored on its test rows)\n")  # fmt: skip
    return len(failed)


def fit_figures(stdout: str) -> tuple[str, str]:
    """Test accuracy and passes over the data as a process printed them ('-' where it printed none)."""
    accuracy = re.search(r"(?:test_acc\s+|accuracy on the other rows )([0-9.]+)", stdout)
    passes = re.search(r"^passes\b\D*(\d+)|(\d+) pass(?:es)? over", stdout, re.MULTILINE)
    return (accuracy.group(1) if accuracy else "-"), (next(filter(None, passes.groups())) if passes else "-")


# -- scripts/gpu_check.sh's table --------------------------------------------------------------------------------


def table(out: Path, bench_exit: int) -> list[tuple[str, str, str]]:
    """(name, result, numbers) rows: each test of ``out/gpu.xml`` (its result; its ``record_property`` numbers, or
    why it was skipped or failed), then each row that ``out/bench.txt`` printed, under its section's number."""
    rows = []
    xml = out / "gpu.xml"
    for case in ET.parse(xml).iter("testcase") if xml.exists() else []:
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        result = "passed" if outcome is None else {"failure": "FAILED", "error": "ERROR"}.get(outcome.tag, "skipped")
        numbers = "; ".join(f"{p.get('name')} {p.get('value')}" for p in case.iter("property"))
        if outcome is not None:  # the reason: a skip's message, a failure's first line
            reason = (outcome.get("message") or "").strip().splitlines()[:1]
            numbers = "; ".join(filter(None, [numbers, *(line[:100] for line in reason)]))
        rows.append((case.get("name"), result, numbers))
    if not xml.exists():
        rows.append(("tests/test_gpu.py", "NOT RUN", "pytest wrote no report (timed out or could not start)"))
    bench = (out / "bench.txt").read_text(errors="replace") if (out / "bench.txt").exists() else ""
    section = columns = ""
    for line in bench.splitlines():
        label, _, numbers = line.strip().partition("  ")
        numbers = " ".join(numbers.split())
        if re.match(r"\d+\. ", line):
            section, columns = line.split()[0], ""
        elif not line.startswith("   "):
            continue
        elif numbers.startswith(("skipped", "FAILED")):
            rows.append((f"bench {section} {label}", numbers.split(":")[0], numbers))
        elif not re.search(r"\d", line):  # a header row: the names of the columns below
            columns = " ".join(line.split())
        elif not numbers:  # a line of text
            rows.append((f"bench {section} note", "note", label))
        else:
            numbers = f"{numbers} ({columns})" if columns and "(" not in numbers else numbers
            rows.append((f"bench {section} {label}", "ran", numbers))
    if bench_exit != 0:
        last = bench.strip().splitlines()[-1:] or [""]
        why = "timed out" if bench_exit == 124 else f"exit {bench_exit}"
        rows.append(("bench.py --device cuda", f"FAILED ({why})", last[0][:100]))
    return rows


def print_table(rows: list[tuple[str, str, str]]) -> None:
    width, result_width = (max(len(row[i]) for row in [("test", "result", ""), *rows]) for i in (0, 1))
    for name, result, numbers in [("test", "result", "numbers"), *rows]:
        print(f"{name:<{width}}  {result:<{result_width}}  {numbers}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="scripts/gpu_check.sh's table (the sections run from bench.py)")
    parser.add_argument("--table", type=Path, required=True, help="the folder with gpu.xml and bench.txt")
    parser.add_argument("--bench-exit", type=int, default=0, help="bench.py's exit code (124: timed out)")
    options = parser.parse_args()
    print_table(table(options.table, options.bench_exit))
