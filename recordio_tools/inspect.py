"""``mxdl-pack inspect``: a text summary and an optional contact sheet PNG."""
import os

import cv2
import numpy as np

from mxdl.data.manifest import Manifest
from mxdl.data.shards import iter_shard
from mxdl.errors import UserError


def summary(out):
    m = Manifest.load(out)
    lines = [f"{out}: {m.format} shards written by {m.tool} {m.version} on {m.created}",
             f"classes ({len(m.classes)}): {', '.join(m.class_names[:12])}"
             + (" ..." if len(m.classes) > 12 else ""),
             f"image shape (HxWxC): {m.image_shape or 'varies'}; "
             f"mean {[round(x, 2) for x in m.stats['mean']]} std {[round(x, 2) for x in m.stats['std']]}"]
    for split, info in m.splits.items():
        counts = list(info.per_class.values())
        size = sum(f["bytes"] for s in info.shards for f in s.files.values())
        lines.append(f"  {split}: {info.records} images in {len(info.shards)} shard(s), "
                     f"{size / 2**20:.1f} MiB, per class min {min(counts)} max {max(counts)}")
    lines.append(f"skipped files: {len(m.skipped)}")
    return "\n".join(lines)


def contact_sheet(out, png_path, per_class=8, split="train", tile=64):
    """Write a grid: one row per class (up to 20 classes), ``per_class`` samples each."""
    m = Manifest.load(out)
    classes = m.class_names[:20]
    rows = {i: [] for i in range(len(classes))}
    for _, path, idx in m.shard_paths(split):
        for _, label, image in iter_shard(m, path, idx):
            row = rows.get(int(label))
            if row is not None and image is not None and len(row) < per_class:
                row.append(image)
            if all(len(r) >= per_class for r in rows.values()):
                break
    label_w = 120
    sheet = np.full((tile * len(classes), label_w + tile * per_class, 3), 255, np.uint8)
    for r, images in rows.items():
        cv2.putText(sheet, classes[r][:14], (4, r * tile + tile // 2), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (0, 0, 0), 1, cv2.LINE_AA)
        for c, image in enumerate(images):
            if image.shape[2] == 1:
                image = np.repeat(image, 3, axis=2)
            thumb = cv2.resize(image, (tile, tile), interpolation=cv2.INTER_NEAREST
                               if image.shape[0] < tile else cv2.INTER_AREA)
            sheet[r * tile:(r + 1) * tile, label_w + c * tile: label_w + (c + 1) * tile] = thumb
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    if not cv2.imwrite(png_path, sheet[..., ::-1]):
        raise UserError(f"could not write {png_path} (a .png path in a writable folder?)")
    return png_path
