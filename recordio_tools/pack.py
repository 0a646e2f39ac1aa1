"""Pack an image list into RecordIO or HDF5 shards, with stats, manifest and resumable output.

Layout of an output directory::

    OUT/train-00000-of-00002.rec/.idx/.lst   (or train-00000-of-00001.h5)
    OUT/labels.txt   OUT/stats.json   OUT/manifest.json

Images are decoded and encoded in worker processes (``--workers``); the main
process writes records in list order, so a given command always yields the
same bytes. Every file is written under a temporary name and renamed when
complete; the manifest is written last. A shard whose final files exist from
an earlier run of the same plan is kept, so re-running an interrupted command
finishes the job.
"""
import contextlib
import errno
import fcntl
import functools
import gc
import hashlib
import json
import multiprocessing as mp
import multiprocessing.pool
import os
import random
import re
import shutil
import signal
import sys
import time

import numpy as np

from mxdl.data.manifest import MANIFEST, Manifest, check_shard_files, file_entries
from mxdl.data.recordfile import HashedFile, IndexedRecordWriter, framed_images
from mxdl.errors import RunFailed, UserError
from mxdl.fileio import atomic_write, atomic_write_json, atomic_write_text, make_folder, partial_files_removed
from mxdl.topology import usable_cores
from . import __version__
from .images import ImageOptions, encode_chunk, load_and_encode, stat_print, stats_rows
from .listing import list_images
from .split import parse_split, stratified_split

PLAN = ".pack-plan.json"
LOCK = ".pack.lock"


def shard_name(split, i, n):
    return f"{split}-{i:05d}-of-{n:05d}"


def _worker_setup():
    # ctrl+c reaches the whole process group: only the main process acts on it (it terminates the
    # pool), so workers neither print tracebacks nor die holding the pool's locks. And a worker
    # ends with the main process, whatever ends it: an orphaned worker kept the terminal's pipes
    # open after the main process had said "interrupted" and exited.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()


def _die_with_parent():
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):  # not Linux: the pool's own shutdown has to do
        pass


@contextlib.contextmanager
def _parents_objects_frozen():
    """Workers forked meanwhile never free what they inherit. A fork copies the parent's garbage as
    well; freed by a worker's collector, an MXNet iterator left by an earlier training in the same
    process (a notebook, the test suite) waits for decode threads that the fork did not copy, and
    the worker and the build hang. So the garbage is collected first, and what is left moves to the
    collector's permanent generation, which the workers never examine."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _pool(workers):
    """The worker pool (None for one worker), terminated on leaving. ctrl+c is held back while it
    forks (one landing mid-fork left a worker half set up) and until it is bound, so the
    interrupt arrives where the pool is sure to be terminated."""
    if workers <= 1:
        yield None
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        with _parents_objects_frozen():
            pool = mp.get_context("fork").Pool(workers, initializer=_worker_setup)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        yield pool
    finally:
        pool.terminate()


def _after_a_worker_died(pool):
    """The build's error when a worker died, with the pool left to die with the process: a worker
    killed mid-way can hold the task queue's read lock (an idle worker waits holding it) or the
    result queue's write lock, or leave half a result in its pipe, and Pool.terminate() then waits
    forever for its handler threads. So no replacement is started, the workers are killed and the
    pool's termination is cancelled; its handler threads are daemons and end with the process."""
    pool._worker_handler._state = mp.pool.TERMINATE
    for proc in pool._pool:
        proc.kill()
    pool._terminate.cancel()
    return RunFailed("a packing worker died (killed by the out-of-memory killer or a signal); the shards written "
                     "so far are kept: run the same command again to finish, or use fewer --workers")


