"""mxdl's exact-epoch RecordIO reader against raw ImageRecordIter, in one run.

Baseline: ``mx.io.ImageRecordIter`` over every train shard with ``num_parts=size``,
``part_index=rank``, shuffle and the same decode/augment options: what the reader
did before it made epochs exact. Measured for 1 and 2 simulated workers (worker 0's
share, read alone), alternating baseline and mxdl, best of ``--repeat``. Goal:
mxdl >= 0.9x. Also: the reader's start-up cost per epoch (building the plan and
opening the first range) with ``--many-shards`` shards, and the data-wait share of a
real mxdl-train epoch.

    python bench/reader_vs_imagerecorditer.py --shards DIR [--threads 2] [--batch 64]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import figure, report  # noqa: E402

OPTIONS = {"rand_crop": True, "rand_mirror": True, "pad": 4}


def data_cfg(batch, threads, shape=None):
    from mxdl.config import defaults
    return {**defaults()["data"], "batch_size": batch, "threads": threads, "mean_subtract": True, "shape": shape,
            **OPTIONS}


def drain(batches):
    import mxnet as mx
    n = 0
    for b in batches:
        n += b[0].shape[0]
    mx.nd.waitall()
    return n


def raw_imagerecorditer(shards, manifest, rank, size, batch, threads, shape=None):
    import mxnet as mx
    from mxdl.data.shards import input_shape
    shape = input_shape(manifest, shape)
    for _, rec, idx in manifest.shard_paths("train"):
        it = mx.io.ImageRecordIter(path_imgrec=rec, path_imgidx=idx, num_parts=size, part_index=rank,
                                   data_shape=shape, batch_size=batch, preprocess_threads=threads, shuffle=True,
                                   round_batch=True, mean_r=120, mean_g=120, mean_b=120, **OPTIONS)
        for b in it:
            yield b.data[0], b.label[0]


def mxdl_reader(shards, manifest, rank, size, batch, threads, shape=None):
    from mxdl.data.recordio import RecordDataset
    ds = RecordDataset(shards, manifest, data_cfg(batch, threads, shape), rank, size, 0, manifest.stats["mean"])
    return ds.train_epoch(0)


def rate(fn, *args):
    start = time.perf_counter()
    n = drain(fn(*args))
    return n / (time.perf_counter() - start)


def compare(shards, batch, threads, repeat, shape=None):
    from mxdl.data.manifest import Manifest
    manifest = Manifest.load(shards)
    for size in (1, 2):
        best = {"ImageRecordIter (num_parts)": 0.0, "mxdl RecordDataset": 0.0}
        for _ in range(repeat):  # alternate, so drift in machine load hits both alike
            best["ImageRecordIter (num_parts)"] = max(best["ImageRecordIter (num_parts)"], rate(
                raw_imagerecorditer, shards, manifest, 0, size, batch, threads, shape))
            best["mxdl RecordDataset"] = max(best["mxdl RecordDataset"], rate(
                mxdl_reader, shards, manifest, 0, size, batch, threads, shape))
        report(f"reading worker 0's share of {manifest.split('train').records} records"
               f"{' cropped to ' + 'x'.join(map(str, shape)) if shape else ''}, "
               f"{size} worker(s), batch {batch}, {threads} threads", list(best.items()),
               "ImageRecordIter (num_parts)")


def packed_photos(work, count):
    """``count`` 256-px crops of scikit-learn's sample photographs, packed as 4 shards as they are."""
    from bench.pack_vs_im2rec import make_photos
    src = make_photos(os.path.join(work, "photos"), count)
    out = os.path.join(work, "shards")
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "mxdl-pack"), "build", src, out, "--shards", "4",
                    "--pass-through"], check=True, capture_output=True)
    return out


def startup_cost(n_shards, batch):
    """Seconds from a new epoch to its first batch, with n_shards tiny shards."""
    import numpy as np
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
    from test_reader import write_shards
    from mxdl.data.recordio import RecordDataset
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_shards(tmp, {"train": [20] * n_shards})
        start = time.perf_counter()
        ds = RecordDataset(tmp, manifest, data_cfg(batch, 1) | {"pad": 0, "rand_crop": False}, 0, 8, 0, [0, 0, 0])
        opened = time.perf_counter() - start
        times = []
        for epoch in range(3):
            start = time.perf_counter()
            next(iter(ds.train_epoch(epoch)))
            times.append(time.perf_counter() - start)
    figure(f"reader start-up with {n_shards} shards (8 workers, worker 0)",
           f"opening {opened:.3f}s (reads and checks every .idx), first batch of an epoch {np.median(times):.3f}s "
           "(median of 3)", opening_s=round(opened, 3), first_batch_s=round(float(np.median(times)), 3))


def data_wait(shards, batch, threads):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "mxdl-train"), "configs/cifar10_minivggnet.yaml",
                        f"data.dir={shards}", "train.epochs=1", f"data.batch_size={batch}", f"data.threads={threads}",
                        "data.val_split=", "checkpoint.export=false", "--output", tmp],
                       check=True, capture_output=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        epoch = json.load(open(os.path.join(tmp, "history.json")))["epochs"][0]
    figure("mxdl-train, 1 worker, MiniVGGNet, one epoch",
           f"{epoch['images_per_sec']:.0f} img/s, data-wait {epoch['data_wait']:.1%} of {epoch['seconds']:.1f}s",
           images_per_sec=round(epoch["images_per_sec"], 1), data_wait=round(epoch["data_wait"], 4))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shards", required=True, help="an mxdl-pack RecordIO directory with a train split")
    p.add_argument("--photos", type=int, default=0,
                   help="also read this many 256-px photographs (generated here), cropped to 224 px")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--many-shards", type=int, default=256)
    p.add_argument("--skip-train", action="store_true", help="leave out the mxdl-train data-wait run")
    a = p.parse_args(argv)
    compare(a.shards, a.batch, a.threads, a.repeat)
    if a.photos:
        with tempfile.TemporaryDirectory() as work:
            compare(packed_photos(work, a.photos), a.batch, a.threads, a.repeat, (3, 224, 224))
    startup_cost(a.many_shards, a.batch)
    if not a.skip_train:
        data_wait(a.shards, a.batch, a.threads)


if __name__ == "__main__":
    main()
