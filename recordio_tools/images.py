"""Read, check, resize and encode one image (runs inside the packer's worker processes)."""
import os
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
    moments: tuple       # cv2.meanStdDev's (mean, std), BGR order, for the dataset mean (see stats_rows)


def _truncation(raw):
    """Reason if a JPEG/PNG stream is cut short (cv2 would decode it partially and silently)."""
    if raw[:2] == b"\xff\xd8" and b"\xff\xd9" not in raw[-1024:]:
        return "truncated JPEG (no end-of-image marker)"
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in raw[-64:]:
        return "truncated PNG (no IEND chunk)"
    return None


def read_file(path):
    """``(bytes or the reason it cannot be read, (size, mtime_ns))``: the print is taken from the
    open file, so it describes the bytes read. os.open/fstat/read: half the time of open().read()
    on CIFAR-sized files, where it was a tenth of a packing worker's time."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        return f"unreadable ({err.strerror or err})", stat_print(path)
    try:
        st = os.fstat(fd)
        raw = os.read(fd, st.st_size + 1)
        if len(raw) > st.st_size:  # grew since fstat: read to the end
            raw += b"".join(iter(lambda: os.read(fd, 1 << 20), b""))
        return raw, (st.st_size, st.st_mtime_ns)
    except OSError as err:
        return f"unreadable ({err.strerror or err})", stat_print(path)
    finally:
        os.close(fd)


def stat_print(path):
    """A file's ``(size, mtime_ns)``, (-1, -1) when it cannot be stat'ed: what a shard is made from.
    A file edited in place changes it, so a re-run writes that shard again."""
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    except OSError:
        return -1, -1


def stats_rows(shapes, moments):
    """Per-image rows ``[sum per channel, sum of squares per channel, pixels]`` (RGB order) from
    cv2.meanStdDev's moments, computed for a whole chunk at once: per image in numpy it cost
    more than the image's own mean and deviation."""
    if not moments:
        return np.zeros((0, 7))
    n = np.array([h * w for h, w, _ in shapes], float)[:, None]
    mean = np.array([m for m, _ in moments])[:, ::-1, 0]   # BGR -> RGB (one channel: unchanged)
    std = np.array([s for _, s in moments])[:, ::-1, 0]
    return np.hstack([mean * n, (std * std + mean * mean) * n, n])


def encode(raw, opts):
    """Return :class:`Encoded` for a file's bytes, or a string saying why the file was skipped."""
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
    moments = cv2.meanStdDev(image)
    if opts.keep_pixels:
        rgb = image[..., ::-1] if image.shape[2] == 3 else image
        return Encoded(np.ascontiguousarray(rgb), rgb.shape, moments)
    if opts.pass_through:
        return Encoded(raw, image.shape, moments)
    params = [cv2.IMWRITE_JPEG_QUALITY, opts.quality] if opts.encoding == ".jpg" \
        else [cv2.IMWRITE_PNG_COMPRESSION, opts.quality]
    ok, buf = cv2.imencode(opts.encoding, image, params)
    if not ok:
        return f"could not encode as {opts.encoding}"
    return Encoded(buf.tobytes(), image.shape, moments)


def load_and_encode(path, opts):
    """Return :class:`Encoded`, or a string saying why the file was skipped."""
    raw, _ = read_file(path)
    return raw if isinstance(raw, str) else encode(raw, opts)


def encode_chunk(paths, opts):
    """The files at ``paths``, as a worker process sends them back: ``(results, stats, prints)``:
    each result ``(payload, shape)`` or the reason the file was skipped; the encoded images' stats
    rows (:func:`stats_rows`); and each file's ``(size, mtime_ns)`` as read (an int64 array),
    which the shard's done-marker keeps so a re-run can tell an edited input. One pickle of plain
    lists and two arrays: an object and two arrays per image cost the writing process more to
    unpickle and sum than writing the records."""
    results, prints = [], np.empty((len(paths), 2), np.int64)
    for i, path in enumerate(paths):
        raw, prints[i] = read_file(path)
        results.append(raw if isinstance(raw, str) else encode(raw, opts))
    done = [r for r in results if not isinstance(r, str)]
    stats = stats_rows([r.shape for r in done], [r.moments for r in done])
    return [r if isinstance(r, str) else (r.payload, r.shape) for r in results], stats, prints
