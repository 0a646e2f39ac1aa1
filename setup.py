import importlib.util
import os
import re

from setuptools import Extension, find_packages, setup

# The version lives in mxdl/__init__.py only.
VERSION = re.search(r'__version__ = "([^"]+)"', open("mxdl/__init__.py").read()).group(1)


def copy_if_operator():
    """The non-finite guard's conditional copy (mxdl/train/copy_if.cc), an MXNet operator library
    built against the installed MXNet's headers. Optional: without MXNet at build time, or without
    a C++ compiler, the guard uses stock operators instead."""
    spec = importlib.util.find_spec("mxnet")
    if spec is None or not spec.submodule_search_locations:
        return []
    mxnet_dir = spec.submodule_search_locations[0]
    lib_api = os.path.join(mxnet_dir, "src", "lib_api.cc")
    if not os.path.exists(lib_api):
        return []
    return [Extension("mxdl.train._copy_if", ["mxdl/train/copy_if.cc", lib_api], language="c++",
                      include_dirs=[os.path.join(mxnet_dir, "include")],
                      extra_compile_args=["-std=c++11", "-O2"],
                      # MXNet and Horovod's MXNet library hold their own copies of lib_api's
                      # symbols; bound to those, loading this one after Horovod crashed
                      extra_link_args=["-Wl,-Bsymbolic"], optional=True)]


setup(
    name="mxdl",
    version=VERSION,
    description="Train image classifiers on MXNet 1.9 / Gluon, from one CPU to GPU clusters (Horovod)",
    packages=find_packages(include=["mxdl", "mxdl.*", "recordio_tools", "recordio_tools.*"]),
    # configs/ and launch/ reach the package through the links mxdl/configs and mxdl/launch;
    # a wheel holds copies, so `mxdl-train --list-configs` and `mxdl-launch` work after pip install.
    package_data={"mxdl": ["configs/*.yaml", "configs/base/*.yaml", "launch/*.sh", "launch/*.sbatch"]},
    ext_modules=copy_if_operator(),
    python_requires=">=3.10,<3.12",
    install_requires=[
        "numpy<1.24",          # mxnet 1.9.1 uses np.bool, removed in numpy 1.24
        "gluoncv==0.10.5.post0",
        "opencv-python",
        "h5py",
        "scikit-learn",
        "pyyaml",
        "tqdm",
        "matplotlib",
    ],
    extras_require={
        "cpu": ["mxnet==1.9.1"],
        # GPU clusters: build Horovod afterwards with HOROVOD_GPU_OPERATIONS=NCCL (see README).
        "cu112": ["mxnet-cu112==1.9.1"],
        "onnx": ["onnx==1.14.1"],
        "tensorboard": ["tensorboardX"],  # mxdl-export --format onnx (newer onnx lacks what mx.onnx imports)
        "dev": ["pytest", "pytest-timeout"],
    },
    entry_points={"console_scripts": [
        "mxdl-pack=recordio_tools.cli:main",
        "mxdl-train=mxdl.train.cli:main",
        "mxdl-launch=mxdl.launcher:main",
        "mxdl-eval=mxdl.eval.cli:main",
        "mxdl-models=mxdl.models.cli:main",
        "mxdl-predict=mxdl.eval.cli:predict_main",
        "mxdl-augment-preview=mxdl.eval.cli:augment_preview_main",
        "mxdl-features=mxdl.eval.features:main",
        "mxdl-export=mxdl.eval.export:main",
        "mxdl-serve-check=mxdl.eval.serve_check:main",
        "mxdl-runs=mxdl.eval.runs:main",
        "mxdl-doctor=mxdl.doctor.cli:main",
    ]},
)
