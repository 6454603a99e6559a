#!/usr/bin/env python
"""Time ``logreg convert`` on a large generated CSV and measure its peak memory (target: under 512 MiB for 2 GB).

The CSV (float features with 6 significant digits and a yes/no label) is written in chunks into a temporary
directory, then converted by the real command, ``python -m logreg convert``, in a child process whose peak resident
memory the kernel reports (``getrusage(RUSAGE_CHILDREN)``; the whole process, imports included). Linux only.

    python scripts/bench_convert.py [--rows 10700000] [--features 20] [--dir /big/tmp]

The defaults make a CSV of about 2 GB; it and the converted directory need about 3 GB of disk together.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MIB = 512
POOL_ROWS = 50_000  # distinct rows, drawn at random for each chunk (formatting every value would take minutes)
CHUNK_ROWS = 100_000


def write_csv(path: Path, rows: int, features: int, seed: int = 0) -> None:
    """``rows`` rows of ``features`` normal values and a yes/no label, written in chunks."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(POOL_ROWS, features))
    pool = np.array([",".join(f"{v:.6g}" for v in row) + (",yes\n" if row[0] > 0 else ",no\n") for row in x.tolist()])
    with path.open("w") as handle:
        handle.write(",".join(f"f{j}" for j in range(features)) + ",label\n")
        for start in range(0, rows, CHUNK_ROWS):
            handle.write("".join(pool[rng.integers(0, POOL_ROWS, min(CHUNK_ROWS, rows - start))]))


def convert_in_child(csv: Path, out_dir: Path) -> dict:
    """Run the real ``python -m logreg convert CSV OUT_DIR`` and read its peak RSS from the kernel."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "logreg", "convert", str(csv), str(out_dir)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"convert failed:\n{proc.stderr}")
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024  # KiB on Linux; the only child
    return {"seconds": seconds, "peak_mib": peak_mib, "output": proc.stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_700_000, help="data rows (default: about 2 GB of CSV)")
    parser.add_argument("--features", type=int, default=20, help="feature columns")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the temporary files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_convert.", dir=args.dir) as temp:
        csv = Path(temp) / "data.csv"
        start = time.perf_counter()
        write_csv(csv, args.rows, args.features)
        gigabytes = csv.stat().st_size / 1e9
        print(
            f"wrote {gigabytes:.2f} GB CSV ({args.rows} rows x {args.features}) in {time.perf_counter() - start:.1f} s"
        )
        result = convert_in_child(csv, Path(temp) / "out")
    assert f"{args.rows} rows x {args.features} features" in result["output"], result
    verdict = "meets target" if result["peak_mib"] < TARGET_MIB else "MISSES target"
    print(f"convert {gigabytes:.1f} GB CSV ({args.rows} rows x {args.features}): {result['seconds']:.1f} s, "
          f"peak RSS {result['peak_mib']} MiB (target < {TARGET_MIB} MiB: {verdict})")  # fmt: skip


if __name__ == "__main__":
    main()
