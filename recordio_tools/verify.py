"""``mxdl-pack verify``: re-read every record and check it against the manifest."""
import os

import numpy as np

from mxdl.data.manifest import Manifest, check_shard_files
from mxdl.data.shards import iter_shard
from mxdl.errors import DamagedData, error_reason
from mxdl.log import progress


def _lst_labels(path):
    with open(path) as f:
        return [float(line.split("\t")[1]) for line in f if line.strip()]


def _check_records(out, manifest, shard, path, idx, bar):
    classes = len(manifest.classes)
    shape = manifest.image_shape
    labels, count = [], 0
    try:
        for key, label, image in iter_shard(manifest, path, idx):
            count += 1
            bar.update(1)
            labels.append(float(label))
            if image is None:
                yield f"{shard.name} record {key}: image does not decode"
            elif shape and list(image.shape) != shape:
                yield f"{shard.name} record {key}: shape {list(image.shape)}, manifest says {shape}"
            if not (float(label).is_integer() and 0 <= label < classes):
                yield f"{shard.name} record {key}: label {label} outside 0..{classes - 1}"
    except DamagedData as err:
        yield f"{err.problem}; later records not checked"
        return
    except Exception as err:  # a corrupted container raises from deep inside MXNet or h5py
        yield f"{shard.name}: unreadable after {count} records ({error_reason(err)})"
        return
    if count != shard.records:
        yield f"{shard.name}: {count} records, manifest says {shard.records}"
    lst = os.path.join(out, shard.name + ".lst")
    if idx and os.path.isfile(lst) and not np.array_equal(_lst_labels(lst), labels):
        yield f"{shard.name}: labels in the .lst differ from the records"


def verify(out):
    """Return a list of problems (empty when everything matches)."""
    manifest = Manifest.load(out)
    problems = []
    bar = progress(manifest.total_records, "verifying records")
    for split, info in manifest.splits.items():
        total = 0
        for shard, (_, path, idx) in zip(info.shards, manifest.shard_paths(split)):
            file_problems = list(check_shard_files(out, shard.files))
            problems += file_problems
            if not any("missing" in p for p in file_problems):
                problems += list(_check_records(out, manifest, shard, path, idx, bar))
            total += shard.records
        if total != info.records or sum(info.per_class.values()) != total:
            problems.append(f"split {split}: per-shard and per-class counts do not add up to {info.records}")
    bar.close()
    return problems
