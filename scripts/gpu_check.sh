#!/usr/bin/env bash
# The GPU check, for a machine with a CUDA GPU (CI has none): tests/test_gpu.py (CPU/GPU agreement on the tutorial,
# 16-mixed and bf16-mixed, device-resident batches, pinned memory-mapped batches, DDP on 2 GPUs when there are 2),
# then `scripts/bench.py --device cuda`, and one table of what each did, with its numbers.
#
#   scripts/gpu_check.sh                 # sets up .venv as test.sh does (torch from PyPI: its CUDA build on Linux),
#                                        # or uses the virtual environment that is active
#   BENCH_ARGS="--sections 1,2" scripts/gpu_check.sh   # more bench.py arguments
#
# Exit code 0 only when every test passed or was skipped for a stated reason and the benchmark ran.
if [ -n "${VIRTUAL_ENV:-}" ]; then  # inside an activated environment: use it as it is
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
else
  export LOGREG_EXTRAS="${LOGREG_EXTRAS:-bench}"
  source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
fi
set +e
OUT="$(mktemp -d)"
python -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' \
  || echo "gpu_check: warning: torch sees no CUDA device; the tests will be skipped and the benchmark will fail" >&2
python -c 'import torch; gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPUs:", ", ".join(gpus) or "none")'
python -m pytest tests/test_gpu.py -p no:cacheprovider -q -rA --junitxml "$OUT/gpu.xml" >"$OUT/pytest.txt" 2>&1
tests=$?
# shellcheck disable=SC2086  # BENCH_ARGS is a list of words
python scripts/bench.py --device cuda ${BENCH_ARGS:-} >"$OUT/bench.txt" 2>&1
bench=$?
python - "$OUT" "$bench" <<'EOF'
"""One table: each test of tests/test_gpu.py (result, its record_property numbers), then bench.py's timing rows."""
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

out, bench_code = Path(sys.argv[1]), int(sys.argv[2])
rows = []
for case in ET.parse(out / "gpu.xml").iter("testcase"):
    outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
    result = "passed" if outcome is None else {"failure": "FAILED", "error": "ERROR"}.get(outcome.tag, "skipped")
    numbers = "; ".join(f"{p.get('name')} {p.get('value')}" for p in case.iter("property"))
    if outcome is not None:  # the reason: a skip's message, a failure's first line
        reason = (outcome.get("message") or "").splitlines()[0] if outcome.get("message") else ""
        numbers = "; ".join(filter(None, [numbers, reason[:100]]))
    rows.append((case.get("name"), result, numbers))
section = columns = ""
for line in (out / "bench.txt").read_text(errors="replace").splitlines():
    if re.match(r"\d+\. ", line):
        section, columns = line.split()[0], ""
    elif line.startswith("   ") and not re.search(r"\d", line):  # a header row: the names of the columns below
        columns = " ".join(line.split())
    elif line.startswith("   "):
        label, _, numbers = line.strip().partition("  ")
        numbers = " ".join(numbers.split())
        numbers = f"{numbers} ({columns})" if columns and numbers and "(" not in numbers else numbers
        rows.append((f"bench {section} {label}", "ran" if numbers else "note", numbers))
if bench_code != 0:
    last = (out / "bench.txt").read_text(errors="replace").strip().splitlines()[-1:] or [""]
    rows.append(("bench.py --device cuda", f"FAILED (exit {bench_code})", last[0][:100]))
width, result_width = (max(len(row[i]) for row in [("test", "result", ""), *rows]) for i in (0, 1))
for name, result, numbers in [("test", "result", "numbers"), *rows]:
    print(f"{name:<{width}}  {result:<{result_width}}  {numbers}")
print(f"\n(pytest output: {out / 'pytest.txt'}; benchmark output: {out / 'bench.txt'})")
EOF
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
