"""The RecordIO reader at cluster scale, simulated in one process.

Every record carries a unique label, so the labels a worker's batches hold say
exactly which records it drew. Each worker's reader is built with its own
``rank`` and ``size``, as Horovod would give them, and read here one after the
other.
"""
import os

import cv2
import numpy as np
import pytest

from mxdl.config import defaults
from mxdl.data import epoch_plan
from mxdl.data.manifest import Manifest
from mxdl.data.recordio import RecordDataset
from mxdl.errors import UserError

CFG = {**defaults()["data"], "threads": 1, "mean_subtract": False, "batch_size": 4}


def write_shards(out, split_sizes, seed=0, hw=(4, 4)):
    """RecordIO shards of small PNGs whose labels are 0, 1, 2, ... in write order; returns a manifest."""
    import mxnet as mx
    rng = np.random.RandomState(seed)
    os.makedirs(out, exist_ok=True)
    label, entries = 0, {}
    for split, sizes in split_sizes.items():
        entries[split] = []
        for i, n in enumerate(sizes):
            name = f"{split}-{i:05d}-of-{len(sizes):05d}"
            writer = mx.recordio.MXIndexedRecordIO(os.path.join(out, name + ".idx"),
                                                   os.path.join(out, name + ".rec"), "w")
            for key in range(n):
                corners = rng.randint(0, 255, (2, 2, 3)).astype(np.uint8)  # smooth: resizing changes little
                image = cv2.resize(corners, hw[::-1], interpolation=cv2.INTER_LINEAR)
                payload = cv2.imencode(".png", image)[1].tobytes()
                writer.write_idx(key, mx.recordio.pack(mx.recordio.IRHeader(0, float(label + key), key, 0), payload))
            writer.close()
            entries[split].append({"name": name, "records": n, "per_class": {label + k: 1 for k in range(n)},
                                   "files": {}, "shapes": [list(hw) + [3]]})
            label += n
    classes = [str(i) for i in range(label)]
    manifest = Manifest.assemble("rec", classes, classes, entries, {"mean": [0, 0, 0], "std": [1, 1, 1]},
                                 tool="test", version="", source="", options={})
    manifest.root = out
    return manifest


def reader(out, manifest, rank, size, batch=4, **cfg):
    return RecordDataset(out, manifest, {**CFG, "batch_size": batch, **cfg}, rank, size, seed=7, mean=[0, 0, 0])


def numpy_batches(batches):
    """Copy each batch out as it arrives: the iterator reuses its buffers after ``next()``."""
    return [tuple(a.asnumpy() if hasattr(a, "asnumpy") else a for a in b) for b in batches]


def labels_of(batches):
    return [int(v) for x, y, *_ in numpy_batches(batches) for v in y]


def sizes(n_shards, total, seed):
    """Uneven shard sizes that add up to ``total`` (every shard at least 1 record)."""
    cuts = np.sort(np.random.RandomState(seed).choice(np.arange(1, total), n_shards - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [total]])).tolist()


