#!/usr/bin/env bash
# Run HERE (PyPI reachable) before a session's GPU check on the lent H200, which reaches nothing and
# takes at most 64 MiB per call, the working tree (~29 MiB) included. Its image has Python 3.12 with
# numpy, Pillow, SciPy, tqdm, pytest and the CUDA 13 / cuDNN 9 runtime wheels, but only the CPU
# onnxruntime: onnxruntime-gpu (a 244 MiB wheel) and pyspng travel, the big one in 32 MiB parts.
#
#   bash bench/gpu_prepare.sh        # -> .whl/pyspng-*.whl, .whl/parts/ort.part00 ... ort.part07
# then, on the device, one call per part, each within the machine's 30 s warm window (the working tree
# plus one part stays under the 64 MiB a call carries):
#   run(command="mkdir -p /tmp/ortparts && cp .whl/parts/ort.part0K /tmp/ortparts/", carry=[".whl/parts/ort.part0K"])
# and last, with the small wheel and the big one's sha256:
#   run(command="bash bench/gpu_check.sh", carry=[".whl/pyspng-0.1.4-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", ".whl/parts/SHA256"])
# gpu_check.sh joins the parts, checks the sha256 and installs everything offline into /tmp/site.
# PYVER=3.11 fetches the wheels for Python 3.11 instead, to try that offline install here.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PY=${PYTHON:-python3}
PLAT=(--only-binary=:all: --python-version "${PYVER:-3.12}" --implementation cp --platform manylinux_2_28_x86_64
      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
rm -rf .whl && mkdir -p .whl/parts .whl/big
"$PY" -m pip download -q --no-deps "${PLAT[@]}" -d .whl "pyspng==0.1.4"
"$PY" -m pip download -q --no-deps "${PLAT[@]}" -d .whl/big "onnxruntime-gpu==1.31.1"
wheel=$(ls .whl/big/onnxruntime_gpu-*.whl)
(cd .whl/big && sha256sum "$(basename "$wheel")") > .whl/parts/SHA256
split -b 32M -d "$wheel" .whl/parts/ort.part
rm -rf .whl/big
ls -l .whl .whl/parts
