#!/usr/bin/env python
"""One ``logreg`` command in this process, timed by phase, with its passes over the data and a bare torch pass.

    python scripts/bench_phases.py DIRECTORY logreg-arguments...

Used by ``scripts/bench.py`` section 5. The library has no timing code: this script wraps the functions where each
phase happens, in this process only, and keeps exclusive times (a phase inside another is not counted twice). A
pass is one streamed pass (:meth:`SplitStream.chunks` or ``map``: training, the summary's sums) or one evaluation
loop (:class:`EpochBatches`, validation and test), timed from its first chunk to its last, the work on each included.
After the command, the bare pass: a plain torch loop over the same memory-mapped ``x.npy`` in 64k-row chunks
(``addmv``, softplus, sigmoid, ``mv``, float64 sums), the loss and gradient of every row, median of 3.
The last line of the output is JSON: ``{"phases": {name: [seconds, {kind: [each pass's seconds]}]}, "bare": s,
"command": s, "after": s, "phase_peak_anon": {phase: bytes}}`` (the command's end and the bare passes' end, in seconds
since this script started; the largest anonymous RSS sampled in each phase).
"""

from __future__ import annotations

import functools
import json
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

START = time.perf_counter()
import lightning.pytorch  # noqa: E402,F401  (the import phase: what every logreg command pays first)
import torchmetrics  # noqa: E402,F401

import logreg.cli  # noqa: E402

IMPORTED = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SECONDS: dict[str, float] = defaultdict(float)  # exclusive time by phase
PASSES: dict[str, list[float]] = defaultdict(list)  # each pass's seconds, by the phase it ran in (and its kind)
STACK, STARTS = ["other"], []
PEAK_ANON: dict[str, int] = defaultdict(int)  # the largest anonymous RSS seen in each phase, sampled every 5 ms


def sample_anon() -> None:
    status = Path("/proc/self/status")
    while True:
        for line in status.read_text().splitlines():
            if line.startswith("RssAnon:"):
                phase = STACK[-1] if STACK else "after"
                PEAK_ANON[phase] = max(PEAK_ANON[phase], int(line.split()[1]) * 1024)
        time.sleep(0.005)


MARK = [time.perf_counter()]


def enter(phase: str) -> None:
    now = time.perf_counter()
    SECONDS[STACK[-1]] += now - MARK[0]
    STACK.append(phase)
    MARK[0] = now


def leave() -> None:
    now = time.perf_counter()
    SECONDS[STACK.pop()] += now - MARK[0]
    MARK[0] = now


def timed(owner: object, name: str, phase: str) -> None:
    """Count the time in ``owner.name`` (and not in phases it calls) as ``phase``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        enter(phase)
        try:
            return original(*args, **kwargs)
        finally:
            leave()

    setattr(owner, name, wrapper)


def counted(owner: object, name: str) -> None:
    """Count each full iteration of the generator ``owner.name`` as a pass of the phase it runs in."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        start = time.perf_counter()
        yield from original(self, *args, **kwargs)
        PASSES[STACK[-1] + ": streamed"].append(time.perf_counter() - start)

    setattr(owner, name, wrapper)


def then(owner: object, name: str, action) -> None:
    """Call ``action()`` after each call of ``owner.name``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        action()
        return result

    setattr(owner, name, wrapper)


def instrument() -> None:
    from lightning.pytorch import Trainer

    from logreg.data import indexed
    from logreg.data.files import FileDataModule
    from logreg.model.logistic import LogisticRegression
    from logreg.report import summary
    from logreg.report.figures import TrainingFigures

    timed(FileDataModule, "__init__", "open the data")
    timed(indexed.IndexedDataModule, "make_split", "open the data")
    timed(indexed.IndexedDataModule, "train_moments", "statistics")
    timed(Trainer, "fit", "solver")
    timed(Trainer, "test", "test")
    timed(summary, "model_table", "coefficient table")
    timed(summary, "save_table", "coefficient table")
    for hook in ("on_train_epoch_end", "on_fit_end", "on_test_end"):
        timed(TrainingFigures, hook, "figures, checkpoints")
    timed(Trainer, "save_checkpoint", "figures, checkpoints")
    counted(indexed.SplitStream, "chunks")
    counted(indexed.SplitStream, "map")  # (Newton's passes and the coefficient table's: chunks on several threads)
    for loop in ("validation", "test"):  # an evaluation pass: from its epoch's start to its end
        then(LogisticRegression, f"on_{loop}_epoch_start", lambda: STARTS.append(time.perf_counter()))
        then(LogisticRegression, f"on_{loop}_epoch_end", lambda: PASSES[STACK[-1] + ": evaluation"].append(
            time.perf_counter() - STARTS.pop()))  # fmt: skip
    timed(LogisticRegression, "training_fit", "summary: the fit's loss and accuracy")


def bare_pass(x: np.ndarray, y: np.ndarray, chunk: int = 65536) -> float:
    """Seconds of the loss and gradient of every row of the memory map, in float32 chunks with float64 sums."""
    weight, bias = torch.full((x.shape[1],), 0.01), torch.zeros(1)
    torch.set_num_threads(1)  # (on the busy 2-core machine two threads made 64k-row chunks 25x slower)
    start = time.perf_counter()
    loss, gradient = torch.zeros((), dtype=torch.float64), torch.zeros(x.shape[1], dtype=torch.float64)
    for first in range(0, len(x), chunk):
        rows = torch.from_numpy(x[first : first + chunk])  # a view of the map (copy-on-write: torch wraps it)
        labels = torch.from_numpy(y[first : first + chunk].astype(np.float32))
        logits = torch.addmv(bias, rows, weight)
        loss += (F.softplus(logits) - labels * logits).sum(dtype=torch.float64)
        gradient += torch.mv(rows.T, torch.sigmoid(logits) - labels).double()
    return time.perf_counter() - start


def main() -> None:
    directory, args = Path(sys.argv[1]), sys.argv[2:]
    instrument()
    threading.Thread(target=sample_anon, daemon=True).start()
    MARK[0] = time.perf_counter()
    try:
        logreg.cli.main(args)
    except SystemExit as exit_:
        if exit_.code:
            raise
    leave()  # the time outside every phase: parsing, Lightning's setup and teardown
    command = time.perf_counter() - START
    x, y = np.load(directory / "x.npy", mmap_mode="c"), np.load(directory / "y.npy", mmap_mode="r")
    bare = statistics.median(bare_pass(x, y) for _ in range(3))
    phases = {"import": [IMPORTED - START, {}]}
    for name, seconds in SECONDS.items():
        kinds = {kind: PASSES[f"{name}: {kind}"] for kind in ("streamed", "evaluation") if PASSES[f"{name}: {kind}"]}
        phases[name] = [seconds, kinds]
    print(json.dumps({"phases": phases, "bare": bare, "command": command, "after": time.perf_counter() - START,
                      "phase_peak_anon": dict(PEAK_ANON)}))  # fmt: skip


if __name__ == "__main__":
    main()
