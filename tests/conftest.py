"""Shared fixtures: real images that ship with scikit-learn, packed once per session."""
import contextlib
import glob
import importlib
import io
import os
import re
import shutil
import subprocess
import sys

import numpy as np
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


ENTRY_POINTS = dict(re.findall(r'"(mxdl-[a-z-]+)=([\w.]+:\w+)"', open(os.path.join(REPO, "setup.py")).read()))


def run_in_process(script, *args, check=True):
    """A console script's entry point called in this process, like run_cli but without an interpreter
    start-up and mxnet import per call; returns a CompletedProcess with what it printed. Tests that
    need their own process (signals, Horovod, a fresh MXNet for bitwise comparisons) use run_cli."""
    module, name = ENTRY_POINTS[script].split(":")
    main = getattr(importlib.import_module(module), name)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as done:  # argparse's usage errors and --help
            code = done.code
    if check and code != 0:
        raise AssertionError(f"{script} {args} returned {code}\n{out.getvalue()[-3000:]}\n{err.getvalue()[-3000:]}")
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def train_in_process(*args, check=True):
    return run_in_process("mxdl-train", *args, check=check)


def as_from_a_terminal():
    """preexec_fn for a process that a user starts from a terminal: INT, QUIT and HUP at their defaults.
    A shell ignores INT and QUIT in its background jobs, and nohup ignores HUP; a shell script cannot
    trap an ignored signal, so a suite started that way would otherwise test nothing."""
    import signal
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


_STARTED = []  # what start_job started, for the teardown below


def start_job(cmd, **popen_args):
    """A process started as a user starts one from a terminal, in a session of its own, its output
    collected. Whatever it still runs when the test ends, pass or fail, is killed: one job that a
    failed assertion left behind ran 400 epochs for 1.5 h and slowed every test after it."""
    defaults = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                    start_new_session=True, preexec_fn=as_from_a_terminal)
    proc = subprocess.Popen([str(c) for c in cmd], **{**defaults, **popen_args})
    _STARTED.append(proc)
    return proc


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(request):
    yield
    import signal
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    tmp_path = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    for pid in job_processes(str(tmp_path)) if tmp_path else ():  # Horovod's workers have sessions of their own
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class _Inotify:
    """The kernel's file events (inotify, through libc): a wait returns when a watched folder
    changes, rather than after a sleep."""
    CHANGES = 0x2 | 0x8 | 0x80 | 0x100  # IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE

    def __init__(self):
        import ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        assert self.fd >= 0, "inotify is not available"
        self.watched = set()

    def watch(self, path):
        """Watch the folder ``path`` is in, or its nearest existing parent until that folder exists."""
        folder = os.path.dirname(os.path.abspath(path))
        while not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        if folder not in self.watched:
            self.libc.inotify_add_watch(self.fd, folder.encode(), self.CHANGES)
            self.watched.add(folder)

    def wait(self, seconds):
        import select
        if select.select([self.fd], [], [], seconds)[0]:
            try:
                os.read(self.fd, 65536)
            except BlockingIOError:
                pass

    def close(self):
        os.close(self.fd)


def wait_for_file(path, proc=None, timeout=120, holds=None):
    """Wait until the file ``path`` exists (and ``holds(text)`` is true of it), woken by file events.
    Fails at once when ``proc`` ends first, and after ``timeout`` seconds (a hang, not a timing)."""
    import time
    ready = holds or (lambda text: True)
    deadline = time.time() + timeout
    events = _Inotify()
    try:
        while True:
            events.watch(path)
            try:
                if ready(open(path, errors="replace").read()):
                    return
            except (FileNotFoundError, ValueError):  # not there yet, or (JSON) caught mid-write
                pass
            assert proc is None or proc.poll() is None, _ended_early(proc, path)
            assert time.time() < deadline, f"{path} was not ready after {timeout} s"
            events.wait(0.5)  # returns at the first change; the bound re-checks that proc still runs
    finally:
        events.close()


def _ended_early(proc, path):
    """The failure message when ``proc`` ended before ``path`` was ready: its exit status and the
    end of what it printed, so a failure seen once in CI says why."""
    out = proc.communicate()[0] if proc.stdout else ""
    return f"the process ended (exit {proc.returncode}) before {path} was ready; it printed:\n{(out or '')[-4000:]}"


def wait_gone(pids, timeout=30):
    """Wait until the processes ``pids`` (not our children) have ended, woken by the kernel (pidfd)
    when each ends; fails after ``timeout`` seconds."""
    import select
    import time
    deadline = time.time() + timeout
    for pid in [p for p in pids if p]:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            assert select.select([fd], [], [], max(0.0, deadline - time.time()))[0], f"process {pid} still runs"
        finally:
            os.close(fd)


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


def job_processes(run_dir, kinds=(b"mxdl.train.cli", b"horovodrun", b"ssh")):
    """PIDs of the processes of the job writing to ``run_dir``: its workers, horovodrun, and the
    ssh sessions that carry remote workers (each names the run directory in its command line)."""
    found = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            cmd = open(d + "/cmdline", "rb").read()
        except OSError:
            continue
        if run_dir.encode() in cmd and any(kind in cmd for kind in kinds):
            found.append(int(d[len("/proc/"):]))
    return found


@pytest.fixture(autouse=True)
def finish_mxnet_work():
    """MXNet runs operations asynchronously: wait for a test's leftovers at its end, so they are timed
    (and fail) with it instead of slowing whichever test comes next."""
    yield
    if "mxnet" in sys.modules:
        sys.modules["mxnet"].nd.waitall()


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


@pytest.fixture(scope="session")
def trained(digits_rec, tmp_path_factory):
    """A LeNet trained for 4 epochs on the digits: the run the evaluation and bad-input tests use.
    Tests may read it, never change it."""
    out = tmp_path_factory.mktemp("trained") / "run"
    train_in_process(os.path.join(REPO, "configs", "digits.yaml"), f"data.dir={digits_rec}", "train.epochs=4",
                     "train.log_interval=100000", "--output", out)
    return str(out)


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


@pytest.fixture
def small_disk(tmp_path):
    """A folder on its own tmpfs of a given size, to fill a disk for real; skips unless this user may
    mount (root on Linux). ``small_disk(size_kib)`` returns the folder."""
    mounted = []

    def _mount(kib):
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs to fill (needs root): {proc.stderr.strip() or proc.returncode}")
        mounted.append(where)
        return where
    yield _mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill_disk(folder, leave_bytes):
    """Take all but ``leave_bytes`` of the free space of ``folder``'s file system."""
    st = os.statvfs(folder)
    take = st.f_bavail * st.f_frsize - leave_bytes
    with open(os.path.join(folder, "filler"), "wb") as f:
        f.write(b"\0" * max(0, take))


def params_of(path):
    import mxnet as mx
    return {k: v.asnumpy() for k, v in mx.nd.load(os.path.join(path, "model.params")).items()}


def assert_bitwise_equal(a, b):
    pa, pb = params_of(a), params_of(b)
    assert pa.keys() == pb.keys()
    for key in pa:  # running_mean/running_var included
        assert np.array_equal(pa[key], pb[key]), key
