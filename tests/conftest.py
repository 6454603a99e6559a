"""Shared helpers: run the real ``logreg`` command in a subprocess, in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "src" / "logreg" / "configs"


def run_logreg(*args: str, cwd: Path, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m logreg ARGS`` in ``cwd``; fails the test with the output when ``check`` and it exits non-zero."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("LOGREG_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "logreg", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"logreg {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_dirs(root: Path) -> list[Path]:
    return sorted((root / "lightning_logs").glob("version_*"))