@pytest.mark.slow
@pytest.mark.parametrize("n_shards,workers", [(1, 1), (1, 8), (16, 1), (16, 16), (16, 64), (256, 64)])
def test_every_train_record_is_drawn_once_per_epoch(tmp_path, n_shards, workers):
    batch = 4
    total = max(300, workers * batch * 2 + 37)  # never a multiple of workers * batch: a remainder exists
    manifest = write_shards(str(tmp_path), {"train": sizes(n_shards, total, n_shards)} if n_shards > 1
                            else {"train": [total]})
    for epoch in (0, 1):
        drawn, steps = [], set()
        for rank in range(workers):
            batches = numpy_batches(reader(str(tmp_path), manifest, rank, workers, batch).train_epoch(epoch))
            assert all(x.shape[0] == batch and y.shape[0] == batch for x, y in batches)
            steps.add(len(batches))
            drawn += labels_of(batches)
        per_step = workers * batch
        assert steps == {total // per_step}, "every worker must run the same number of steps"
        assert len(drawn) == len(set(drawn)), "a record was drawn twice"
        assert set(drawn) <= set(range(total))
        assert total - len(drawn) == total % per_step < per_step


def test_the_left_out_window_moves_between_epochs(tmp_path):
    manifest = write_shards(str(tmp_path), {"train": [50, 50, 50]})
    seen = set()
    for epoch in range(6):
        drawn = labels_of(reader(str(tmp_path), manifest, 0, 1, batch=16).train_epoch(epoch))
        assert len(drawn) == 144
        seen |= set(drawn)
    assert seen == set(range(150)), "the same records were left out in every epoch"


def test_epochs_differ_and_are_repeatable(tmp_path):
    manifest = write_shards(str(tmp_path), {"train": [40, 40]})
    first = labels_of(reader(str(tmp_path), manifest, 0, 2).train_epoch(0))
    again = labels_of(reader(str(tmp_path), manifest, 0, 2).train_epoch(0))
    other = labels_of(reader(str(tmp_path), manifest, 0, 2).train_epoch(1))
    assert first == again
    assert first != other


def test_each_range_index_is_alone_in_its_folder_and_removed(tmp_path, monkeypatch):
    """dmlc opens an index by listing its folder and stat-ing every entry: in a folder shared with
    other workers, one whose index was removed meanwhile failed this open ("GetPathInfo: No such file",
    4 readers at once on 2 cores, 3 of 4 failed within 150 epochs)."""
    import mxnet as mx
    seen, opened = [], mx.io.ImageRecordIter

    def watched(**kwargs):
        folder = os.path.dirname(kwargs["path_imgidx"])
        seen.append((folder, sorted(os.listdir(folder))))
        return opened(**kwargs)
    monkeypatch.setattr(mx.io, "ImageRecordIter", watched)
    manifest = write_shards(str(tmp_path), {"train": [30, 30, 30], "val": [10]})
    data = reader(str(tmp_path), manifest, 0, 2, batch=8)
    labels_of(data.train_epoch(0))
    labels_of(data.val_batches())
    assert len(seen) >= 3   # two train ranges and a val range for this worker
    for folder, entries in seen:
        assert len(entries) == 1 and entries[0].endswith(".idx"), entries
        assert not os.path.exists(folder)


def test_resume_skips_to_the_same_batches(tmp_path):
    manifest = write_shards(str(tmp_path), {"train": [30, 30, 30]})
    aug = dict(rand_mirror=True, rand_crop=True, pad=2, threads=2)
    full = numpy_batches(reader(str(tmp_path), manifest, 1, 2, batch=8, **aug).train_epoch(3))
    for skip in (1, 2, 4):
        resumed = numpy_batches(reader(str(tmp_path), manifest, 1, 2, batch=8, **aug).train_epoch(3, skip))
        assert len(resumed) == len(full) - skip
        for (x0, y0), (x1, y1) in zip(full[skip:], resumed):
            assert np.array_equal(x0, x1) and np.array_equal(y0, y1)


@pytest.mark.slow
def test_a_slow_trainer_reads_every_batch_intact(tmp_path):
    """Batches are drawn ahead of the trainer while ImageRecordIter reuses its buffers: a batch must
    still hold its records when the trainer, slower than the reader, gets to it."""
    import time
    manifest = write_shards(str(tmp_path), {"train": [400]})
    fast = numpy_batches(reader(str(tmp_path), manifest, 0, 1, batch=8).train_epoch(2))
    slow = []
    for x, y in reader(str(tmp_path), manifest, 0, 1, batch=8).train_epoch(2):
        time.sleep(0.02)  # the drawing thread runs as far ahead as it may
        slow.append((x.asnumpy(), y.asnumpy()))
    assert len(slow) == len(fast) == 50
    for (x0, y0), (x1, y1) in zip(fast, slow):
        assert np.array_equal(y0, y1) and np.array_equal(x0, x1)


@pytest.mark.slow
@pytest.mark.parametrize("n_shards,workers", [(1, 1), (1, 8), (16, 64), (3, 2)])
def test_every_val_record_is_counted_once(tmp_path, n_shards, workers):
    total = 203
    manifest = write_shards(str(tmp_path), {"train": [64], "val": sizes(n_shards, total, 3) if n_shards > 1
                                            else [total]})
    counted = []
    for rank in range(workers):
        batches = reader(str(tmp_path), manifest, rank, workers, batch=1 if workers == 64 else 4).val_batches()
        for x, y, rows in numpy_batches(batches):
            assert x.shape[0] == y.shape[0]
            counted += [int(v) for v in y[:rows]]
    assert sorted(counted) == list(range(64, 64 + total))


def test_a_batch_larger_than_a_worker_share_names_the_largest_that_works(tmp_path):
    manifest = write_shards(str(tmp_path), {"train": [100]})
    with pytest.raises(UserError, match=r"the largest batch that works is 12"):
        reader(str(tmp_path), manifest, 0, 8, batch=16)


def test_an_idx_that_disagrees_with_the_manifest_is_refused(tmp_path):
    manifest = write_shards(str(tmp_path), {"train": [20, 20]})
    manifest.splits["train"].shards[1].records = 21
    with pytest.raises(UserError, match="train-00001-of-00002.rec: its .idx lists 20 records but the manifest says 21"):
        reader(str(tmp_path), manifest, 0, 1)


@pytest.mark.slow
def test_plan_at_256_workers_covers_the_sequence_exactly():
    counts = sizes(1000, 100_000, 11)
    workers, batch = 256, 32
    seen = np.zeros(100_000, bool)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for rank in range(workers):
        segs = epoch_plan.train_slice(counts, rank, workers, batch, 5, 2)
        assert sum(s.count for s in segs) == (100_000 // (workers * batch)) * batch
        for s in segs:
            rows = np.arange(starts[s.shard] + s.start, starts[s.shard] + s.stop)
            assert not seen[rows].any()
            seen[rows] = True
    assert 100_000 - seen.sum() == 100_000 % (workers * batch)


def test_validation_resizes_center_crops_and_normalises(tmp_path):
    """val_resize then a center crop, then (x - mean) / std, as a user would do it with cv2."""
    import mxnet as mx
    manifest = write_shards(str(tmp_path), {"train": [8], "val": [6]}, hw=(12, 16))
    mean, std = [100.0, 120.0, 140.0], [50.0, 60.0, 70.0]
    ds = RecordDataset(str(tmp_path), manifest, {**CFG, "shape": [3, 6, 6], "val_resize": 8, "mean_subtract": True,
                                                  "std_normalize": True, "batch_size": 6}, 0, 1, 7, mean, std)
    (x, y, rows), = numpy_batches(ds.val_batches())
    reader = mx.recordio.MXIndexedRecordIO(str(tmp_path / "val-00000-of-00001.idx"),
                                           str(tmp_path / "val-00000-of-00001.rec"), "r")
    for key in range(6):
        header, image = mx.recordio.unpack_img(reader.read_idx(key), iscolor=1)  # BGR, as cv2 reads it
        # ImageRecordIter: shorter side 12 -> 8, longer 16 -> 8 * 16 // 12 = 10; center 6x6 at (1, 2)
        small = cv2.resize(image, (10, 8), interpolation=cv2.INTER_LINEAR)[1:7, 2:8, ::-1].astype(np.float32)
        want = ((small - mean) / std).transpose(2, 0, 1)
        got = x[list(y).index(header.label)]
        assert np.abs(got - want).max() < 2.5 / 50, f"record {key} differs from resize + crop + normalise"


def test_imagenet_recipe_augmentation_through_imagerecorditer(tmp_path):
    manifest = write_shards(str(tmp_path), {"train": [32], "val": [8]}, hw=(20, 24))
    recipe = dict(shape=[3, 8, 8], random_resized_crop=True, min_random_area=0.08, max_random_area=1.0,
                  min_aspect_ratio=0.75, max_aspect_ratio=4 / 3, rand_mirror=True, brightness=0.4, contrast=0.4,
                  saturation=0.4, pca_noise=0.1, std_normalize=True, mean_subtract=True, val_resize=10, threads=2)
    ds = RecordDataset(str(tmp_path), manifest, {**CFG, **recipe, "batch_size": 8}, 0, 1, 7, [120] * 3, [60] * 3)
    batches = numpy_batches(ds.train_epoch(0))
    assert len(batches) == 4 and all(x.shape == (8, 3, 8, 8) and np.isfinite(x).all() for x, _ in batches)
    plain = RecordDataset(str(tmp_path), manifest, {**CFG, **recipe, "batch_size": 8, "random_resized_crop": False,
                                                   "brightness": 0.0, "contrast": 0.0, "saturation": 0.0,
                                                   "pca_noise": 0.0, "rand_mirror": False},
                          0, 1, 7, [120] * 3, [60] * 3)
    same_order = numpy_batches(plain.train_epoch(0))
    assert [list(y) for _, y in batches] == [list(y) for _, y in same_order]  # augmentation leaves order alone
    assert not any(np.allclose(a, b) for (a, _), (b, _) in zip(batches, same_order))
