#!/usr/bin/env bash
# GPU check, one prepared run (< 4 min on an H100/H200): install, the tests that need CUDA, then CPU vs
# CUDA timings of stylize 1024/2048/4096 px and a 12 MP inpaint with the output differences.
#   bash bench/gpu_check.sh            # on a GPU machine; on a CPU-only machine it runs the CPU half
# Wheels in .whl/ (a machine without internet) are installed from there; else from PyPI.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${GPU_CHECK_VENV:-/tmp/sfumato-gpu-venv}
export PYTHONUNBUFFERED=1
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || exit 1
  if [ -d .whl ]; then
    "$VENV/bin/pip" install -q --no-index --find-links .whl -e ".[cuda,test]" || exit 1
  else
    "$VENV/bin/pip" install -q -e ".[cuda,test]" || exit 1
  fi
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$VENV/bin/sfumato" doctor
echo "== tests that need CUDA"
"$VENV/bin/python" -m pytest -q -rs -m cuda tests/ -p no:cacheprovider
rc=$?
[ $rc -eq 5 ] && rc=0  # no test selected is not a failure
echo "== timings (warm medians)"
"$VENV/bin/python" bench/gpu_times.py --runs "${RUNS:-5}"
exit $rc
