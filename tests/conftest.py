"""Shared fixtures: real images that ship with scikit-learn, packed once per session."""
import glob
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def run_cli(*args, check=True, env=None, timeout=600, cwd=None):
    """Run a console script from this environment; return the CompletedProcess."""
    full_env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), **(env or {})}
    proc = subprocess.run(list(args), capture_output=True, text=True, env=full_env, timeout=timeout,
                          cwd=cwd or REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
                             f"stderr:\n{proc.stderr[-3000:]}")
    return proc


def train_in_process(*args):
    """``mxdl-train ARGS`` in this process (one worker, no Horovod): no interpreter start-up or
    mxnet import per run. Returns the exit code."""
    from mxdl.train.cli import main
    return main([str(a) for a in args])


def worker_pid(rank, run_dir):
    """PID of the mxdl-train worker of Horovod rank ``rank`` writing to ``run_dir``, or None."""
    for d in glob.glob("/proc/[0-9]*"):
        try:
            env = open(d + "/environ", "rb").read().split(b"\0")
            cmd = open(d + "/cmdline", "rb").read()
        except OSError:
            continue
        if b"mxdl.train.cli" in cmd and run_dir.encode() in cmd and f"HOROVOD_RANK={rank}".encode() in env:
            return int(d[len("/proc/"):])
    return None


@pytest.fixture(scope="session")
def digits_images(tmp_path_factory):
    from recordio_tools.digits import export_digits
    out = tmp_path_factory.mktemp("digits") / "images"
    export_digits(str(out))
    return str(out)


@pytest.fixture(scope="session")
def digits_rec(tmp_path_factory, digits_images):
    """The digits packed as the README's main job packs them (lossless PNG, gray, 2 shards)."""
    from recordio_tools.pack import build
    out = str(tmp_path_factory.mktemp("digits-rec") / "shards")
    build(digits_images, out, fmt="rec", shards=2, split="train=0.8,val=0.2", encoding=".png",
          color=False, workers=2, seed=0, log=lambda *_: None)
    return out


@pytest.fixture
def photos_tree(tmp_path):
    """A tiny class-per-folder tree of real photographs (scikit-learn's sample images, cropped)."""
    from sklearn.datasets import load_sample_images
    import cv2
    root = tmp_path / "photos"
    images = load_sample_images().images  # china.jpg, flower.jpg (RGB)
    for label, image in zip(("china", "flower"), images):
        (root / label).mkdir(parents=True)
        for i in range(6):
            crop = image[i * 30: i * 30 + 120, i * 40: i * 40 + 160, ::-1]
            cv2.imwrite(str(root / label / f"{i}.jpg"), crop)
    return str(root)


@pytest.fixture
def copy_tree():
    def _copy(src, dst):
        shutil.copytree(src, dst)
        return str(dst)
    return _copy