class _Progress:
    """tqdm bar with images/s on a terminal; silent otherwise, and then tqdm is not even imported
    (a tenth of a second, a tenth of packing 10,000 CIFAR images on two cores)."""

    def __init__(self, total, desc):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=desc, unit="img", dynamic_ncols=True, smoothing=0.1)

    def update(self, n=1):
        if self.bar is not None:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class ShardStats:
    """Accumulates per-class counts, skipped files and pixel sums while a shard is written."""

    def __init__(self, listed=0):
        self.records = 0
        self.per_class = {}
        self.skipped = []
        self.sum = None
        self.sqsum = None
        self.pixels = 0
        self.shapes = set()
        self.prints = np.full((listed, 2), -1, np.int64)   # the inputs' (size, mtime_ns) as read, in list order

    def add(self, label, shape, moments):
        """One image, with cv2.meanStdDev's moments."""
        self.add_rows([label], [shape], stats_rows([shape], [moments]))

    def add_rows(self, labels, shapes, stats):
        """Images written, with their stats rows as :func:`encode_chunk` makes them."""
        self.records += len(labels)
        for label in labels:
            self.per_class[label] = self.per_class.get(label, 0) + 1
        if len(labels):
            total = stats.sum(0)
            c = (len(total) - 1) // 2
            self.sum = total[:c] if self.sum is None else self.sum + total[:c]
            self.sqsum = total[c:2 * c] if self.sqsum is None else self.sqsum + total[c:2 * c]
            self.pixels += int(total[-1])
        self.shapes.update(tuple(int(x) for x in shape) for shape in set(shapes))

    def to_json(self):
        return {"records": self.records, "per_class": {str(k): v for k, v in sorted(self.per_class.items())},
                "skipped": self.skipped,
                "pixel_sum": None if self.sum is None else self.sum.tolist(),
                "pixel_sqsum": None if self.sqsum is None else self.sqsum.tolist(),
                "pixels": self.pixels, "shapes": sorted(self.shapes)}


CHUNK = 256  # images a worker encodes per task: each task costs the writing process ~1 ms in multiprocessing's threads


def _records_chunk(task, opts):
    """A worker's task for a RecordIO shard: ``(reasons or shapes, stats, prints, records, lengths)``,
    :func:`encode_chunk`'s results with the encoded images framed as records (framed_images)."""
    paths, labels = task
    results, stats, prints = encode_chunk(paths, opts)
    done = [(label, r) for label, r in zip(labels, results) if not isinstance(r, str)]
    records, lengths = framed_images([label for label, _ in done], [r[0] for _, r in done])
    return [r if isinstance(r, str) else r[1] for r in results], stats, prints, records, lengths


def _pixels_chunk(task, opts):
    """A worker's task for an HDF5 shard: :func:`encode_chunk`'s ``(results, stats, prints)``."""
    return encode_chunk(task[0], opts)


def _encoded_chunks(items, work, pool):
    """``(start, (items, *work(task)))`` for consecutive chunks of ``items``, in order; a task is the
    chunk's paths and labels."""
    bounds = range(0, len(items), CHUNK)
    tasks = (([it.path for it in items[i:i + CHUNK]], [it.label for it in items[i:i + CHUNK]]) for i in bounds)
    if pool is None:
        for i, task in zip(bounds, tasks):
            yield i, (items[i:i + CHUNK], *work(task))
        return
    # multiprocessing.Pool quietly replaces a worker that dies (the OOM killer, a kill -9) and then
    # waits forever for the images it held: a changed set of workers ends the build instead.
    # Chunks are made here: imap's own chunksize returns a plain generator, without next(timeout).
    workers = {proc.pid for proc in pool._pool}
    results = pool.imap(work, tasks)  # work's options pickled once a chunk
    for i in bounds:
        while True:
            try:
                chunk = results.next(timeout=2)
            except mp.TimeoutError:
                chunk = None
            if {proc.pid for proc in pool._pool} != workers:   # one died, perhaps holding images
                raise _after_a_worker_died(pool)
            if chunk is not None:
                yield i, (items[i:i + CHUNK], *chunk)
                break


