#!/usr/bin/env bash
# The test command (also what CI runs): set up .venv, lint, then the whole pytest suite. Arguments go to pytest.
# One worker per core, a test file per worker at a time (-n auto --dist loadfile), slow process tests scheduled first
# (conftest.py): on 2 cores pytest's own count was 235 s in CI on 7 December 2026's slow machine (import lightning
# 9-10 s) before round 5's cuts (the target is at most 180 s); the suite is CPU-bound, so it takes about half its
# CPU-seconds.
# The export and tune extras are installed too: their tests (ONNX parity, the Optuna sweep) run in CI; docs builds the
# documentation site strictly (a broken link, anchor or API reference fails), into a temporary directory.
export LOGREG_EXTRAS="${LOGREG_EXTRAS:-export,tune,docs}"
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ruff check .
site="$(mktemp -d)" && NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet --site-dir "$site" && rm -rf "$site"
python -m pytest -n auto --dist loadfile --durations=10 "$@"
