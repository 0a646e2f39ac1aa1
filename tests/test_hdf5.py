"""The HDF5 reader: chunk-aligned epochs at cluster scale (simulated ranks), bitwise resume with
augmentation, evaluation order, and the threads that prepare batches ahead.

Every row's label is its position in the split, so the labels a worker's batches hold say
exactly which rows it drew.
"""
import os
import threading
import time

import numpy as np
import pytest

from mxdl.config import defaults
from mxdl.data import epoch_plan
from mxdl.data.ahead import made_ahead
from mxdl.data.hdf5 import H5Dataset
from mxdl.data.manifest import Manifest

CFG = {**defaults()["data"], "threads": 2, "mean_subtract": False, "batch_size": 4, "format": "hdf5"}
AUGMENTED = {"max_rotate_angle": 20, "shift": 0.1, "max_shear_ratio": 0.2, "zoom": 0.2, "rand_mirror": True,
             "pad": 2, "rand_crop": True}


def write_h5(out, split_sizes, chunk=8, hw=(8, 8)):
    """HDF5 shards of random pixels, labels 0, 1, 2, ... through each split; ``chunk=None`` writes
    them unchunked (contiguous), as other tools do. Returns a manifest and {split: all rows}."""
    import h5py
    rng = np.random.RandomState(0)
    os.makedirs(out, exist_ok=True)
    entries, rows = {}, {}
    for split, sizes in split_sizes.items():
        entries[split], rows[split], label = [], [], 0
        for i, n in enumerate(sizes):
            name = f"{split}-{i:05d}-of-{len(sizes):05d}"
            images = rng.randint(0, 255, (n,) + hw + (3,)).astype(np.uint8)
            with h5py.File(os.path.join(out, name + ".h5"), "w") as f:
                f.create_dataset("images", data=images, chunks=(min(chunk, n),) + hw + (3,) if chunk else None)
                f.create_dataset("labels", data=np.arange(label, label + n))
            entries[split].append({"name": name, "records": n, "per_class": {label + k: 1 for k in range(n)},
                                   "files": {}, "shapes": [list(hw) + [3]]})
            rows[split].append(images)
            label += n
    classes = [str(i) for i in range(max(sum(s) for s in split_sizes.values()))]
    manifest = Manifest.assemble("hdf5", classes, classes, entries, {"mean": [0, 0, 0], "std": [1, 1, 1]},
                                 tool="test", version="", source="", options={})
    manifest.root = out
    return manifest, {split: np.concatenate(r) for split, r in rows.items()}


def dataset(manifest, rank, size, **cfg):
    return H5Dataset(manifest.root, manifest, {**CFG, **cfg}, rank, size, seed=7, mean=[0, 0, 0])


def batches(stream):
    return [tuple(a.asnumpy() if hasattr(a, "asnumpy") else a for a in b) for b in stream]


def chunk_of(segment, chunk_rows):
    return segment.shard, segment.start // chunk_rows[segment.shard]


@pytest.mark.parametrize("workers", [64, 256])
def test_chunked_plan_draws_every_record_at_most_once_and_reads_whole_chunks(workers):
    rng = np.random.RandomState(3)
    counts = [int(n) for n in rng.randint(500, 1500, 40)]
    chunk_rows = [64 if s % 3 else 50 for s in range(len(counts))]
    batch, total = 8, sum(counts)
    window = epoch_plan.window_rows(batch, 64, 8)
    starts = np.concatenate([[0], np.cumsum(counts)])
    seen = np.zeros(total, bool)
    for rank in range(workers):
        segs = epoch_plan.train_slice(counts, rank, workers, batch, 5, 2, chunk_rows=chunk_rows)
        share = sum(s.count for s in segs)
        assert share == (total // (workers * batch)) * batch
        assert all(chunk_of(s, chunk_rows) == (s.shard, (s.stop - 1) // chunk_rows[s.shard]) for s in segs)
        for w in range(-(-share // window)):
            part, order = epoch_plan.window_order(segs, window, w, 5, 2, rank)
            assert sorted(order) == list(range(sum(p.count for p in part)))
            assert len({chunk_of(p, chunk_rows) for p in part}) <= window // 50 + 2
            for p in part:
                rows = np.arange(starts[p.shard] + p.start, starts[p.shard] + p.stop)
                assert not seen[rows].any()
                seen[rows] = True
    assert total - seen.sum() == total % (workers * batch)


def test_chunk_order_and_window_order_change_every_epoch():
    counts, chunk_rows = [640, 640], [64, 64]
    first = [epoch_plan.train_slice(counts, 0, 2, 16, 5, e, chunk_rows=chunk_rows)[:3] for e in range(3)]
    assert first[0] != first[1] != first[2]
    segs = first[0]
    orders = [tuple(epoch_plan.window_order(segs, 128, 0, 5, e, 0)[1]) for e in range(2)]
    assert orders[0] != orders[1]


@pytest.mark.parametrize("chunk", [8, None])
def test_workers_read_disjoint_rows_with_their_pixels(tmp_path, chunk):
    manifest, rows = write_h5(str(tmp_path), {"train": [70, 45]}, chunk=chunk)
    workers, seen = 3, []
    for rank in range(workers):
        ds = dataset(manifest, rank, workers)
        for x, y in batches(ds.train_epoch(1)):
            labels = y.astype(int)
            np.testing.assert_array_equal(x, rows["train"][labels].transpose(0, 3, 1, 2).astype(np.float32))
            seen.extend(labels)
    assert len(seen) == len(set(seen)) == workers * ds.steps_per_epoch * 4


def test_mid_epoch_resume_and_thread_count_leave_augmented_batches_bitwise_equal(tmp_path):
    manifest, _ = write_h5(str(tmp_path), {"train": [70, 45]})
    whole = batches(dataset(manifest, 1, 2, threads=1, **AUGMENTED).train_epoch(4))
    resumed = batches(dataset(manifest, 1, 2, threads=3, **AUGMENTED).train_epoch(4, skip=5))
    assert len(resumed) == len(whole) - 5
    for (a, la), (b, lb) in zip(whole[5:], resumed):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(la, lb)
    plain = batches(dataset(manifest, 1, 2).train_epoch(4))
    assert not np.array_equal(plain[0][0], whole[0][0][:, :, 2:-2, 2:-2])  # the augmentation did something


def test_evaluation_reads_every_row_once_in_stored_order(tmp_path):
    manifest, rows = write_h5(str(tmp_path), {"train": [20], "val": [13, 9]})
    got = []
    for rank in range(3):
        for x, y, n in batches(dataset(manifest, rank, 3).val_batches()):
            assert n == len(y) and x.shape[0] == n
            np.testing.assert_array_equal(x, rows["val"][y.astype(int)].transpose(0, 3, 1, 2).astype(np.float32))
            got.extend(y.astype(int))
    assert got == list(range(22))


def test_made_ahead_keeps_order_raises_errors_and_stops_its_threads():
    before = threading.active_count()

    def slow_square(i):
        time.sleep(np.random.uniform(0, 0.01))
        return i * i
    assert list(made_ahead(((i,) for i in range(40)), slow_square, threads=4)) == [i * i for i in range(40)]

    def items():
        yield (1,)
        raise OSError("damaged chunk")
    stream = made_ahead(items(), slow_square, threads=2)
    assert next(stream) == 1
    with pytest.raises(OSError, match="damaged chunk"):
        next(stream)

    endless = made_ahead(((i,) for i in iter(int, 1)), slow_square, threads=2)
    next(endless)
    endless.close()
    assert threading.active_count() == before
