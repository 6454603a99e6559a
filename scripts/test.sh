#!/usr/bin/env bash
# The test command (also what CI runs): set up .venv, lint, then the whole pytest suite. Arguments go to pytest.
# One worker per core, a test file per worker at a time (-n auto --dist loadfile): on 2 cores the suite took
# 138 s (pytest's own count) on the idle machine, slow process tests scheduled first (conftest.py).
# The export and tune extras are installed too: their tests (ONNX parity, the Optuna sweep) run in CI; docs builds the
# documentation site strictly (a broken link, anchor or API reference fails), into a temporary directory.
export LOGREG_EXTRAS="${LOGREG_EXTRAS:-export,tune,docs}"
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ruff check .
site="$(mktemp -d)" && NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$site" && rm -rf "$site"
python -m pytest -n auto --dist loadfile --durations=10 "$@"