def write_rec_shard(out, name, items, opts, pool, progress):
    """Write ``name.rec/.idx/.lst`` (MXNet's indexed RecordIO and im2rec's list), then rename into place;
    returns the stats and the three files' manifest entries (sizes and checksums taken as written)."""
    tmp = {ext: os.path.join(out, f".{name}.{ext}.tmp") for ext in ("rec", "idx", "lst")}
    stats = ShardStats(len(items))
    work = functools.partial(_records_chunk, opts=opts)
    with partial_files_removed(list(tmp.values()), os.path.join(out, f"{name}.rec")):
        writer = IndexedRecordWriter(tmp["idx"], tmp["rec"])
        lst = HashedFile(tmp["lst"])
        try:
            for start, (chunk, results, rows, prints, records, lengths) in _encoded_chunks(items, work, pool):
                progress.update(len(chunk))
                stats.prints[start: start + len(chunk)] = prints
                written = [(item, result) for item, result in zip(chunk, results) if not isinstance(result, str)]
                stats.skipped += [[item.path, result] for item, result in zip(chunk, results) if isinstance(result, str)]
                lst.write("".join(f"{key}\t{item.label:f}\t{item.path}\n"
                                  for key, (item, _) in enumerate(written, writer.count)).encode())
                writer.write_framed(records, lengths)
                stats.add_rows([item.label for item, _ in written], [shape for _, shape in written], rows)
        finally:
            lst.close()
        writer.close()
        for ext in ("lst", "idx", "rec"):  # .rec last: its presence marks the shard complete
            os.replace(tmp[ext], os.path.join(out, f"{name}.{ext}"))
    files = {"rec": writer.rec, "idx": writer.idx, "lst": lst}
    return stats, {f"{name}.{ext}": files[ext].entry() for ext in ("rec", "idx", "lst")}


def _check_room_for(path, size):
    """HDF5 (1.12, through h5py) crashes the process on a write that finds the disk full, so an
    HDF5 shard is refused up front when its uncompressed size does not fit."""
    free = shutil.disk_usage(os.path.dirname(path)).free
    if free < size + (1 << 20):
        raise OSError(errno.ENOSPC, f"{size >> 20} MiB needed, {free >> 20} MiB free", path)


def _h5_datasets(f, rows, h, w, c, classes, compression):
    import h5py
    images = f.create_dataset("images", shape=(rows, h, w, c), maxshape=(None, h, w, c), dtype="uint8",
                              chunks=(min(rows, 64), h, w, c), compression=compression)
    labels = f.create_dataset("labels", shape=(rows,), maxshape=(None,), dtype="int64")
    f.create_dataset("label_names", data=np.array(classes, dtype=object), dtype=h5py.string_dtype())
    f.attrs["channel_order"] = "RGB" if c == 3 else "L"
    return images, labels


class _RowBuffer:
    """Rows gathered in memory and written to the HDF5 datasets a block at a time."""

    def __init__(self, images, labels, stats):
        self.images, self.labels, self.stats = images, labels, stats
        self.x, self.y = [], []

    def add(self, payload, label):
        self.x.append(payload)
        self.y.append(label)

    def flush(self):
        if self.x:
            start = self.stats.records - len(self.x)
            self.images[start: self.stats.records] = np.stack(self.x)
            self.labels[start: self.stats.records] = self.y
            self.x.clear()
            self.y.clear()


