# Sourced by run.sh and test.sh: make .venv (if missing) and install the project into it (when pyproject changed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ] || [ scripts/constraints.txt -nt .venv/.installed ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e ".[dev${LOGREG_EXTRAS:+,$LOGREG_EXTRAS}]"
  touch .venv/.installed
fi
export PATH="$ROOT/.venv/bin:$PATH"
