"""Logging: only rank 0 prints; every run writes a log file.

Rank 0 logs to the console and ``RUN/train.log``; other ranks log to
``RUN/logs/rank-N.log`` only, so a 64-worker job prints one stream.
"""
import contextlib
import logging
import os
import sys
import time

LOGGER = "mxdl"


def setup(run_dir, rank, name="train"):
    logger = logging.getLogger(LOGGER)
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    if rank == 0:
        path = os.path.join(run_dir, f"{name}.log")
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(console)
    else:
        os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
        path = os.path.join(run_dir, "logs", f"rank-{rank}.log")
    handler = logging.FileHandler(path)
    handler.setFormatter(fmt)
    logger.addHandler(handler)
    return logger


def get():
    return logging.getLogger(LOGGER)


@contextlib.contextmanager
def native_log_silenced():
    """MXNet's C++ code logs to file descriptor 2 directly, past Python's logging: an INFO line for
    every ImageRecordIter it creates, which the exact-epoch reader does for every record range.
    Errors still arrive, as the MXNetError the call raises. Python's own stderr writes made in the
    meantime are flushed first, so nothing of ours is lost."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class still_working:
    """``with still_working("fitting the logistic regression"):`` prints a line every ``every``
    seconds while the block runs, on a terminal only (logs and pipes stay quiet), so a long call
    with no progress of its own (a grid search, MXNet's ONNX converter) does not look hung."""

    def __init__(self, what, every=10.0, stream=None):
        self.what, self.every = what, every
        self.stream = stream or sys.stderr
        self._done = None

    def __enter__(self):
        import threading
        self.started = time.time()
        if self.stream.isatty():
            self._done = threading.Event()
            threading.Thread(target=self._beat, daemon=True).start()
        return self

    def _beat(self):
        while not self._done.wait(self.every):
            self.stream.write(f"  ... {self.what}: {time.time() - self.started:.0f} s so far\n")
            self.stream.flush()

    def __exit__(self, *exc):
        if self._done is not None:
            self._done.set()
        return False


def progress(total, what, unit="img"):
    """A tqdm bar on a terminal (rank 0's), nothing in logs and pipes: ``bar.update(n)``, ``bar.close()``."""
    from tqdm import tqdm
    from .topology import is_primary
    return tqdm(total=total, desc=what, unit=unit, leave=False, dynamic_ncols=True,
                disable=not (sys.stderr.isatty() and is_primary()))
