#!/usr/bin/env bash
# The suite on the newest releases pyproject.toml allows, as a new user's `pip install .` gets them: a separate venv
# (.venv-latest, git-ignored), no scripts/constraints.txt, everything upgraded eagerly. Then
#   1. the whole suite, with FutureWarning (a deprecation aimed at users) raised as an error where tests see it;
#   2. the documented commands as real processes, failing on any warning line on stderr (logreg's own
#      `logreg: warning: ...` lines are output, not library noise, and are allowed).
# Prints the versions it ran on. Arguments go to pytest. (A pip config of the machine may still cap a release,
# e.g. a local torch wheel: the versions printed are what actually ran.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${LOGREG_LATEST_VENV:-.venv-latest}"
PYTHON="${PYTHON:-python3}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev,export,tune]"
export PATH="$ROOT/$VENV/bin:$PATH"
logreg --version
python -c 'import importlib.metadata as m; print(*(f"{p} {m.version(p)}" for p in
    ("jsonargparse", "tensorboard", "numpy", "pyarrow", "scikit-learn")), sep="\n")'

failed=0
ruff check . || failed=1
# FutureWarning is an error, except Lightning's own call to torch's deprecated pytree API (torch 2.14 made it a
# FutureWarning; only Lightning can change it, and logreg's runs silence it: quiet_known_noise). Later -W wins; pytest
# takes a -W message literally, as the start of the warning's text.
python -m pytest -n auto --dist loadfile -q -W error::FutureWarning -W 'ignore:`isinstance(treespec, LeafSpec)`' \
  "$@" || failed=1

# The documented commands (README.md, docs/), each a real process in a scratch directory; any warning on stderr fails the script.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python -c 'import sklearn.datasets as d; t = d.load_breast_cancer(as_frame=True).frame
t["diagnosis"] = ["malignant" if y == 0 else "benign" for y in t.pop("target")]; t.to_csv("'"$WORK"'/cancer.csv", index=False)'
check() {  # EXPECT=N check ...: the exit code it must end with (default 0)
  local rc=0
  (cd "$WORK" && "$@" >out.txt 2>err.txt) || rc=$?
  if [ "$rc" != "${EXPECT:-0}" ]; then
    echo "FAILED (exit $rc): $*"; cat "$WORK/err.txt"; failed=1; return
  fi
  if grep -v '^logreg: ' "$WORK/err.txt" | grep -i -E 'warn' >/dev/null; then
    echo "WARNINGS from: $*"; grep -v '^logreg: ' "$WORK/err.txt" | grep -i -E -B1 -A1 'warn'; failed=1
  else
    echo "no warnings: $*"
  fi
}
check logreg fit
check logreg fit --config tutorial.yaml
check logreg fit --data.n_features 5 --data.n_samples 2000 --data.batch_size 32 --model.lr 0.5
check logreg fit --config tabular.yaml --data.path cancer.csv --data.label diagnosis
check logreg fit --config lbfgs.yaml --data FileDataModule --data.path cancer.csv --data.label diagnosis
check logreg test --ckpt_path lightning_logs/version_0/checkpoints/last.ckpt
check logreg predict --ckpt_path lightning_logs/version_0/checkpoints/last.ckpt
check logreg predict --ckpt_path lightning_logs/version_3/checkpoints/last.ckpt --data FileDataModule \
  --data.path cancer.csv --data.label diagnosis --predictions out.csv
check logreg convert cancer.csv cancer/ --label diagnosis
check logreg --version
EXPECT=2 check logreg  # the subcommand list; exit 2, as nothing ran
[ "$failed" = 0 ] && echo "test_latest: passed" || echo "test_latest: FAILED"
exit "$failed"
