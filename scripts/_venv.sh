# Sourced by run.sh and test.sh: make .venv (if missing) and install the project into it, with the extras named in
# LOGREG_EXTRAS (comma-separated) besides dev. .venv/.installed records the extras installed, so that a later call
# asking for more (test.sh after run.sh) installs them instead of trusting a stamp that predates them.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
installed=""
[ -f .venv/.installed ] && installed="$(cat .venv/.installed)"
extras="${LOGREG_EXTRAS:-}"
wanted="$(printf '%s\n' dev ${extras//,/ } ${installed//,/ } | sort -u | tr '\n' ',' | sed 's/,$//')"
if [ "$wanted" != "$installed" ] || [ pyproject.toml -nt .venv/.installed ] || [ scripts/constraints.txt -nt .venv/.installed ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet -c scripts/constraints.txt -e ".[$wanted]"
  printf '%s\n' "$wanted" > .venv/.installed
fi
export PATH="$ROOT/.venv/bin:$PATH"
