"""Reading a shard directory's records one by one, and what the trainer derives from its manifest."""
import os

import cv2
import numpy as np

from ..errors import DamagedData, UserError, error_reason


def damaged_record(rec_path, index, key, why, offset=None):
    """The one-line error for a record that does not read, in training, evaluation and verify alike."""
    where = f"key {key}" if offset is None else f"key {key}, byte {offset}"
    return DamagedData(f"shard {os.path.basename(rec_path)}: record {index} ({where}) is damaged ({why})",
                       f"run mxdl-pack verify {os.path.dirname(rec_path) or '.'}, then re-pack or restore the shard")


def iter_rec(rec_path, idx_path, channels=3):
    """Yield ``(key, label, image_or_None)`` for every record; image is HxWxC (RGB or grey) uint8.

    Records are decoded to ``channels`` whatever their file holds (a pass-through PNG may be grey
    or RGBA), as the packer and ImageRecordIter decode them."""
    import mxnet as mx
    reader = mx.recordio.MXIndexedRecordIO(idx_path, rec_path, "r")
    try:
        for index, key in enumerate(reader.keys):
            try:
                header, payload = mx.recordio.unpack(reader.read_idx(key))
            except mx.base.MXNetError as err:
                raise damaged_record(rec_path, index, key, error_reason(err), reader.idx[key]) from None
            yield key, header.label, _decode(payload, channels)
    finally:
        reader.close()


def _decode(payload, channels):
    image = cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR if channels == 3 else cv2.IMREAD_GRAYSCALE)
    if image is not None:
        image = image[..., None] if image.ndim == 2 else image[..., ::-1]
    return image


def read_keys(manifest, rec_or_h5, idx, keys):
    """Yield ``(key, image)`` for the given record keys (RecordIO key, or HDF5 row), read by index."""
    if manifest.format != "rec":
        import h5py
        with h5py.File(rec_or_h5, "r") as f:
            for key in keys:
                yield key, f["images"][int(key)]
        return
    import mxnet as mx
    reader = mx.recordio.MXIndexedRecordIO(idx, rec_or_h5, "r")
    try:
        for key in keys:
            _, payload = mx.recordio.unpack(reader.read_idx(int(key)))
            yield key, _decode(payload, manifest.channels)
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
    return iter_rec(rec_or_h5, idx, manifest.channels) if manifest.format == "rec" else iter_h5(rec_or_h5)


def class_weights(manifest, split, spec):
    """``'balanced'`` gives the book's max(count) / count_c; a list is taken as given."""
    classes = manifest.classes
    if spec is None:
        return None
    if spec == "balanced":
        counts = [manifest.split(split).per_class.get(c, 0) for c in classes]
        if min(counts) == 0:
            raise UserError(f"train.class_weights=balanced: a class has no images in split '{split}'")
        return [max(counts) / c for c in counts]
    if isinstance(spec, list) and len(spec) == len(classes):
        return [float(x) for x in spec]
    raise UserError(f"train.class_weights must be 'balanced' or a list of {len(classes)} numbers")


def input_shape(manifest, configured):
    """C,H,W the network sees: data.shape if set, else the stored image size."""
    if configured:
        if len(configured) != 3 or not all(isinstance(x, int) and x >= 1 for x in configured):
            raise UserError(f"data.shape must be [C, H, W] of positive whole numbers, got {configured}")
        stored = manifest.image_shape[2] if manifest.image_shape else None
        if stored and configured[0] != stored:
            # training would feed the stored channels and evaluation would convert them: refuse instead
            raise UserError(f"data.shape has {configured[0]} channel(s) but the shards store {stored}: "
                            f"set data.shape=[{stored}, {configured[1]}, {configured[2]}]")
        return tuple(configured)
    if not manifest.image_shape:
        raise UserError("images in data.dir have different sizes: set data.shape (e.g. [3, 224, 224])")
    h, w, c = manifest.image_shape
    return (c, h, w)
