"""The node's packing limit as a command: start Python, import OpenCV and numpy, fork WORKERS
processes and decode, resize and encode (JPEG quality 95) every file named in LIST, one path a
line, writing nothing. bench/pack_vs_im2rec.py times it from outside, so the limit pays the same
start-up as the packers it is compared with; the list is made before the clock starts, so no
listing is in it.

    python bench/transcode_limit.py LIST --workers 2 --resize 0
"""
import argparse
import multiprocessing as mp
from functools import partial

import cv2
import numpy as np

from mxdl.data.preprocess import resize_shorter

cv2.setNumThreads(1)  # as the packers: parallel by processes (a forked OpenCV pool hangs)


def transcode(paths, resize):
    size = 0
    for path in paths:
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        if resize:
            image = resize_shorter(image, resize)
        size += len(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1])
    return size


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("list")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--resize", type=int, default=0)
    args = p.parse_args()
    with open(args.list) as f:
        paths = f.read().splitlines()
    chunks = [paths[i:i + 64] for i in range(0, len(paths), 64)]
    with mp.get_context("fork").Pool(args.workers) as pool:
        sum(pool.imap_unordered(partial(transcode, resize=args.resize), chunks))


if __name__ == "__main__":
    main()
