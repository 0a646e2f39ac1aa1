"""Run predictors over a packed split: single center crop or 10-crop, one model or an ensemble."""
import csv
import os

import cv2
import numpy as np

from ..data.preprocess import center_crop, enlarge_as_recorditer, gray_to_rgb, ten_crop
from ..errors import UserError
from .metrics import confusion_png, rank_k, report


def iter_split(data_dir, split, rank=0, size=1):
    """Yield ``(record_id, label, image)`` of a split; with several workers each takes every size-th."""
    from ..data.manifest import Manifest
    from ..data.shards import damaged_record, iter_shard
    from ..log import progress
    manifest = Manifest.load(data_dir)
    n = 0
    bar = progress(manifest.split(split).records, f"reading {split}")
    for name, path, idx in manifest.shard_paths(split):
        for index, (key, label, image) in enumerate(iter_shard(manifest, path, idx)):
            if image is None:
                raise damaged_record(path, index, key, "the image does not decode")
            if n % size == rank:
                yield f"{name}:{key}", int(label), image
            n += 1
            bar.update(1)
    bar.close()


def read_records(data_dir, ids):
    """``{record id: image}`` for record ids ``shard:key`` (from :func:`iter_split`), read by index:
    the error grid needs a few images, not a copy of every one gathered from every worker."""
    from ..data.manifest import Manifest
    from ..data.shards import read_keys
    manifest = Manifest.load(data_dir)
    wanted = {}
    for rid in ids:
        name, key = rid.rsplit(":", 1)
        wanted.setdefault(name, []).append(int(key))
    found = {}
    for split in manifest.splits:
        for name, path, idx in manifest.shard_paths(split):
            if name in wanted:
                found.update((f"{name}:{key}", image) for key, image in read_keys(manifest, path, idx, wanted.pop(name)))
    return found


def ten_crop_note(image_shape, predictor):
    """What 10-crop really does when the crops cover the whole image (the corners are then the
    center): None when the views differ, or the image size is not known."""
    if not image_shape:
        return None
    h, w = image_shape[:2]
    if predictor.resize:
        scale = predictor.resize / min(h, w)
        h, w = max(1, round(h * scale)), max(1, round(w * scale))
    c, in_h, in_w = predictor.input_shape
    if (h, w) != (in_h, in_w):
        return None
    return (f"10-crop: the images are {w}x{h} and so is the network's input, so its 10 views are 2 distinct "
            "ones (the image and its mirror)")


def fit_to_input(image, shape, ten):
    """Crop (or, for smaller images, resize) to the network input; 1 or 10 views."""
    c, h, w = shape
    if image.shape[2] != c:
        image = gray_to_rgb(image) if c == 3 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    if image.shape[0] < h or image.shape[1] < w:
        enlarged = enlarge_as_recorditer(image, w, h)
        image = enlarged[..., None] if enlarged.ndim < image.ndim else enlarged
    return ten_crop(image, w, h) if ten else center_crop(image, w, h)[None]


def predict_split(predictors, data_dir, split, ten=False, batch=64, rank=0, size=1):
    """Probabilities per member (list of N x K arrays), labels and record ids."""
    ids, labels = [], []
    probs = [[] for _ in predictors]
    pending = []

    def flush():
        views = np.concatenate([v for _, v in pending])
        counts = [len(v) for _, v in pending]
        for m, p in enumerate(predictors):
            out = p.probabilities(views)
            start = 0
            for n in counts:  # average the views of one image (10-crop)
                probs[m].append(out[start: start + n].mean(axis=0))
                start += n
        pending.clear()

    for rid, label, image in iter_split(data_dir, split, rank, size):
        ids.append(rid)
        labels.append(label)
        pending.append((rid, predictors[0].views(image, ten)))
        if len(pending) * (10 if ten else 1) >= batch:
            flush()
    if pending:
        flush()
    if not ids:
        raise UserError(f"split '{split}' of {data_dir} is empty for this worker")
    return [np.stack(p) for p in probs], np.array(labels), ids


def summarize(name, probs, labels):
    return {"model": name, "rank1": rank_k(probs, labels, 1), "rank5": rank_k(probs, labels, 5),
            "images": int(len(labels))}


def write_errors(out_dir, probs, labels, ids, data_dir, class_names, worst=32):
    """misclassified.csv (every error) and worst.png (the most confident errors, read back from
    ``data_dir``)."""
    pred = np.argmax(probs, axis=1)
    wrong = np.flatnonzero(pred != labels)
    order = wrong[np.argsort(-probs[wrong, pred[wrong]])]
    with open(os.path.join(out_dir, "misclassified.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["record", "true", "predicted", "confidence"])
        for i in order:
            w.writerow([ids[i], class_names[labels[i]], class_names[pred[i]], f"{probs[i, pred[i]]:.4f}"])
    if len(order):
        tiles = []
        images = read_records(data_dir, [ids[i] for i in order[:worst]])
        for i in order[:worst]:
            tile = cv2.resize(gray_to_rgb(images[ids[i]]), (96, 96), interpolation=cv2.INTER_AREA)
            tile = np.vstack([tile, np.full((28, 96, 3), 255, np.uint8)])
            cv2.putText(tile, f"T:{class_names[labels[i]][:10]}", (2, 108), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 120, 0), 1)
            cv2.putText(tile, f"P:{class_names[pred[i]][:10]}", (2, 121), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (200, 0, 0), 1)
            tiles.append(tile)
        cols = 8
        while len(tiles) % cols:
            tiles.append(np.full_like(tiles[0], 255))
        grid = np.vstack([np.hstack(tiles[r: r + cols]) for r in range(0, len(tiles), cols)])
        cv2.imwrite(os.path.join(out_dir, "worst.png"), grid[..., ::-1])
    return len(wrong)


def full_report(out_dir, probs, labels, class_names):
    text = report(probs, labels, class_names)
    with open(os.path.join(out_dir, "classification_report.txt"), "w") as f:
        f.write(text)
    confusion_png(probs, labels, class_names, os.path.join(out_dir, "confusion.png"))
    return text