def write_h5_shard(out, name, items, opts, pool, progress, classes, compression=None, buffer_rows=1000):
    """Write ``name.h5`` (images N x H x W x C uint8 RGB, labels, label_names) in buffered batches."""
    import h5py
    final, tmp = os.path.join(out, f"{name}.h5"), os.path.join(out, f".{name}.h5.tmp")
    stats = ShardStats(len(items))
    h, w, c = opts.height, opts.width, 1 if not opts.color else 3
    _check_room_for(final, len(items) * (h * w * c + 8))
    with partial_files_removed([tmp], final):
        with h5py.File(tmp, "w") as f:
            images, labels = _h5_datasets(f, len(items), h, w, c, classes, compression)
            rows = _RowBuffer(images, labels, stats)
            work = functools.partial(_pixels_chunk, opts=opts)
            for start, (chunk, results, stat_rows, prints) in _encoded_chunks(items, work, pool):
                progress.update(len(chunk))
                stats.prints[start: start + len(chunk)] = prints
                kept_labels, kept, row = [], [], 0  # row: the result's row in stat_rows (encoded images only)
                for item, result in zip(chunk, results):
                    if isinstance(result, str):
                        stats.skipped.append([item.path, result])
                        continue
                    if result[1] != (h, w, c):
                        stats.skipped.append([item.path, f"size {result[1][1]}x{result[1][0]} is not {w}x{h}"])
                    else:
                        rows.add(result[0], item.label)
                        kept_labels.append(item.label)
                        kept.append(row)
                    row += 1
                stats.add_rows(kept_labels, [(h, w, c)] * len(kept_labels), stat_rows[kept])
                if len(rows.x) >= buffer_rows:
                    rows.flush()
            rows.flush()
            images.resize(stats.records, axis=0)  # skipped files leave unused rows at the end
            labels.resize(stats.records, axis=0)
        os.replace(tmp, final)
    return stats


def plan_splits(listing, split_spec, seed, merge=False):
    """The layout's own splits, with ``split_spec`` carved out of its train (or unsplit) pool.

    ``merge`` pools every split the layout defines before carving, to re-split a
    dataset that comes split. Every split is shuffled with the seed, so no shard
    holds a run of one class (the reader shuffles within record ranges).
    """
    splits = dict(listing.splits)
    if merge:
        splits = {"all": [item for name in sorted(splits) for item in splits[name]]}
    if split_spec:
        parts = parse_split(split_spec)
        pool_name = "all" if "all" in splits else "train"
        carved = stratified_split(splits.pop(pool_name), parts, seed)
        for name in carved:
            if name in splits:
                raise UserError(f"--split-sizes names '{name}', which the dataset layout already defines "
                                f"(add --merge-splits to re-split everything)")
        splits.update(carved)
    elif "all" in splits:
        splits["train"] = splits.pop("all")
    for name, items in splits.items():
        if not items:
            raise UserError(f"split '{name}' is empty")
        random.Random(f"{seed}:{name}").shuffle(items)
    return splits


def _plan_fingerprint(splits, opts, shards, fmt):
    h = hashlib.sha256()
    h.update(json.dumps([fmt, shards, opts.__dict__], sort_keys=True).encode())
    for name in sorted(splits):
        for item in splits[name]:
            h.update(f"{name}\t{item.label}\t{item.path}\n".encode())
    return h.hexdigest()


# What a build writes into OUT (shards, their temporaries and done-markers, and the files below);
# --overwrite removes exactly these, so an OUT that also holds other files keeps them.
_OWN_FILE = re.compile(r"^\.?[\w.]+-\d{5}-of-\d{5}\.(rec|idx|lst|h5)(\.tmp)?$|^\.[\w.]+-\d{5}-of-\d{5}\.(done\.json|inputs\.npy)$")
_OWN_NAMES = {MANIFEST, "stats.json", "labels.txt", PLAN}  # not LOCK: it is held while removing


def own_files(out):
    return sorted(n for n in os.listdir(out) if n in _OWN_NAMES or _OWN_FILE.match(n))


def check_out_apart_from_src(src, out):
    """Packing into the source tree (or around it) would list the shards as images, or put the
    source images in reach of --overwrite."""
    src_real, out_real = os.path.realpath(src), os.path.realpath(out)
    if not os.path.isdir(src_real):
        src_real = os.path.dirname(src_real)  # a CSV/.lst: its folder holds (or leads to) the images
        if out_real == src_real:
            raise UserError(f"output {out} is the folder of the list {src}: choose a separate output folder")
        return
    if out_real == src_real or out_real.startswith(src_real + os.sep) or src_real.startswith(out_real + os.sep):
        raise UserError(f"output {out} and source {src} overlap (one is inside the other): "
                        "choose an output folder outside the source tree")


