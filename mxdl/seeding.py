"""One way to derive seeds: hash a tuple of integers into an independent 31-bit seed.

Why not arithmetic like ``seed * 1000 + epoch * 97 + i``: such formulas collide as
soon as one term outgrows its multiplier (97 shards is enough). numpy's
SeedSequence hashes the whole tuple, so (epoch, shard) pairs never share a seed
unless the tuples are equal, and the result does not depend on the worker count.
"""
import numpy as np


class Stream:
    """The first key of every derived seed, one per use, so two uses never share a seed."""
    EPOCH_ORDER = 1      # RecordIO: shard order and start offset of an epoch (data/epoch_plan.py)
    RECORD_RANGE = 2     # RecordIO: shuffle and augmentation of one record range (data/recordio.py)
    SYNTHETIC = 3        # random tensors (data/synthetic.py)
    H5_ORDER = 4         # HDF5: the order of rows within a shuffle window (data/epoch_plan.py)
    H5_AUGMENT = 5       # HDF5: augmentation of one batch
    TRAIN_STEP = 6       # MXNet's generator (dropout) at a step where a stop can land (train/loop.py)
    MIX = 7              # mixup/cutmix of one batch: partner order, share, box (train/step.py)


def _sequence(seed, stream, keys):
    return np.random.SeedSequence([int(k) for k in (seed, stream) + keys])


def derive_seed(seed, stream, *keys):
    """A seed in [0, 2**31) for the user's ``seed``, a :class:`Stream` and non-negative ints ``keys``."""
    return int(_sequence(seed, stream, keys).generate_state(1, np.uint32)[0] >> 1)


def rng_for(seed, stream, *keys):
    """A numpy Generator for the same keys as :func:`derive_seed`."""
    return np.random.default_rng(_sequence(seed, stream, keys))
