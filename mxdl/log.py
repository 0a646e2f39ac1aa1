"""Logging: only rank 0 prints; every run writes a log file.

Rank 0 logs to the console and ``RUN/train.log``; other ranks log to
``RUN/logs/rank-N.log`` only, so a 64-worker job prints one stream.
"""
import contextlib
import logging
import os
import sys

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
