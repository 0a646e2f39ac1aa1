"""mxdl-pack against MXNet's own tools/im2rec.py, same input and settings, in one run.

Both re-encode JPEGs at quality 95 into one .rec/.idx with the same number of
processes; the times include listing the folder tree (im2rec --list, then
im2rec pack) and exclude nothing else. Datasets:

(a) CIFAR-10's 50,000 training JPEGs (extracted from --cifar-tar outside the repo);
(b) real photographs resized to 256 px: scikit-learn's two sample photos, cut
    into --photos random crops, written as JPEG;
(c) scale: --generated N tiny generated JPEGs (8x8, 10 class folders), packed at
    N/4 and N images, to show how time and peak memory grow with the image count.

Peak RSS is that of the largest process of each command (the listing and writing
process for both tools), read from getrusage of a wrapper process.

    python bench/pack_vs_im2rec.py --cifar-tar ../shared/data/cifar10-train.tar --workers 2
"""
import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import figure, report  # noqa: E402

IM2REC = os.path.join(os.path.dirname(__import__("mxnet").__file__), "tools", "im2rec.py")


def make_photos(root, count, seed=0):
    from sklearn.datasets import load_sample_images
    rng = np.random.RandomState(seed)
    photos = load_sample_images().images
    for i in range(count):
        src = photos[i % len(photos)]
        h, w = src.shape[:2]
        ch, cw = rng.randint(h // 2, h), rng.randint(w // 2, w)
        top, left = rng.randint(0, h - ch), rng.randint(0, w - cw)
        crop = src[top: top + ch, left: left + cw, ::-1]
        scale = 256 / min(ch, cw)
        crop = cv2.resize(crop, (round(cw * scale), round(ch * scale)), interpolation=cv2.INTER_AREA)
        folder = os.path.join(root, f"class{i % 2}")
        os.makedirs(folder, exist_ok=True)
        cv2.imwrite(os.path.join(folder, f"{i:05d}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return root


MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def measured(cmd, env=None):
    """Run cmd; return the peak RSS in MiB of its largest process."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], check=True, capture_output=True, text=True, env=env)
    return int(out.stdout.split()[-1]) / 1024


def run_im2rec(src, work, workers, resize):
    prefix = os.path.join(work, "im2rec")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = time.perf_counter()
    rss = measured([sys.executable, IM2REC, "--list", "--recursive", prefix, src], env)
    rss = max(rss, measured([sys.executable, IM2REC, "--num-thread", str(workers), "--quality", "95",
                             "--resize", str(resize), prefix, src], env))
    return time.perf_counter() - start, rss


def run_mxdl(src, work, workers, resize):
    start = time.perf_counter()
    rss = measured([os.path.join(os.path.dirname(sys.executable), "mxdl-pack"), "build", src,
                    os.path.join(work, "mxdl"), "--workers", str(workers), "--quality", "95", "--resize", str(resize)])
    return time.perf_counter() - start, rss


def compare(name, src, count, workers, resize):
    with tempfile.TemporaryDirectory() as work:
        t_mxdl, rss_mxdl = run_mxdl(src, work, workers, resize)
        t_im2rec, rss_im2rec = run_im2rec(src, work, workers, resize)
    report(f"{name}: {count} images, {workers} processes, JPEG quality 95",
           [("MXNet tools/im2rec.py (--list, then pack)", count / t_im2rec), ("mxdl-pack build", count / t_mxdl)],
           "MXNet tools/im2rec.py (--list, then pack)")
    figure(f"{name}: peak memory", f"im2rec {rss_im2rec:.0f} MiB, mxdl-pack {rss_mxdl:.0f} MiB",
           im2rec_mib=round(rss_im2rec), mxdl_mib=round(rss_mxdl))


def make_generated(root, count, seed=0):
    rng = np.random.RandomState(seed)
    for i in range(count):
        folder = os.path.join(root, f"class{i % 10}")
        if i < 10:
            os.makedirs(folder, exist_ok=True)
        image = cv2.resize(rng.randint(0, 255, (2, 2, 3)).astype(np.uint8), (8, 8))
        cv2.imwrite(os.path.join(folder, f"{i:07d}.jpg"), image)
    return root


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cifar-tar", help="the CIFAR-10 JPEG tar (skipped when absent)")
    p.add_argument("--photos", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--generated", type=int, default=0, help="also pack this many generated 8x8 JPEGs (scale)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.cifar_tar and os.path.isfile(args.cifar_tar):
            with tarfile.open(args.cifar_tar) as tar:
                tar.extractall(tmp)
            root = os.path.join(tmp, "train")
            count = sum(len(f) for _, _, f in os.walk(root))
            compare("CIFAR-10 train JPEGs", root, count, args.workers, 0)
        if args.photos:
            photos = make_photos(os.path.join(tmp, "photos"), args.photos)
            compare("photographs at 256 px", photos, args.photos, args.workers, 256)
        for count in ((args.generated // 4, args.generated) if args.generated else ()):
            generated = make_generated(os.path.join(tmp, f"generated{count}"), count)
            compare("generated 8x8 JPEGs", generated, count, args.workers, 0)


if __name__ == "__main__":
    main()
