#!/usr/bin/env bash
# README pictures, made by the project itself (not part of CI): trains the default run and the BCE-vs-MSE
# comparison in a scratch directory, serves them with TensorBoard on localhost, takes headless-Chromium
# screenshots of the scalars, images and hparams dashboards, and writes them with the figure PNGs to docs/images/.
# Installs Debian's chromium when it is missing (needs root and the Debian mirror).
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
OUT="$ROOT/docs/images"
mkdir -p "$OUT"
if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium
fi
work="$(mktemp -d)"
port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() { [ -n "${tb_pid:-}" ] && kill "$tb_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

(cd "$work" && logreg fit >/dev/null && python "$ROOT/scripts/compare_losses.py" >/dev/null)
# a noisier run for the decision figures (the tutorial's own data is separable: a perfect confusion matrix)
(mkdir "$work/noisy" && cd "$work/noisy" && logreg fit --data.n_features 3 --data.n_samples 2000 \
  --data.label_noise 0.1 --data.batch_size 64 --model.lr 0.5 >/dev/null)
tensorboard --logdir "$work/lightning_logs" --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
tb_pid=$!
for _ in $(seq 120); do  # until TensorBoard has loaded all five runs (at most a minute)
  runs="$(curl -fs "http://127.0.0.1:$port/data/runs" || true)"
  [ "$(grep -o '"' <<<"$runs" | wc -l)" -ge 10 ] && break
  sleep 0.5
done

shoot() {  # shoot NAME URL-FRAGMENT [WIDTH]
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --user-data-dir="$work/chrome" --hide-scrollbars \
    --window-size="${3:-1400},1000" --virtual-time-budget=20000 --screenshot="$OUT/$1.png" \
    "http://127.0.0.1:$port/$2" >/dev/null 2>&1
  echo "wrote $OUT/$1.png"
}
shoot tensorboard-scalars "?runFilter=version_0#scalars&tagFilter=loss%7Cacc%7Cboundary"
shoot tensorboard-images "?runFilter=version_0#images"
shoot tensorboard-hparams "#hparams" 2600

python - "$work/lightning_logs" "$OUT" <<'PY'
import sys
from pathlib import Path
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
logs, out = Path(sys.argv[1]), Path(sys.argv[2])
events = EventAccumulator(str(logs / "version_0"), size_guidance={"images": 0})
events.Reload()
for tag in ("figures/loss_per_iteration", "figures/fitted_sigmoid"):
    (out / (tag.split("/")[1] + ".png")).write_bytes(events.Images(tag)[-1].encoded_image_string)
noisy = EventAccumulator(str(logs.parent / "noisy" / "lightning_logs" / "version_0"), size_guidance={"images": 0})
noisy.Reload()
for tag in ("figures/val_confusion", "figures/val_precision_recall", "figures/val_reliability"):
    (out / (tag.split("/")[1] + ".png")).write_bytes(noisy.Images(tag)[-1].encoded_image_string)
(out / "compare_losses.png").write_bytes((logs / "compare" / "compare_losses.png").read_bytes())
print("wrote the figure PNGs to", out)
PY
