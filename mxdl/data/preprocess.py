"""Small image operations on HxWxC uint8 numpy arrays (the book's preprocessors).

Used by the packer (resizing before storage) and by evaluation/prediction
(crops). cv2 does the pixel work; these functions only
decide geometry.
"""
import cv2
import numpy as np

# What the packer lists and mxdl-predict accepts as an image file.
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def resize_shorter(image, size, inter=cv2.INTER_AREA):
    """Resize so the shorter side is ``size``, keeping the aspect ratio."""
    h, w = image.shape[:2]
    scale = size / min(h, w)
    if scale == 1:
        return image
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    out = cv2.resize(image, (new_w, new_h), interpolation=inter)
    return out if out.ndim == image.ndim else out[..., None]


def resize_shorter_as_recorditer(image, size):
    """The shorter side to ``size`` exactly as ``ImageRecordIter``'s ``resize`` does it (MXNet 1.9's
    default augmenter): the longer side in integer arithmetic (floored), bilinear interpolation, and
    a resize even when the size does not change. Validation uses it, so evaluation and prediction,
    which decode images themselves, must too, or their figures drift from the trainer's."""
    h, w = image.shape[:2]
    new_h, new_w = (size * h // w, size) if h > w else (size, size * w // h)
    out = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return out if out.ndim == image.ndim else out[..., None]


def enlarge_as_recorditer(image, width, height):
    """An image smaller than the network input enlarged as ``ImageRecordIter`` (MXNet 1.9's default
    augmenter) does before its center crop: too short, the height is brought to ``height``; then,
    still too narrow, the width to ``width``; each time keeping the aspect with the other side
    floored, bilinear. Found by matching its output pixel for pixel (tests/test_eval.py)."""
    h, w = image.shape[:2]
    if h < height:
        image = cv2.resize(image, (w * height // h, height), interpolation=cv2.INTER_LINEAR)
        h, w = height, w * height // h
    if w < width:
        image = cv2.resize(image, (width, h * width // w), interpolation=cv2.INTER_LINEAR)
    return image


def center_crop(image, width, height):
    h, w = image.shape[:2]
    if w < width or h < height:
        raise ValueError(f"cannot crop {width}x{height} from a {w}x{h} image")
    top, left = (h - height) // 2, (w - width) // 2
    return image[top: top + height, left: left + width]


def aspect_aware_resize(image, width, height, inter=cv2.INTER_AREA):
    """Resize the shorter side to the target, then center-crop the longer one."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    out = cv2.resize(image, (new_w, new_h), interpolation=inter)
    if out.ndim < image.ndim:
        out = out[..., None]
    return center_crop(out, width, height)


def pack_geometry(resize=0, width=0, height=0):
    """The resize mxdl-pack gives every image (``--size WxH``: aspect-aware to WxH; ``--resize S``:
    shorter side to S; else none), as recorded with a trained model so that prediction and serving
    repeat it on new photos."""
    if width:
        return {"mode": "aspect_aware", "width": width, "height": height, "interpolation": "area"}
    if resize:
        return {"mode": "shorter_side", "size": resize, "interpolation": "area"}
    return {"mode": "none"}


def geometry_from_options(options):
    """A manifest's build options -> :func:`pack_geometry`."""
    width, height = (int(v) for v in options["size"].split("x")) if options.get("size") else (0, 0)
    return pack_geometry(options.get("resize") or 0, width, height)


def apply_pack_geometry(image, geometry):
    mode = geometry["mode"]
    if mode == "aspect_aware":
        return aspect_aware_resize(image, geometry["width"], geometry["height"])
    if mode == "shorter_side":
        return resize_shorter(image, geometry["size"])
    return image


def normalize(pixels, mean, scale):
    """N x H x W x C pixels -> float32 ``(pixel - mean) * scale`` (per channel, or one value): the
    normalisation of the input contract (inputspec), for the readers that do it in numpy."""
    x = np.asarray(pixels, dtype=np.float32)
    if mean is not None:
        x = x - np.asarray(mean, np.float32)
    return x * np.asarray(scale, np.float32)


def to_nd(array, ctx=None):
    """A numpy array as an NDArray, without waiting for the device. ``mx.nd.array`` copies through
    SyncCopyFromCPU, which queues an empty write on the engine and waits for it: on a CPU worker
    that waits for every operator already queued, a host sync per call (0.2-0.5 s a batch while
    MiniVGGNet trains on 2 workers). ``from_numpy(zero_copy=True)`` wraps the memory instead (the
    NDArray keeps the numpy array alive), and a copy to another device is queued, not waited for."""
    import mxnet as mx
    wrapped = mx.nd.from_numpy(np.ascontiguousarray(array), zero_copy=True)
    return wrapped if ctx is None or ctx == wrapped.context else wrapped.as_in_context(ctx)


def ten_crop(image, width, height):
    """Four corners and the center, then their horizontal mirrors: 10 crops (N x H x W x C)."""
    h, w = image.shape[:2]
    if w < width or h < height:
        raise ValueError(f"cannot crop {width}x{height} from a {w}x{h} image")
    origins = [(0, 0), (0, w - width), (h - height, 0), (h - height, w - width),
               ((h - height) // 2, (w - width) // 2)]
    crops = [image[t: t + height, l: l + width] for t, l in origins]
    crops += [c[:, ::-1] for c in crops]
    return np.stack(crops)


def gray_to_rgb(image):
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
