"""RecordIO input through ``mx.io.ImageRecordIter``, MXNet's C++ decode/augment pipeline.

Why not a Gluon DataLoader: on 50,000 CIFAR-10 JPEGs with 2 threads the C++
iterator decodes about 6 times faster (see bench/).

Exact epochs. ``epoch_plan`` decides which record ranges each worker reads; this
module reads exactly those. ImageRecordIter has no "read records a..b" option,
but its indexed reader (dmlc's IndexedRecordIOSplitter) knows a shard only
through the ``.idx`` file it is given. It sorts the listed offsets, takes each
record's length as the distance to the next listed offset, and with
``num_parts=2`` part 0 is the first half of the listed entries. So for records
[a, b) of a shard we write a small index that lists their offsets, followed by
``b - a`` copies of record b's offset (the shard's size when b is the end): part 0
is then exactly records a..b-1, each with its true length, and the sentinel
copies are never read. The file is read when the iterator is created, then
removed. tests/test_reader.py checks the result record by record.

Each range gets its own iterator, shuffled with a seed drawn from
(seed, epoch, shard, start), so a given epoch always yields the same batches:
a mid-epoch resume skips whole ranges without opening them and replays only
the part of one range that was already consumed. Batches are re-formed across
range ends, so every batch holds ``batch_size`` distinct records: the wrapped
rows of an iterator's last batch (counted in ``pad``) are dropped, never trained
on. The next range's iterator is opened on a thread of its own while the current
one is consumed, so its start-up does not show.
"""
import contextlib
import os
import shutil
import tempfile

import numpy as np

from ..errors import DamagedData, UserError, error_reason
from ..seeding import Stream, derive_seed
from .epoch_plan import dropped_per_epoch, eval_slice, locate, steps_per_epoch, train_slice
from .recordfile import MAGIC
from .shards import damaged_record, input_shape


