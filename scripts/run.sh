#!/usr/bin/env bash
# One command from a fresh checkout to a trained model: set up .venv, then `logreg fit` (extra arguments go to it).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
logreg fit "$@"
echo
echo "TensorBoard: tensorboard --logdir lightning_logs   (then open http://localhost:6006)"
