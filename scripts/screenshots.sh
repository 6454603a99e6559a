#!/usr/bin/env bash
# The documentation's pictures, made by the project itself from today's code (not part of CI): trains the default
# run, the BCE-vs-MSE comparison and a noisier run in a scratch directory, serves them with TensorBoard on
# localhost, takes headless-Chromium screenshots of the scalars, images, HParams and PR-curves dashboards, and
# writes them with the figure PNGs to docs/images/. Installs Debian's chromium when it is missing (needs root and the
# Debian mirror). tests/test_tensorboard.py checks, in the same browser, that these dashboards show a run's data.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
OUT="$ROOT/docs/images"
mkdir -p "$OUT"
if ! command -v chromium >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
work="$(mktemp -d)"
port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() { [ -n "${tb_pid:-}" ] && kill "$tb_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cd "$work"
logreg fit >/dev/null  # lightning_logs/version_0: the tutorial's experiment
python "$ROOT/scripts/compare_losses.py" >/dev/null  # lightning_logs/compare/{bce,mse}-{random,bad}
# lightning_logs/noisy, for the decision figures and the PR curves (the tutorial's own data is separable: a perfect
# confusion matrix and a flat precision-recall curve)
logreg fit --data.n_features 3 --data.n_samples 2000 --data.label_noise 0.1 --data.batch_size 64 --model.lr 0.5 \
  --trainer.logger.init_args.version noisy >/dev/null
tensorboard --logdir "$work/lightning_logs" --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
tb_pid=$!
for _ in $(seq 120); do  # until TensorBoard has loaded all six runs (at most a minute)
  runs="$(curl -fs "http://127.0.0.1:$port/data/runs" || true)"
  [ "$(python -c 'import json, sys; print(len(json.loads(sys.argv[1] or "[]")))' "$runs")" -ge 6 ] && break
  sleep 0.5
done

shoot() {  # shoot NAME URL-FRAGMENT [WIDTH]
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$work/chrome" --hide-scrollbars \
    --window-size="${3:-1400},1000" --virtual-time-budget=20000 --screenshot="$OUT/$1.png" \
    "http://127.0.0.1:$port/$2" >/dev/null 2>&1
  echo "wrote $OUT/$1.png"
}
shoot tensorboard-scalars "#scalars&tagFilter=loss%7Cacc%7Cboundary"
shoot tensorboard-images "#images&tagFilter=fitted_sigmoid%7Cval_precision_recall"
shoot tensorboard-hparams "#hparams" 2600
shoot tensorboard-pr-curves "#pr_curves"

python - "$work/lightning_logs" "$OUT" <<'PY'
import sys
from pathlib import Path
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
logs, out = Path(sys.argv[1]), Path(sys.argv[2])
figures = {"version_0": ("loss_per_iteration", "fitted_sigmoid"),
           "noisy": ("val_confusion", "val_precision_recall", "val_reliability")}
for run, names in figures.items():
    events = EventAccumulator(str(logs / run), size_guidance={"images": 0})
    events.Reload()
    for name in names:
        (out / f"{name}.png").write_bytes(events.Images(f"figures/{name}")[-1].encoded_image_string)
(out / "compare_losses.png").write_bytes((logs / "compare" / "compare_losses.png").read_bytes())
print("wrote the figure PNGs to", out)
PY