class ShardIndex:
    """A shard's record offsets, read from its ``.idx`` and checked against the manifest."""

    def __init__(self, rec, idx, expected):
        self.rec = rec
        for path in (rec, idx):
            if not os.path.isfile(path):
                raise UserError(f"shard file {path} is missing (re-run mxdl-pack build, or mxdl-pack verify)")
        with open(idx, "rb") as f:
            text = f.read()
        try:
            table = np.array(text.split(), dtype=np.int64).reshape(-1, 2)
        except ValueError:
            raise UserError(f"{idx} is not a RecordIO index (lines of 'key<TAB>offset')") from None
        order = np.argsort(table[:, 1], kind="stable")
        self.offsets, self.keys = table[order, 1], table[order, 0]
        self.size = os.path.getsize(rec)
        if len(self.offsets) != expected:
            raise UserError(f"shard {os.path.basename(rec)}: its .idx lists {len(self.offsets)} records "
                            f"but the manifest says {expected}; re-pack it, or run mxdl-pack verify")
        if len(self.offsets) and self.offsets[-1] + 8 > self.size:
            raise UserError(f"shard {os.path.basename(rec)} is shorter than its .idx says (truncated?)")
        self.ends = np.append(self.offsets[1:], self.size)  # where each record's bytes stop
        self._framed = None  # which records' headers have been checked (check_framing)

    def check_labels(self, classes):
        """Labels beyond the class list would train a head of the wrong size without a word; the
        packer's .lst beside the shard holds every label, so check it when it is there."""
        lst = self.rec[: -len(".rec")] + ".lst"
        if not os.path.isfile(lst):
            return
        with open(lst, encoding="utf-8", errors="replace") as f:
            labels = np.array([float(p[1]) for p in (line.split("\t") for line in f) if len(p) >= 3])
        if len(labels) and (labels.max() >= classes or labels.min() < 0):
            raise UserError(f"shard {os.path.basename(self.rec)} has labels up to {int(labels.max())} but the "
                            f"manifest lists {classes} classes: the manifest does not belong to these shards")

    def _damaged(self, i, why):
        return damaged_record(self.rec, i, self.keys[i], why, self.offsets[i])

    def check_framing(self, start, stop):
        """Refuse records [start, stop) whose RecordIO header is damaged.

        ImageRecordIter meets such a record in a decode thread and aborts the whole
        process (exit 134, no Python exception), so the 8 header bytes of each record
        are read here first, all at once through a memory map (the pages the decode
        reads next), and each record once per process.
        """
        if self._framed is None:
            self._framed = np.zeros(len(self.offsets), bool)
        todo = start + np.flatnonzero(~self._framed[start:stop])
        if not len(todo):
            return
        data = np.memmap(self.rec, np.uint8, mode="r")
        heads = data[self.offsets[todo, None] + np.arange(8)].copy().view("<u4")
        magic, lrec = heads[:, 0], heads[:, 1].astype(np.int64)
        overrun = (lrec >> 29 == 0) & (self.offsets[todo] + 8 + (lrec & (1 << 29) - 1) > self.ends[todo])
        for bad, why in ((magic != MAGIC, "no RecordIO header where the .idx points"),
                         (overrun, "its length runs into the next record")):
            if bad.any():
                raise self._damaged(int(todo[np.argmax(bad)]), why)
        self._framed[todo] = True

    def find_undecodable(self, start, stop, reason):
        """The error for the first record in [start, stop) that does not decode, after
        ImageRecordIter failed on the range with ``reason``."""
        import cv2
        import mxnet as mx
        with open(self.rec, "rb") as f:
            for i in range(start, stop):
                f.seek(self.offsets[i] + 8)
                payload = f.read(int(self.ends[i] - self.offsets[i] - 8))
                try:
                    _, image_bytes = mx.recordio.unpack(payload)
                    ok = cv2.imdecode(np.frombuffer(image_bytes, np.uint8), cv2.IMREAD_UNCHANGED) is not None
                except Exception:  # noqa: BLE001 - whatever the damage, this record is the one
                    ok = False
                if not ok:
                    return self._damaged(i, "the image does not decode")
        return DamagedData(f"shard {os.path.basename(self.rec)}: records {start}..{stop - 1} failed to read "
                           f"({reason})", f"run mxdl-pack verify {os.path.dirname(self.rec)}")

    def write_range_index(self, path, start, stop):
        """An index file whose part 0 of 2 is exactly records [start, stop) (see module docstring)."""
        count = stop - start
        rows = np.empty((2 * count, 2), np.int64)
        rows[:, 0] = np.arange(2 * count)
        rows[:count, 1], rows[count:, 1] = self.offsets[start:stop], self.ends[stop - 1]
        with open(path, "w") as f:  # one formatting call: np.savetxt formats line by line, 7 ms a range
            f.write(("%d\t%d\n" * len(rows)) % tuple(rows.ravel().tolist()))


def _joined(parts):
    if len(parts) == 1:
        return parts[0]
    import mxnet as mx
    return mx.nd.concat(*[x for x, _ in parts], dim=0), mx.nd.concat(*[y for _, y in parts], dim=0)


def rebatch(chunks, batch, keep_last=False):
    """Batches of exactly ``batch`` rows from ``(data, label)`` chunks of any size.

    A chunk that is already a full batch passes through untouched. Other rows are
    copied on the device (queued, never waited for: ImageRecordIter waits for pending
    reads of a buffer before it refills it) and joined into whole batches. The rows
    left at the end form one shorter batch with ``keep_last``, and are dropped without it.
    """
    held, count = [], 0
    for x, y in chunks:
        n = x.shape[0]
        if count == 0 and n == batch:
            yield x, y
            continue
        start = 0
        while start < n:
            take = min(batch - count, n - start)
            held.append((x[start:start + take].copy(), y[start:start + take].copy()))
            count += take
            start += take
            if count == batch:
                yield _joined(held)
                held, count = [], 0
    if count and keep_last:
        yield _joined(held)


