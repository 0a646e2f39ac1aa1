"""Read back what ``mxdl-pack`` wrote: the manifest and the records of each shard."""
import json
import os

import cv2
import numpy as np

from mxdl.errors import UserError
from .pack import MANIFEST


def load_manifest(out):
    path = os.path.join(out, MANIFEST)
    if not os.path.isfile(path):
        raise UserError(f"{out} has no {MANIFEST}: it is not a finished mxdl-pack output "
                        "(re-run the same mxdl-pack build command to complete it)")
    with open(path) as f:
        return json.load(f)


def shard_files(out, manifest, split):
    """Paths of a split's shards: ``[(name, path_of_rec_or_h5, path_of_idx_or_None)]``."""
    if split not in manifest["splits"]:
        raise UserError(f"split '{split}' is not in {out} (it has: {', '.join(manifest['splits'])})")
    ext = ".rec" if manifest["format"] == "rec" else ".h5"
    return [(s["name"], os.path.join(out, s["name"] + ext),
             os.path.join(out, s["name"] + ".idx") if ext == ".rec" else None)
            for s in manifest["splits"][split]["shards"]]


def iter_rec(rec_path, idx_path):
    """Yield ``(key, label, image_or_None)`` for every record; image is HxWxC RGB uint8."""
    import mxnet as mx
    reader = mx.recordio.MXIndexedRecordIO(idx_path, rec_path, "r")
    try:
        for key in reader.keys:
            header, payload = mx.recordio.unpack(reader.read_idx(key))
            image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_UNCHANGED)
            if image is not None:
                image = image[..., None] if image.ndim == 2 else image[..., ::-1]
            yield key, header.label, image
    finally:
        reader.close()


def iter_h5(path):
    import h5py
    with h5py.File(path, "r") as f:
        images, labels = f["images"], f["labels"]
        for start in range(0, len(labels), 1000):
            block_x, block_y = images[start: start + 1000], labels[start: start + 1000]
            for i, (x, y) in enumerate(zip(block_x, block_y)):
                yield start + i, float(y), x


def iter_shard(manifest, rec_or_h5, idx):
    return iter_rec(rec_or_h5, idx) if manifest["format"] == "rec" else iter_h5(rec_or_h5)
