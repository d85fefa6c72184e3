#!/usr/bin/env bash
# Device check of the cuda backend on an NVIDIA GPU machine (CuPy + numpy preinstalled, no
# network, no install needed): correctness of every kernel against the numpy reference, a
# short benchmark of our kernels next to cuBLAS/CuPy with the targets marked PASS/FAIL, then
# the cuda pytest file when pytest and the package's dependencies are there.
#
#   bash scripts/device_check.sh            # full check (< 5 minutes on an H100/H200)
#   bash scripts/device_check.sh --quick    # tiny/edge sizes and the three target benchmarks
#
# Results also go to ${OUT:-/tmp}/device_check.json. Exit status: non-zero when a correctness
# check of our kernels or the pytest run failed, 2 when CUDA is unavailable.
set -u
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=$(command -v python3 || command -v python); fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT_DIR="${OUT:-/tmp}"
mkdir -p "$OUT_DIR"

echo "python: $PY ($($PY --version 2>&1))"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total --format=csv,noheader

timeout 230 "$PY" scripts/device_check.py --budget 170 --json "$OUT_DIR/device_check.json" "$@"
check=$?
if [ $check -eq 124 ]; then echo "device_check.py timed out after 230 s"; fi
[ $check -eq 2 ] && exit 2

pytest_rc=0
if "$PY" -c "import pytest, pandas, duckdb, scipy, altair, tqdm" 2>/dev/null; then
    echo
    echo "== pytest tests/test_cuda_backend.py (not slow) =="
    timeout 60 "$PY" -m pytest -q -p no:cacheprovider -m "not slow" tests/test_cuda_backend.py
    pytest_rc=$?
else
    missing=$("$PY" - <<'PYEOF'
import importlib.util
print(" ".join(m for m in ("pytest", "pandas", "duckdb", "scipy", "altair", "tqdm") if importlib.util.find_spec(m) is None))
PYEOF
)
    echo "skipping pytest tests/test_cuda_backend.py: not installed here: $missing (device_check.py above covers the same kernels x variants x dtypes)"
fi
[ $check -ne 0 ] && exit $check
exit $pytest_rc