class RecordDataset:
    def __init__(self, data_dir, manifest, cfg_data, rank, size, seed, mean, std=None):
        self.dir = data_dir
        self.manifest = manifest
        self.cfg = cfg_data
        self.rank, self.size, self.seed = rank, size, seed
        self.shape = input_shape(manifest, cfg_data["shape"])
        self.mean, self.std = mean, std
        self.batch_size = cfg_data["batch_size"]
        self.train_split = cfg_data["train_split"]
        self._files = {split: manifest.shard_paths(split) for split in manifest.splits}
        self._index = {}
        self.train_count = manifest.split(self.train_split).records
        self.steps_per_epoch = steps_per_epoch(self.train_count, size, self.batch_size, self.train_split)
        self.dropped_per_epoch = dropped_per_epoch(self.train_count, size, self.batch_size)
        self._counts(self.train_split)  # read and check every .idx now, not at the first step

    def _shards(self, split):
        if split not in self._index:
            entries = self.manifest.split(split).shards
            self._index[split] = [ShardIndex(rec, idx, entry.records)
                                  for (_, rec, idx), entry in zip(self._files[split], entries)]
            for shard in self._index[split]:
                shard.check_labels(len(self.manifest.classes))
        return self._index[split]

    def _counts(self, split):
        return [len(s.offsets) for s in self._shards(split)]

    def _iter_args(self, train):
        """ImageRecordIter options from the data config (its own names, so its docs apply)."""
        c = self.cfg
        # ctx is left at its default ("gpu"): the prefetching iterator, which fills pinned host memory
        # when there is a GPU (so the copy to it overlaps the step) and decodes with exactly
        # preprocess_threads threads. ctx="cpu" picks a variant that decodes on all of OpenMP's
        # threads instead, past the thread budget, and logs a line for every iterator it creates.
        args = dict(data_shape=self.shape, preprocess_threads=c["threads"], verbose=False, scale=c["scale"])
        channels = ("r", "g", "b")[: self.shape[0]]
        if c["mean_subtract"]:
            args.update({f"mean_{ch}": m for ch, m in zip(channels, self.mean)})
        if c["std_normalize"]:
            if not self.std:
                raise UserError(f"data.std_normalize: {self.dir}/manifest.json has no per-channel std")
            args.update({f"std_{ch}": s for ch, s in zip(channels, self.std)})
        resize = c["resize"] if train else (c["val_resize"] or c["resize"])
        if resize and not (train and c["random_resized_crop"]):
            args["resize"] = resize
        if not train:
            return args
        args.update(rand_crop=c["rand_crop"], rand_mirror=c["rand_mirror"], pad=c["pad"],
                    max_rotate_angle=c["max_rotate_angle"], max_shear_ratio=c["max_shear_ratio"])
        if c["zoom"]:
            args.update(min_random_scale=1 - c["zoom"], max_random_scale=1 + c["zoom"])
        if c["random_resized_crop"]:
            args.update(random_resized_crop=True, min_random_area=c["min_random_area"],
                        max_random_area=c["max_random_area"], min_aspect_ratio=c["min_aspect_ratio"],
                        max_aspect_ratio=c["max_aspect_ratio"])
        args.update({k: c[k] for k in ("brightness", "contrast", "saturation", "pca_noise") if c[k]})
        return args

    def _open_range(self, split, seg, seed, train):
        """One ImageRecordIter over records [seg.start, seg.stop) of a shard (never empty)."""
        import mxnet as mx
        shard = self._shards(split)[seg.shard]
        shard.check_framing(seg.start, seg.stop)
        # A folder of its own, for each range, gone once MXNet has read the index: dmlc opens a path by
        # listing its folder and stat-ing every entry, so in a shared folder another worker's index,
        # removed meanwhile, fails this open; a folder kept for the reader's life stayed in /tmp
        # whenever a worker was killed or left through os._exit.
        folder = tempfile.mkdtemp(prefix="mxdl-range-")
        idx = os.path.join(folder, f"{split}-{seg.shard}-{seg.start}-{seg.stop}.idx")
        try:
            shard.write_range_index(idx, seg.start, seg.stop)
            # round_batch stays on: with it off, MXNet 1.9 reports pad=0 for a short last batch and
            # fills the rest with uninitialized memory. The wrapped rows it adds are dropped below.
            return mx.io.ImageRecordIter(path_imgrec=shard.rec, path_imgidx=idx, num_parts=2, part_index=0,
                                         batch_size=min(self.batch_size, seg.count), shuffle=train,
                                         seed=seed, seed_aug=seed, round_batch=True, **self._iter_args(train))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _rows(self, split, segments, seeds, train, skip_first=0):
        """``(data, label)`` chunks of the given ranges, in order, without wrapped rows.

        The next range's iterator is opened on a thread of its own while the current one is read
        (checking its headers, writing its index, starting its decoder: about 20 ms, a tenth of a
        CIFAR shard's reading), so no range waits for its own start-up but the first."""
        from concurrent.futures import ThreadPoolExecutor
        if not segments:
            return
        with ThreadPoolExecutor(1, thread_name_prefix="mxdl-open-range") as opener:
            ahead = opener.submit(self._open_range, split, segments[0], seeds[0], train)
            for i, seg in enumerate(segments):
                with self._naming_damage(split, seg):
                    current = ahead.result()  # MXNet reads a range's first batch when it opens it
                if i + 1 < len(segments):
                    ahead = opener.submit(self._open_range, split, segments[i + 1], seeds[i + 1], train)
                skip = skip_first if i == 0 else 0
                with self._naming_damage(split, seg):
                    for batch in current:
                        x, y = batch.data[0], batch.label[0]
                        n = x.shape[0] - batch.pad
                        if skip >= n:
                            skip -= n
                            continue
                        yield (x, y) if (skip == 0 and n == x.shape[0]) else (x[skip:n], y[skip:n])
                        skip = 0

    @contextlib.contextmanager
    def _naming_damage(self, split, seg):
        """A record that fails to decode is named, not a C++ traceback."""
        import mxnet as mx
        try:
            yield
        except mx.base.MXNetError as err:
            raise self._shards(split)[seg.shard].find_undecodable(seg.start, seg.stop, error_reason(err)) from None

    def train_epoch(self, epoch, skip=0):
        """Exactly ``steps_per_epoch - skip`` batches ``(data, label)`` of this worker's slice."""
        segments = train_slice(self._counts(self.train_split), self.rank, self.size, self.batch_size,
                               self.seed, epoch, self.train_split)
        first, within = locate(segments, skip * self.batch_size)
        segments = segments[first:]
        seeds = [derive_seed(self.seed, Stream.RECORD_RANGE, epoch, s.shard, s.start) for s in segments]
        yield from rebatch(self._rows(self.train_split, segments, seeds, True, within), self.batch_size)

    def val_batches(self, split=None):
        """This worker's share of a split, each record once: ``(data, label, valid_rows)``.

        The last batch is padded with zeros to the full batch size, so the network
        sees one input shape; ``valid_rows`` tells the metrics where real rows end.
        """
        import mxnet as mx
        split = split or self.cfg["val_split"]
        segments = eval_slice(self._counts(split), self.rank, self.size)
        chunks = self._rows(split, segments, [0] * len(segments), False)
        for x, y in rebatch(chunks, self.batch_size, keep_last=True):
            rows = x.shape[0]
            if rows < self.batch_size:
                fill = self.batch_size - rows
                x = mx.nd.concat(x, mx.nd.zeros((fill,) + x.shape[1:], dtype=x.dtype), dim=0)
                y = mx.nd.concat(y, mx.nd.zeros((fill,) + y.shape[1:], dtype=y.dtype), dim=0)
            yield x, y, rows
