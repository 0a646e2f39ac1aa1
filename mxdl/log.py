"""Logging: only rank 0 prints; every run writes a log file.

Rank 0 logs to the console and ``RUN/train.log``; other ranks log to
``RUN/logs/rank-N.log`` only, so a 64-worker job prints one stream.
"""
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
