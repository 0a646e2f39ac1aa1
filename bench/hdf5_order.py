"""HDF5 read order: a global row permutation (the reader before, batch rows scattered over the
file) against whole chunks in order (the ceiling) and mxdl's chunk-aligned order (chunks in a
seeded order, rows shuffled within windows of 8 chunks), in one run.

The files are generated in mxdl-pack's layout (uint8 N x H x W x 3, chunks of 64 rows,
uncompressed): by default Dogs-vs-Cats-sized, 25,000 x 256 x 256 x 3 (4.9 GB), and the book's
small-dataset size, 64 x 64 (a chunk then fits HDF5's 1 MiB chunk cache, so every scattered
row reads its whole chunk). Each order reads --megabytes of images in batches of 32, from the
disk ("cold": the file's pages dropped with posix_fadvise first) and from the page cache ("warm":
the whole file read through first).
Read MB/s counts image bytes delivered. The last row is the whole training stream (augmented
with the book's settings, normalised, on data.threads threads).

    python bench/hdf5_order.py [--rows 25000] [--sizes 256,64] [--megabytes 600]
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import figure, report  # noqa: E402

BATCH = 32


def write_file(root, rows, side):
    """A one-shard HDF5 split written with mxdl-pack's own dataset layout, and its manifest."""
    import h5py
    from mxdl.data.manifest import Manifest
    from recordio_tools.pack import _h5_datasets
    os.makedirs(root, exist_ok=True)
    name = "train-00000-of-00001"
    pool = np.random.RandomState(0).randint(0, 255, (256, side, side, 3)).astype(np.uint8)
    labels = np.arange(rows) % 2
    with h5py.File(os.path.join(root, name + ".h5"), "w") as f:
        images, label_set = _h5_datasets(f, rows, side, side, 3, ["a", "b"], None)
        for start in range(0, rows, 1024):
            n = min(1024, rows - start)
            images[start: start + n] = pool[np.arange(start, start + n) % len(pool)]
        label_set[:] = labels
    with open(os.path.join(root, name + ".h5"), "rb+") as f:
        os.fsync(f.fileno())  # written pages are dirty until flushed, and fadvise cannot drop dirty pages
    entry = {"name": name, "records": rows, "per_class": {0: int((labels == 0).sum()), 1: int((labels == 1).sum())},
             "files": {}, "shapes": [[side, side, 3]]}
    manifest = Manifest.assemble("hdf5", ["a", "b"], ["a", "b"], {"train": [entry]},
                                 {"mean": [0, 0, 0], "std": [1, 1, 1]}, tool="bench", version="", source="",
                                 options={})
    manifest.root = root
    return manifest, os.path.join(root, name + ".h5")


def read_through(path):
    """Every page of the file into the page cache, so "warm" means warm for every order."""
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def drop_from_page_cache(path):
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def global_permutation(images, batches):
    """The reader before: one permutation of all rows, each batch's rows read sorted (h5py's rule)."""
    order = np.random.RandomState(1).permutation(len(images))
    for i in range(batches):
        yield images[np.sort(order[i * BATCH: (i + 1) * BATCH])]


def chunks_in_order(images, batches):
    for i in range(batches):
        yield images[i * BATCH: (i + 1) * BATCH]


def dataset(manifest, **cfg):
    from mxdl.config import defaults
    from mxdl.data.hdf5 import H5Dataset
    data = {**defaults()["data"], "format": "hdf5", "threads": 2, "batch_size": BATCH, "mean_subtract": False,
            "scale": 1 / 255, **cfg}
    return H5Dataset(manifest.root, manifest, data, 0, 1, seed=0, mean=[0, 0, 0])


def mxdl_order(manifest, batches):
    for i, (x, _, _) in enumerate(dataset(manifest)._train_batches(0, 0)):
        if i == batches:
            return
        yield x


def mxdl_stream(manifest, batches):
    book = {"max_rotate_angle": 30, "shift": 0.1, "max_shear_ratio": 0.2, "zoom": 0.2, "rand_mirror": True}
    for i, (x, _) in enumerate(dataset(manifest, **book).train_epoch(0)):
        if i == batches:
            return
        x.wait_to_read()
        yield x


def rate(stream, path, cold):
    if cold:
        drop_from_page_cache(path)
    start, images = time.perf_counter(), 0
    for x in stream:
        images += x.shape[0]
    return images / (time.perf_counter() - start)


def measure(rows, side, megabytes, tmp):
    import h5py
    import mxnet  # noqa: F401  (imported before any timing: the training stream needs it)
    print(f"writing {rows} x {side} x {side} x 3 ({rows * side * side * 3 / 1e9:.1f} GB) ...", flush=True)
    manifest, path = write_file(os.path.join(tmp, f"s{side}"), rows, side)
    mb_per_image = side * side * 3 / 1e6
    batches = max(10, min(int(megabytes / mb_per_image) // BATCH, rows // BATCH))
    with h5py.File(path, "r") as f:
        images = f["images"]
        for cold in (True, False):
            if not cold:
                read_through(path)
            results = [("whole chunks in order", rate(chunks_in_order(images, batches), path, cold)),
                       ("global row permutation (before)", rate(global_permutation(images, batches), path, cold)),
                       ("mxdl: chunk order, rows shuffled in 8-chunk windows",
                        rate(mxdl_order(manifest, batches), path, cold))]
            if not cold:
                results.append(("mxdl: whole training stream (augmented, 2 threads)",
                                rate(mxdl_stream(manifest, batches), path, False)))
            where = "cold (from disk)" if cold else "warm (page cache)"
            title = f"HDF5 {rows} x {side}x{side}x3, chunks of 64 rows, {batches} batches of {BATCH}, {where}"
            report(title, results, "whole chunks in order")
            figure(f"{title}: read MB/s", ", ".join(f"{name} {r * mb_per_image:,.0f} MB/s" for name, r in results),
                   **{name: round(r * mb_per_image, 1) for name, r in results})
    os.remove(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=25000)
    p.add_argument("--sizes", default="256,64", help="image sides to generate, comma-separated")
    p.add_argument("--megabytes", type=int, default=600, help="image data each order reads (at most the file)")
    p.add_argument("--dir", help="where to write the files (default: a temporary directory)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for side in (int(s) for s in args.sizes.split(",")):
            measure(args.rows, side, args.megabytes, tmp)


if __name__ == "__main__":
    main()
