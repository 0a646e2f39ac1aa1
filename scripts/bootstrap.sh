#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install everything into it:
# mxnet 1.9.1 (CPU), the pinned scientific stack, Horovod 0.28.1 built with MXNet + Gloo,
# and mxdl itself in editable mode. `make` only calls this when setup.py or the pins change.
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

# What the set-up needs from the machine, checked before anything is installed: a Python with
# venv, and (to build Horovod) a C++ compiler. cmake comes from PyPI when the machine has none.
missing() { echo "bootstrap: $1 is missing: install $2, then run the same command again" >&2; exit 2; }
command -v "$PYTHON" >/dev/null || missing "$PYTHON" "Python 3.10 or 3.11 (Debian/Ubuntu: python3)"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing "Python's venv module" "python3-venv (Debian/Ubuntu)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 10), (3, 11)))' \
    || missing "Python 3.10 or 3.11 (mxnet 1.9.1 has wheels for those; $PYTHON is $("$PYTHON" -V 2>&1))" \
               "python3.11 and run PYTHON=python3.11 make train"
command -v c++ >/dev/null || command -v g++ >/dev/null \
    || missing "a C++ compiler (Horovod is built from source)" "g++ (Debian/Ubuntu: build-essential)"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q -c requirements/constraints.txt pip setuptools wheel
# One resolve with every pin: alone, gluoncv pulls numpy 2.x, which mxnet 1.9.1 cannot import.
pip install -q -c requirements/constraints.txt mxnet numpy gluoncv opencv-python h5py \
    scikit-learn pyyaml tqdm matplotlib pytest pytest-timeout pytest-xdist onnx coloredlogs flatbuffers sympy tensorboardX
# ONNX Runtime checks mxdl's ONNX exports in the tests. Its releases for Python 3.11 all declare
# numpy>=1.24.2, which mxnet 1.9.1 cannot import; 1.15.1 runs on numpy 1.23.5 all the same (its
# dependencies are installed above), so it goes in without pip's resolver.
pip install -q --no-deps -c requirements/constraints.txt onnxruntime
command -v cmake >/dev/null || pip install -q "cmake<4"  # Horovod's build needs cmake; PyPI has it

# Horovod is built once into a wheel kept in $VENV/wheels, which scripts/wheel_check.sh reuses.
if ! "$VENV/bin/python" -c "import horovod.mxnet" 2>/dev/null; then
    scripts/horovod_wheel.sh "$VENV"
    pip install -q -c requirements/constraints.txt "$VENV"/wheels/horovod-*.whl
fi
pip install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c "import mxnet, horovod.mxnet, gluoncv, mxdl, recordio_tools; print('environment ready: mxnet', mxnet.__version__)"
