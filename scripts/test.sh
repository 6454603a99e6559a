#!/usr/bin/env bash
# The test command (also what CI runs): set up .venv, lint, then the whole pytest suite. Arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ruff check .
python -m pytest --durations=10 "$@"
