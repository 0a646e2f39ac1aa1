"""What the trainer needs to know about a shard directory, independent of its format."""
import os

from ..errors import UserError


def open_manifest(data_dir):
    from recordio_tools.read import load_manifest
    if not os.path.isdir(data_dir):
        raise UserError(f"data.dir {data_dir} does not exist (pack images there with mxdl-pack build)")
    return load_manifest(data_dir)


def class_weights(manifest, split, spec):
    """``'balanced'`` gives the book's max(count) / count_c; a list is taken as given."""
    classes = manifest["classes"]
    if spec is None:
        return None
    if spec == "balanced":
        counts = [manifest["splits"][split]["per_class"].get(c, 0) for c in classes]
        if min(counts) == 0:
            raise UserError(f"train.class_weights=balanced: a class has no images in split '{split}'")
        return [max(counts) / c for c in counts]
    if isinstance(spec, list) and len(spec) == len(classes):
        return [float(x) for x in spec]
    raise UserError(f"train.class_weights must be 'balanced' or a list of {len(classes)} numbers")


def input_shape(manifest, configured):
    """C,H,W the network sees: data.shape if set, else the stored image size."""
    if configured:
        if len(configured) != 3:
            raise UserError(f"data.shape must be [C, H, W], got {configured}")
        return tuple(int(x) for x in configured)
    if not manifest.get("image_shape"):
        raise UserError("images in data.dir have different sizes: set data.shape (e.g. [3, 224, 224])")
    h, w, c = manifest["image_shape"]
    return (c, h, w)
