"""Read, check, resize and encode one image (runs inside the packer's worker processes)."""
from dataclasses import dataclass

import cv2
import numpy as np

from mxdl.data.preprocess import apply_pack_geometry, pack_geometry
from mxdl.errors import error_reason

cv2.setNumThreads(1)  # parallelism comes from the worker processes


@dataclass(frozen=True)
class ImageOptions:
    resize: int = 0            # shorter side to this many pixels (0: keep)
    width: int = 0             # with height: aspect-aware resize + center crop to W x H
    height: int = 0
    color: bool = True         # False: store one grayscale channel
    encoding: str = ".jpg"     # ".jpg" or ".png"
    quality: int = 95          # JPEG quality, or PNG compression level 0-9
    pass_through: bool = False  # store the original file bytes (no re-encoding)
    keep_pixels: bool = False  # return decoded pixels (HDF5 writer) instead of encoded bytes


@dataclass
class Encoded:
    payload: object      # encoded bytes (rec) or H x W x C uint8 RGB pixels (hdf5)
    shape: tuple         # stored (H, W, C)
    channel_sum: np.ndarray    # per-channel (RGB) pixel sums, for the dataset mean
    channel_sqsum: np.ndarray
    pixels: int


def _truncation(raw):
    """Reason if a JPEG/PNG stream is cut short (cv2 would decode it partially and silently)."""
    if raw[:2] == b"\xff\xd8" and b"\xff\xd9" not in raw[-1024:]:
        return "truncated JPEG (no end-of-image marker)"
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in raw[-64:]:
        return "truncated PNG (no IEND chunk)"
    return None


def channel_stats(image):
    """Per-channel (RGB order) pixel sum and sum of squares; cv2.meanStdDev is ~40x faster
    than summing a float64 copy in numpy, which made the packer slower than im2rec."""
    mean, std = cv2.meanStdDev(image)
    mean, std = mean.ravel()[::-1], std.ravel()[::-1]  # BGR -> RGB (one channel: unchanged)
    n = image.shape[0] * image.shape[1]
    return dict(channel_sum=mean * n, channel_sqsum=(std * std + mean * mean) * n, pixels=n)


def load_and_encode(path, opts):
    """Return :class:`Encoded`, or a string saying why the file was skipped."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        return f"unreadable ({err.strerror or err})"
    if not raw:
        return "empty file (0 bytes)"
    reason = _truncation(raw)
    if reason:
        return reason
    flag = cv2.IMREAD_COLOR if opts.color else cv2.IMREAD_GRAYSCALE
    try:
        image = cv2.imdecode(np.frombuffer(raw, np.uint8), flag)
    except cv2.error as err:  # e.g. more pixels than OpenCV's limit: skip it like any unreadable file
        return f"not decodable ({error_reason(err)[:120]})"
    if image is None:
        return "not a decodable image"
    if image.ndim == 2:
        image = image[..., None]
    image = apply_pack_geometry(image, pack_geometry(opts.resize, opts.width, opts.height))
    stats = channel_stats(image)
    if opts.keep_pixels:
        rgb = image[..., ::-1] if image.shape[2] == 3 else image
        return Encoded(np.ascontiguousarray(rgb), rgb.shape, **stats)
    if opts.pass_through:
        return Encoded(raw, image.shape, **stats)
    params = [cv2.IMWRITE_JPEG_QUALITY, opts.quality] if opts.encoding == ".jpg" \
        else [cv2.IMWRITE_PNG_COMPRESSION, opts.quality]
    ok, buf = cv2.imencode(opts.encoding, image, params)
    if not ok:
        return f"could not encode as {opts.encoding}"
    return Encoded(buf.tobytes(), image.shape, **stats)


def encode_chunk(paths, opts):
    """``load_and_encode`` for each path, as a worker process sends them back: ``(results, stats)``,
    each result ``(payload, shape)`` or the reason the file was skipped, and the encoded images'
    per-channel sums, sums of squares and pixel counts as one float array (one row each). One
    pickle of plain lists and one array: an object and two arrays per image cost the writing
    process more to unpickle and sum than writing the records."""
    results = [load_and_encode(path, opts) for path in paths]
    done = [r for r in results if not isinstance(r, str)]
    stats = np.array([np.concatenate([r.channel_sum, r.channel_sqsum, [r.pixels]]) for r in done])
    return [r if isinstance(r, str) else (r.payload, r.shape) for r in results], stats