def _lock_output(out):
    """One build per output folder: a second one at the same time would interleave their shards."""
    make_folder(out, "output")
    lock = open(os.path.join(out, LOCK), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise UserError(f"another mxdl-pack build is writing to {out}: wait for it to end, or choose another "
                        f"output folder") from None
    return lock


def _prepare_out(out, fingerprint, overwrite):
    plan_path = os.path.join(out, PLAN)
    previous = None
    if os.path.isfile(plan_path):
        with open(plan_path) as f:
            previous = json.load(f).get("fingerprint")
    has_output = os.path.isfile(os.path.join(out, MANIFEST)) or previous is not None
    if has_output and previous != fingerprint:
        if not overwrite:
            raise UserError(f"{out} already holds shards from a different input or options; "
                            "pass --overwrite to replace them, or choose another output folder")
        for name in own_files(out):
            os.remove(os.path.join(out, name))
    atomic_write_json(plan_path, {"fingerprint": fingerprint})


def _channel_stats(per_shard):
    total = sum(s["pixels"] for s in per_shard)
    psum = np.sum([s["pixel_sum"] for s in per_shard if s["pixels"]], axis=0)
    psq = np.sum([s["pixel_sqsum"] for s in per_shard if s["pixels"]], axis=0)
    mean = psum / total
    std = np.sqrt(np.maximum(psq / total - mean * mean, 0))
    return mean.tolist(), std.tolist()


def write_stats(out, train_shards, color):
    mean, std = _channel_stats(train_shards)
    stats = {"split": "train", "images": sum(s["records"] for s in train_shards),
             "channel_order": "RGB" if color else "L", "mean": mean, "std": std}
    if color:
        stats.update({"R": mean[0], "G": mean[1], "B": mean[2]})  # the book's key names
    atomic_write_json(os.path.join(out, "stats.json"), stats)
    return stats


MAX_SIDE = 16384  # larger stored images are a mistake (or a decompression bomb), not a dataset


def _parse_size(size):
    try:
        width, height = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size '{size}' must look like WIDTHxHEIGHT, e.g. 64x64") from None
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise UserError(f"--size '{size}': width and height must be 1 to {MAX_SIDE} pixels")
    return width, height


def _check_image_options(resize, quality, encoding, workers):
    if not 0 <= resize <= MAX_SIDE:
        raise UserError(f"--resize {resize}: the shorter side must be 1 to {MAX_SIDE} pixels (0: keep)")
    low, high = (0, 9) if encoding == ".png" else (1, 100)
    if not low <= quality <= high:
        raise UserError(f"--quality {quality}: must be {low} to {high} for {encoding[1:].upper()}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: must be at least 1 (0: all cores)")


def _check_build_options(fmt, shards, size, quality, encoding, resize, workers, pass_through, color):
    """Every option checked before anything is listed or written; returns (width, height, quality)."""
    if fmt not in ("rec", "hdf5"):
        raise UserError(f"--format must be rec or hdf5, got {fmt}")
    if shards < 1:
        raise UserError("--shards must be at least 1")
    width, height = _parse_size(size) if size else (0, 0)
    quality = (95 if encoding == ".jpg" else 9) if quality is None else quality  # 9: PNG's smallest files
    _check_image_options(resize, quality, encoding, workers)
    if pass_through and (resize or size or not color):
        raise UserError("--pass-through stores the original bytes: it cannot be combined with "
                        "--resize, --size or --gray")
    return width, height, quality


def build(src, out, fmt="rec", shards=1, split=None, resize=0, size=None, quality=None,
          encoding=".jpg", pass_through=False, color=True, workers=None, seed=0, layout=None,
          compression=None, overwrite=False, merge_splits=False, follow_links=False, log=print):
    """Pack ``src`` into ``out``; returns the manifest dict. See module docstring."""
    width, height, quality = _check_build_options(fmt, shards, size, quality, encoding, resize, workers,
                                                  pass_through, color)
    listing = list_images(src, layout, follow_links)
    check_out_apart_from_src(src, out)
    splits = plan_splits(listing, split, seed, merge_splits)
    if fmt == "hdf5" and not width:
        width, height = _common_size(splits, color)
    opts = ImageOptions(resize=resize, width=width, height=height, color=color, encoding=encoding,
                        quality=quality, pass_through=pass_through, keep_pixels=(fmt == "hdf5"))
    lock = _lock_output(out)  # held until the build returns or the process ends
    try:
        _prepare_out(out, _plan_fingerprint(splits, opts, shards, fmt), overwrite)
        atomic_write_text(os.path.join(out, "labels.txt"), "".join(c + "\n" for c in listing.classes))
        started = time.time()
        shard_info = _pack_splits(out, splits, shards, fmt, opts, workers or usable_cores(), listing, compression, log)
        elapsed = time.time() - started
        _check_no_empty_class(listing, shard_info)
        options = {"shards": shards, "seed": seed, "split": split, "resize": opts.resize,
                   "size": f"{opts.width}x{opts.height}" if opts.width else None, "color": opts.color,
                   "encoding": opts.encoding, "quality": opts.quality, "pass_through": opts.pass_through,
                   "compression": compression}
        manifest = _save_manifest(out, fmt, src, listing, shard_info, options)
        _report_build(manifest, out, fmt, elapsed, sum(len(v) for v in splits.values()), log)
        return manifest
    finally:
        lock.close()


def _pack_splits(out, splits, shards, fmt, opts, workers, listing, compression, log):
    """Every split's shards, train first; ``{split: [shard entry]}``."""
    progress = _Progress(sum(len(v) for v in splits.values()), f"packing {os.path.basename(os.path.normpath(out))}")
    shard_info = {}
    try:
        with _pool(workers) as pool:
            for split_name in sorted(splits, key=lambda s: (s != "train", s)):
                shard_info[split_name] = _write_split(out, split_name, splits[split_name], shards, fmt, opts,
                                                      pool, progress, listing.classes, compression, log)
    finally:
        progress.close()
    return shard_info


def _save_manifest(out, fmt, src, listing, shard_info, options):
    stats = write_stats(out, shard_info["train"] if "train" in shard_info else next(iter(shard_info.values())),
                        options["color"])
    skipped = [s for entries in shard_info.values() for e in entries for s in e["skipped"]]
    manifest = Manifest.assemble(
        fmt, listing.classes, [listing.readable_names.get(c, c) for c in listing.classes], shard_info, stats,
        tool="mxdl-pack", version=__version__, source=os.path.abspath(src), options=options,
        skipped=skipped + [list(s) for s in listing.skipped])
    manifest.save(out)
    return manifest


def _report_build(manifest, out, fmt, elapsed, total, log):
    skipped = manifest.skipped
    log(f"packed {manifest.total_records} images into {out} ({fmt}) in {elapsed:.1f}s "
        f"({total / max(elapsed, 1e-9):.0f} img/s); skipped {len(skipped)}")
    for path, reason in skipped[:20]:
        log(f"  skipped {path}: {reason}")
    if len(skipped) > 20:
        log(f"  ... and {len(skipped) - 20} more (listed in {os.path.join(out, MANIFEST)})")


def _check_no_empty_class(listing, shard_info):
    """A class whose every file was unreadable would train a head for a class with no examples."""
    seen = {int(k) for entries in shard_info.values() for e in entries for k, n in e["per_class"].items() if n}
    empty = [c for i, c in enumerate(listing.classes) if i not in seen]
    if empty:
        raise UserError(f"class {', '.join(empty[:5])} has no readable image (every file was unreadable): "
                        f"fix or remove it; the shards written so far are kept for the re-run")


def _common_size(splits, color):
    """HDF5 needs one image size: take it from the first readable image and say so."""
    for items in splits.values():
        for item in items[:50]:
            enc = load_and_encode(item.path, ImageOptions(color=color, keep_pixels=True))
            if not isinstance(enc, str):
                return enc.shape[1], enc.shape[0]
    raise UserError("no readable image found to take the HDF5 image size from; pass --size WxH")


def _shard_done_json(out, name):
    return os.path.join(out, f".{name}.done.json")


def _input_fingerprints(items):
    """Each file's :func:`stat_print`, in list order, as the packing workers take them when they
    read it. The paths are the plan's (its fingerprint covers them), so 16 bytes an image are
    kept, not a list of lists."""
    return np.array([stat_print(item.path) for item in items], np.int64).reshape(-1, 2)


def _digest(prints):
    # hashed and saved (_save_inputs) where they are: copies of them set a build's peak memory
    return hashlib.sha256(prints).hexdigest()


def _inputs_file(out, name):
    return os.path.join(out, f".{name}.inputs.npy")


def _save_inputs(out, name, prints):
    atomic_write(_inputs_file(out, name), lambda f: np.save(f, prints))


def _changed_inputs(out, name, prints, items):
    """Paths whose size or time differs from when the shard was written ([] when that is unknown)."""
    try:
        before = np.load(_inputs_file(out, name))
    except (OSError, ValueError):
        return []
    if before.shape != prints.shape:
        return [item.path for item in items]
    return [items[i].path for i in np.flatnonzero((before != prints).any(1))]


def _finished_entry(out, name, items, log):
    """The manifest entry an earlier run of this plan left for shard ``name``, when its inputs and
    its files are as they were then; None (saying why) when it must be written again."""
    with open(_shard_done_json(out, name)) as f:
        entry = json.load(f)
    fingerprints = _input_fingerprints(items)
    if entry.get("inputs") != _digest(fingerprints):
        changed = _changed_inputs(out, name, fingerprints, items)
        log(f"{name}: {len(changed)} input file(s) changed since it was written (size or time), e.g. "
            f"{changed[0]}; writing it again" if changed else f"{name}: written by another mxdl-pack version; "
                                                             f"writing it again")
        return None
    # a shard file deleted or cut short since (by hand, or a crash before the disk had it all) is
    # rewritten, not listed in a manifest that training would find it missing from
    problems = list(check_shard_files(out, entry["files"], checksums=False))
    if problems:
        log(f"{name} changed since it was written ({problems[0]}); writing it again")
        return None
    return entry


def _write_split(out, split_name, items, shards, fmt, opts, pool, progress, classes, compression, log):
    n = min(shards, len(items))
    bounds = [round(i * len(items) / n) for i in range(n + 1)]
    info = []
    for i in range(n):
        name = shard_name(split_name, i, n)
        chunk = items[bounds[i]: bounds[i + 1]] if n > 1 else items   # one shard: the split, not a copy of it
        done = _shard_done_json(out, name)
        finished = _finished_entry(out, name, chunk, log) if os.path.isfile(done) else None
        if finished:
            info.append(finished)
            progress.update(len(chunk))
            continue
        if fmt == "rec":
            stats, files = write_rec_shard(out, name, chunk, opts, pool, progress)
        else:   # h5py writes the file itself: it is read again for its checksum
            stats = write_h5_shard(out, name, chunk, opts, pool, progress, classes, compression)
            files = file_entries(out, [f"{name}.h5"])
        fingerprints = stats.prints  # as the workers read the files, not as stat'ed before
        entry = {"name": name, "listed": len(chunk), **stats.to_json(),
                 "files": files, "inputs": _digest(fingerprints)}
        _save_inputs(out, name, fingerprints)
        atomic_write_json(done, entry)
        info.append(entry)
    return info
