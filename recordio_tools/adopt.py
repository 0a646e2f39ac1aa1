"""``mxdl-pack adopt``: make shards written by MXNet's own ``tools/im2rec.py`` usable by mxdl.

im2rec writes ``PREFIX.rec/.idx/.lst`` but no class names, counts or statistics.
``adopt`` reads every record once and writes ``manifest.json``, ``stats.json``
and ``labels.txt`` beside them, leaving the shards untouched, so ``mxdl-train``,
``mxdl-eval`` and ``mxdl-pack verify`` take the directory like one mxdl packed.
"""
import json
import os

import cv2
import numpy as np

from mxdl.data.manifest import MANIFEST, Manifest, file_entries
from mxdl.errors import UserError
from mxdl.fileio import atomic_write_text
from . import __version__
from .pack import ShardStats, write_stats


def _scan(rec, idx):
    """Counts, shapes and pixel sums of every record, accumulated as the packer does."""
    import mxnet as mx
    stats = ShardStats()
    reader = mx.recordio.MXIndexedRecordIO(idx, rec, "r")
    try:
        for key in reader.keys:
            header, payload = mx.recordio.unpack(reader.read_idx(key))
            image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
            if image is None:
                raise UserError(f"{rec} record {key} does not decode")
            image = image[..., None] if image.ndim == 2 else image
            label = int(header.label if np.isscalar(header.label) else header.label[0])
            stats.add(label, image.shape, cv2.meanStdDev(image))
    finally:
        reader.close()
    return stats.to_json()


def _refuse_to_replace(out):
    """A folder's manifest holds its splits, checksums and fingerprints: adopting one split's files
    over it silently dropped the rest."""
    path = os.path.join(out, MANIFEST)
    if not os.path.exists(path):
        return
    try:
        with open(path) as f:
            tool = json.load(f).get("tool", "an unknown tool")
    except (OSError, ValueError, AttributeError):
        tool = "an unreadable manifest"
    raise UserError(f"{out} already has a manifest (from {tool}); adopting would replace its splits and "
                    "checksums: pass --overwrite to replace it, or adopt into a folder of its own")


def adopt(out, splits, classes=None, log=print, overwrite=False):
    """``splits``: {split: prefix} of im2rec shards inside ``out`` (``PREFIX.rec`` + ``.idx``)."""
    if not overwrite:
        _refuse_to_replace(out)
    scans = {}
    for split, prefix in splits.items():
        rec, idx = os.path.join(out, prefix + ".rec"), os.path.join(out, prefix + ".idx")
        for path in (rec, idx):
            if not os.path.isfile(path):
                raise UserError(f"{path} not found (adopt needs the .rec and its .idx in {out})")
        scans[split] = (prefix, _scan(rec, idx))
    n_classes = 1 + max(int(k) for _, s in scans.values() for k in s["per_class"])
    if classes is None:
        classes = [str(i) for i in range(n_classes)]
    elif len(classes) < n_classes:
        raise UserError(f"{len(classes)} class names given but labels go up to {n_classes - 1}")
    entries = {split: [{**s, "name": prefix, "files": file_entries(out, [prefix + ext for ext in (".rec", ".idx", ".lst")
                                                                  if os.path.isfile(os.path.join(out, prefix + ext))])}]
               for split, (prefix, s) in scans.items()}
    channels = next(iter(s for _, s in scans.values()))["shapes"][0][2]
    stats = write_stats(out, [scans.get("train", next(iter(scans.values())))[1]], channels == 3)
    atomic_write_text(os.path.join(out, "labels.txt"), "".join(c + "\n" for c in classes))
    manifest = Manifest.assemble("rec", classes, classes, entries, stats, tool="mxdl-pack adopt",
                                 version=__version__, source="im2rec.py", options={"adopted": splits})
    manifest.save(out)
    log(f"adopted {manifest.total_records} records in {len(splits)} split(s) of {out}")
    return manifest
