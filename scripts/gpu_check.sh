#!/usr/bin/env bash
# The GPU check, for a machine with a CUDA GPU (CI has none): tests/test_gpu.py (CPU/GPU agreement on the tutorial
# and of Newton, 16-mixed and bf16-mixed, device-resident batches, pinned memory-mapped batches, DDP on 2 GPUs when
# there are 2), then `scripts/bench.py --device cuda` (its GPU sections 9-11, scripts/bench_gpu.py), and one table
# of what each did, with its numbers. Each part has its own time limit (9 minutes at most in all), so the table
# always prints.
#
#   scripts/gpu_check.sh --fetch-wheels   # where pip reaches PyPI: .whl/ gets the wheels a GPU machine's python3
#                                         # lacks (jsonargparse[signatures]: python 3.12, pure Python; git-ignored)
#   scripts/gpu_check.sh                  # on the GPU machine, no network needed:
#     - where python3 has torch and lightning (a GPU image's, or an active virtual environment's): PYTHONPATH=src
#       over it, and if it lacks jsonargparse[signatures], the wheels of .whl/ installed into a scratch --target
#       folder (pip --no-index: nothing is downloaded);
#     - else: sets up .venv as test.sh does (torch from PyPI: its CUDA build on Linux).
#
# Environment: PYTHON (python3), GPU_CHECK_OUT (where pytest.txt, gpu.xml, bench.txt and table.txt go; a new
# temporary folder), BENCH_ARGS (more bench.py arguments, e.g. "--repeats 1"), BENCH_DEVICE (cuda; cpu rehearses
# the path on a machine without a GPU), TEST_TIMEOUT (150 s), BENCH_TIMEOUT (380 s): 9 minutes at most in all.
# Exit code 0 only when every test passed or was skipped for a stated reason and the benchmark ran.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
WHEELS="jsonargparse==4.53.0 docstring-parser==0.18.0 typeshed-client==2.15.0"  # jsonargparse[signatures] as tested

if [ "${1:-}" = "--fetch-wheels" ]; then
  rm -rf .whl && mkdir .whl  # one version of each: two would stop the install there
  # shellcheck disable=SC2086  # WHEELS is a list of words
  exec "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $WHEELS
fi

OUTDIR="${GPU_CHECK_OUT:-$(mktemp -d)}"
mkdir -p "$OUTDIR"
if "$PYTHON" -c 'import torch, lightning' 2>/dev/null; then  # (an active virtual environment's python3 too)
  if ! "$PYTHON" -c 'import jsonargparse, docstring_parser, typeshed_client' 2>/dev/null; then
    if ! compgen -G ".whl/*.whl" >/dev/null; then
      echo "gpu_check: error: $PYTHON lacks jsonargparse[signatures] and .whl/ holds no wheels: run" \
        "scripts/gpu_check.sh --fetch-wheels where pip reaches PyPI, and bring .whl/ along" >&2
      exit 2
    fi
    SITE="$(mktemp -d)/site"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl || exit 2
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  fi
else
  export LOGREG_EXTRAS="${LOGREG_EXTRAS:-bench}"
  source "$ROOT/scripts/_venv.sh"
  set +e
  PYTHON=python
fi
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, absolute: tests start processes elsewhere
"$PYTHON" -c 'import jsonargparse, lightning, logreg, torch
gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "none"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, lightning {lightning.__version__}, jsonargparse"
      f" {jsonargparse.__version__}; logreg from {logreg.__file__}; GPUs: {gpus}")' || exit 2
"$PYTHON" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' \
  || echo "gpu_check: warning: torch sees no CUDA device: the tests skip, and the benchmark fails unless" \
    "BENCH_DEVICE=cpu (a rehearsal)" >&2

SECONDS=0
timeout "${TEST_TIMEOUT:-150}" "$PYTHON" -m pytest tests/test_gpu.py -p no:cacheprovider -q -rA \
  --junitxml "$OUTDIR/gpu.xml" >"$OUTDIR/pytest.txt" 2>&1
tests=$? tests_s=$SECONDS
BENCH_TIMEOUT="${BENCH_TIMEOUT:-380}"
export BENCH_GPU_DEADLINE=$(($(date +%s) + BENCH_TIMEOUT - 15))  # section 11 runs fewer rounds rather than none
# shellcheck disable=SC2086  # BENCH_ARGS is a list of words
PYTHONUNBUFFERED=1 timeout "$BENCH_TIMEOUT" "$PYTHON" scripts/bench.py --device "${BENCH_DEVICE:-cuda}" \
  --sections 9,10,11 ${BENCH_ARGS:-} >"$OUTDIR/bench.txt" 2>&1
bench=$? bench_s=$((SECONDS - tests_s))
"$PYTHON" scripts/bench_gpu.py --table "$OUTDIR" --bench-exit "$bench" | tee "$OUTDIR/table.txt"
echo
tail -n 1 "$OUTDIR/pytest.txt"
echo "tests/test_gpu.py: ${tests_s} s (exit $tests); scripts/bench.py: ${bench_s} s (exit $bench)"
echo "(pytest output: $OUTDIR/pytest.txt; benchmark output: $OUTDIR/bench.txt; this table: $OUTDIR/table.txt)"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
