"""HDF5 input: the book's generator, with a true global shuffle.

HDF5 allows random access by row, so every epoch draws one permutation of all
training rows from (seed, epoch) and worker r takes rows r, r+size, ... of it,
cut to the same number of full batches on every worker. A mid-epoch resume
skips batches by index, without reading them.
"""
import numpy as np

from ..seeding import Stream, derive_seed
from .augment import AugmentSettings, augment
from .epoch_plan import dropped_per_epoch, steps_per_epoch
from .preprocess import normalize
from .shards import input_shape


class H5Dataset:
    def __init__(self, data_dir, manifest, cfg_data, rank, size, seed, mean, augment_settings=None):
        self.cfg = cfg_data
        self.manifest = manifest
        self.rank, self.size, self.seed = rank, size, seed
        self.mean = np.asarray(mean, np.float32) if cfg_data["mean_subtract"] else None
        self.shape = input_shape(manifest, cfg_data["shape"])
        self.batch_size = cfg_data["batch_size"]
        self.train_split = cfg_data["train_split"]
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
        """Rows of a split as (images, labels); images stay on disk (h5py datasets)."""
        import h5py
        if split not in self._arrays:
            handles = [h5py.File(p, "r") for p in self._files[split]]
            images = [h["images"] for h in handles]
            labels = np.concatenate([h["labels"][:] for h in handles])
            offsets = np.cumsum([0] + [len(x) for x in images])
            self._arrays[split] = (images, labels, offsets)
        return self._arrays[split]

    def _rows(self, split, rows):
        images, labels, offsets = self._load(split)
        out = np.empty((len(rows),) + images[0].shape[1:], np.uint8)
        for f, block in enumerate(images):
            mask = (rows >= offsets[f]) & (rows < offsets[f + 1])
            if mask.any():
                local = rows[mask] - offsets[f]
                order = np.argsort(local)  # h5py wants increasing indices
                picked = block[local[order]]
                out[np.flatnonzero(mask)[order]] = picked
        return out, labels[rows]

    def _to_batch(self, images, labels, rng=None):
        import mxnet as mx
        c, h, w = self.shape
        pad, crop = self.cfg["pad"], self.cfg["rand_crop"] and rng is not None
        batch = []
        for image in images:
            if rng is not None:
                image = augment(image, self.augment, rng)
            if pad:
                image = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="constant")
            ih, iw = image.shape[:2]
            top, left = ((rng.randint(0, ih - h + 1), rng.randint(0, iw - w + 1)) if crop
                         else ((ih - h) // 2, (iw - w) // 2))
            batch.append(image[top: top + h, left: left + w])
        x = normalize(np.stack(batch), self.mean, self.cfg["scale"])
        return mx.nd.array(x.transpose(0, 3, 1, 2)), mx.nd.array(labels, dtype=np.float32)

    def train_epoch(self, epoch, skip=0):
        rng = np.random.RandomState(derive_seed(self.seed, Stream.H5_ORDER, epoch))
        order = rng.permutation(self.train_count)
        mine = order[self.rank::self.size][: self.steps_per_epoch * self.batch_size]
        for step in range(skip, self.steps_per_epoch):
            rows = mine[step * self.batch_size: (step + 1) * self.batch_size]
            aug_rng = np.random.RandomState(derive_seed(self.seed, Stream.H5_AUGMENT, epoch, step, self.rank))
            yield self._to_batch(*self._rows(self.train_split, rows), rng=aug_rng)

    def val_batches(self, split=None):
        split = split or self.cfg["val_split"]
        _, labels, _ = self._load(split)
        rows = np.arange(len(labels))[self.rank::self.size]
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start: start + self.batch_size]
            x, y = self._to_batch(*self._rows(split, chunk))
            yield x, y, len(chunk)
