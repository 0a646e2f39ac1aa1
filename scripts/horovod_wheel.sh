#!/usr/bin/env bash
# Build Horovod 0.28.1 for MXNet + Gloo (CPU) into a wheel: scripts/horovod_wheel.sh VENV
# The wheel lands in VENV/wheels; bootstrap.sh installs it there and wheel_check.sh reuses it.
# It compiles against the mxnet installed in VENV. GPU clusters build it with
# HOROVOD_GPU_OPERATIONS=NCCL instead (see README).
set -euo pipefail
VENV=$1
here=$(cd "$(dirname "$0")/.." && pwd)
ls "$VENV"/wheels/horovod-*.whl >/dev/null 2>&1 && exit 0
echo "building horovod 0.28.1 with MXNet and Gloo (about 3 minutes on 2 cores)"
# CMAKE_POLICY_VERSION_MINIMUM: cmake 4 refuses gloo's old cmake_minimum_required.
PATH="$VENV/bin:$PATH" HOROVOD_WITH_MXNET=1 HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_PYTORCH=1 \
HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 CMAKE_POLICY_VERSION_MINIMUM=3.5 \
    "$VENV/bin/python" -m pip wheel -q --no-deps --no-build-isolation --no-cache-dir \
    -c "$here/requirements/constraints.txt" -w "$VENV/wheels" horovod
