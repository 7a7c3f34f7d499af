#!/usr/bin/env bash
# GPU check, one prepared run (< 4 min on an H100/H200): install, the tests that need CUDA, then CPU vs
# CUDA fp32 vs CUDA fp16 timings of stylize 1024/2048/4096 px and a 12 MP inpaint with the output differences.
#   bash bench/gpu_check.sh            # on a GPU machine; on a CPU-only machine it runs the CPU half
# Three ways to get what it needs:
#   - the lent H200 (no internet, 64 MiB per call): onnxruntime-gpu arrives in parts in /tmp/ortparts and
#     pyspng in .whl/ (bench/gpu_prepare.sh says how); both go into /tmp/site beside the machine's own
#     Python 3.12, which has numpy, Pillow, SciPy, pytest and the CUDA 13 / cuDNN 9 wheels;
#   - wheels in .whl/ (any machine without internet): a venv installed from there;
#   - otherwise: a venv installed from PyPI.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
if [ -d /tmp/ortparts ]; then
  SITE=/tmp/site
  PY=${PYTHON:-python3}
  if [ ! -d "$SITE/onnxruntime" ]; then
    name=$(awk '{print $2}' .whl/parts/SHA256)
    cat /tmp/ortparts/ort.part* > "/tmp/$name" || exit 1
    (cd /tmp && sha256sum -c "$OLDPWD/.whl/parts/SHA256") || { echo "onnxruntime-gpu parts missing or damaged"; ls -l /tmp/ortparts; exit 1; }
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" "/tmp/$name" .whl/pyspng-*.whl || exit 1
    "$PY" -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$SITE" . || exit 1
  fi
  export PYTHONPATH=$SITE
  SFUMATO=("$PY" -m sfumato)
else
  VENV=${GPU_CHECK_VENV:-/tmp/sfumato-gpu-venv}
  if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$VENV" || exit 1
    if [ -d .whl ]; then
      "$VENV/bin/pip" install -q --no-index --find-links .whl -e ".[cuda,test]" || exit 1
    else
      "$VENV/bin/pip" install -q -e ".[cuda,test]" || exit 1
    fi
  fi
  PY="$VENV/bin/python"
  SFUMATO=("$VENV/bin/sfumato")
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"${SFUMATO[@]}" doctor
echo "== tests that need CUDA"
# only the files that hold them: collecting every test module would import torch (the export extra,
# which this venv leaves out) and stop pytest before a CUDA test ran
mapfile -t files < <(grep -rl "pytest.mark.cuda" tests --include="*.py")
"$PY" -m pytest -q -rs -m cuda "${files[@]}" -p no:cacheprovider
rc=$?
[ $rc -eq 5 ] && rc=0  # no test selected is not a failure
echo "== timings (warm medians)"
"$PY" bench/gpu_times.py --runs "${RUNS:-5}"
exit $rc
