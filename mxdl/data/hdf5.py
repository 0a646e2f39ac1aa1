"""HDF5 input: the book's generator, read chunk by chunk and prepared ahead of the trainer.

Order. HDF5 stores a dataset in chunks (64 rows, as mxdl-pack writes them) and a row read
alone costs its whole chunk: a global row permutation read 32 scattered rows as 32 chunks
(bench/hdf5_order.py measures both). So the epoch's order is ``epoch_plan``'s, with chunks in
place of shards: chunks in a seeded order from a seeded offset, each worker a contiguous
share, exactly once per epoch. A worker reads its share in windows of whole batches spanning
``data.shuffle_chunks`` chunks, each chunk read whole, and uses a window's rows in a seeded
permutation. mxdl-pack shuffles a split before writing it, so a chunk is no run of one class.

Preparation (augment, crop, normalise) runs on ``data.threads`` threads, up to a few batches
in front of the trainer, and the reads on one more; OpenCV and numpy release the GIL. A
batch's random transforms are drawn in one call from (seed, epoch, rank, step), so batches do
not depend on the thread count and a mid-epoch resume, which skips whole batches without
reading them, replays the rest bit for bit.
"""
import numpy as np

from ..seeding import Stream, rng_for
from .ahead import made_ahead
from .augment import AugmentSettings, Draws
from .epoch_plan import cut, dropped_per_epoch, eval_slice, steps_per_epoch, train_slice, window_order, window_rows
from .preprocess import normalize, to_nd
from .shards import input_shape

UNCHUNKED_ROWS = 64  # a contiguous (unchunked) dataset reads any run of rows cheaply; plan it as mxdl-pack's chunks


class H5Dataset:
    def __init__(self, data_dir, manifest, cfg_data, rank, size, seed, mean, augment_settings=None):
        self.cfg = cfg_data
        self.manifest = manifest
        self.rank, self.size, self.seed = rank, size, seed
        self.mean = np.asarray(mean, np.float32) if cfg_data["mean_subtract"] else None
        self.shape = input_shape(manifest, cfg_data["shape"])
        self.batch_size = cfg_data["batch_size"]
        self.train_split = cfg_data["train_split"]
        self.threads = int(cfg_data["threads"])  # open_dataset has settled "auto"
        self._files = {split: [path for _, path, _ in manifest.shard_paths(split)] for split in manifest.splits}
        self.train_count = manifest.split(self.train_split).records
        self.steps_per_epoch = steps_per_epoch(self.train_count, size, self.batch_size, self.train_split)
        self.dropped_per_epoch = dropped_per_epoch(self.train_count, size, self.batch_size)
        self.augment = augment_settings or (
            AugmentSettings(rotation=cfg_data["max_rotate_angle"], shift=cfg_data["shift"],
                            shear=cfg_data["max_shear_ratio"], zoom=cfg_data["zoom"],
                            flip=cfg_data["rand_mirror"]))
        self._arrays = {}

    def _load(self, split):
        """A split's files as (image datasets, label arrays); images stay on disk (h5py datasets)."""
        import h5py
        if split not in self._arrays:
            handles = [h5py.File(p, "r") for p in self._files[split]]
            self._arrays[split] = ([h["images"] for h in handles], [h["labels"][:] for h in handles])
        return self._arrays[split]

    def _read(self, split, segments):
        """The rows of ``segments`` (each a run inside one file), read as contiguous slices."""
        images, labels = self._load(split)
        x = np.concatenate([images[s.shard][s.start: s.stop] for s in segments])
        y = np.concatenate([labels[s.shard][s.start: s.stop] for s in segments])
        return x, y

    def _train_batches(self, epoch, skip):
        """``(images, labels, augment key)`` of this worker's epoch from step ``skip``, read window by window."""
        images, _ = self._load(self.train_split)
        chunk_rows = [d.chunks[0] if d.chunks else UNCHUNKED_ROWS for d in images]
        segments = train_slice([len(d) for d in images], self.rank, self.size, self.batch_size, self.seed,
                               epoch, self.train_split, chunk_rows=chunk_rows)
        b, steps = self.batch_size, self.steps_per_epoch
        window = window_rows(b, max(chunk_rows), self.cfg["shuffle_chunks"])
        per_window = window // b
        for w in range(skip // per_window, -(-steps // per_window)):
            part, order = window_order(segments, window, w, self.seed, epoch, self.rank)
            x, y = self._read(self.train_split, part)
            for step in range(max(skip, w * per_window), min(steps, (w + 1) * per_window)):
                rows = order[(step - w * per_window) * b: (step - w * per_window + 1) * b]
                yield x[rows], y[rows], (epoch, self.rank, step)

    def _prepare(self, images, labels, augment_key=None):
        """uint8 N x H x W x C rows -> float32 N x C x H x W network input and float32 labels.
        With ``augment_key``, the batch's transforms and crops are drawn from it."""
        c, h, w = self.shape
        n, ih, iw = images.shape[:3]
        rng = rng_for(self.seed, Stream.H5_AUGMENT, *augment_key) if augment_key else None
        draws = Draws.for_batch(n, ih, iw, self.augment, rng) if rng else None
        pad = self.cfg["pad"]
        ih, iw = ih + 2 * pad, iw + 2 * pad
        if self.cfg["rand_crop"] and rng is not None:
            tops, lefts = rng.integers(0, ih - h + 1, n), rng.integers(0, iw - w + 1, n)
        else:
            tops, lefts = np.full(n, (ih - h) // 2), np.full(n, (iw - w) // 2)
        out = np.empty((n, h, w, images.shape[3]), np.uint8)
        for i, image in enumerate(images):
            if draws is not None:
                image = draws.apply(i, image)
            if pad:
                image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="constant")
            out[i] = image[tops[i]: tops[i] + h, lefts[i]: lefts[i] + w]
        x = np.ascontiguousarray(normalize(out, self.mean, self.cfg["scale"]).transpose(0, 3, 1, 2))
        return x, labels.astype(np.float32)

    def train_epoch(self, epoch, skip=0):
        for x, y in made_ahead(self._train_batches(epoch, skip), self._prepare, self.threads):
            yield to_nd(x), to_nd(y)

    def val_batches(self, split=None):
        """This worker's contiguous part of an evaluation split, every row once: ``(x, y, rows)``."""
        split = split or self.cfg["val_split"]
        images, _ = self._load(split)
        segments = eval_slice([len(d) for d in images], self.rank, self.size)
        total = sum(s.count for s in segments)
        reads = (self._read(split, cut(segments, a, a + self.batch_size))
                 for a in range(0, total, self.batch_size))
        for x, y in made_ahead(reads, self._prepare, self.threads):
            yield to_nd(x), to_nd(y), len(y)
