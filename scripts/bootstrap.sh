#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install everything into it:
# mxnet 1.9.1 (CPU), the pinned scientific stack, Horovod 0.28.1 built with MXNet + Gloo,
# and mxdl itself in editable mode. `make` only calls this when setup.py or the pins change.
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q -c requirements/constraints.txt pip setuptools wheel
# One resolve with every pin: alone, gluoncv pulls numpy 2.x, which mxnet 1.9.1 cannot import.
pip install -q -c requirements/constraints.txt mxnet numpy gluoncv opencv-python h5py \
    scikit-learn pyyaml tqdm matplotlib pytest pytest-timeout onnx coloredlogs flatbuffers sympy tensorboardX
# ONNX Runtime checks mxdl's ONNX exports in the tests. Its releases for Python 3.11 all declare
# numpy>=1.24.2, which mxnet 1.9.1 cannot import; 1.15.1 runs on numpy 1.23.5 all the same (its
# dependencies are installed above), so it goes in without pip's resolver.
pip install -q --no-deps -c requirements/constraints.txt onnxruntime

# Horovod is built once into a wheel kept in $VENV/wheels, which scripts/wheel_check.sh reuses.
if ! "$VENV/bin/python" -c "import horovod.mxnet" 2>/dev/null; then
    scripts/horovod_wheel.sh "$VENV"
    pip install -q -c requirements/constraints.txt "$VENV"/wheels/horovod-*.whl
fi
pip install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c "import mxnet, horovod.mxnet, gluoncv, mxdl, recordio_tools; print('environment ready: mxnet', mxnet.__version__)"
