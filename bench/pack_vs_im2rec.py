"""mxdl-pack against MXNet's own tools/im2rec.py and against the node's limit, same input and
settings, in one run.

Both tools re-encode JPEGs at quality 95 into one .rec/.idx with the same number of processes;
their times include starting the process and listing the folder tree (im2rec --list, then
im2rec pack) and exclude nothing else. The limit is the per-image work alone as a command
(bench/transcode_limit.py): Python started, OpenCV imported, the same files decoded, resized and
encoded in as many processes, nothing listed or written; its start-up alone (an empty list) is
reported beside it. Datasets:

(a) CIFAR-10 training JPEGs (extracted from --cifar-tar outside the repo) at --counts images:
    the first N of each class in turn, and past 50,000 the same images again as copies under
    new names (copies: mxdl-pack lists a file reached twice once);
(b) real photographs resized to 256 px: scikit-learn's two sample photos, cut into --photos
    random crops, written as JPEG;
(c) scale: --generated N tiny generated JPEGs (8x8, 10 class folders), packed at N/4 and N
    images: how peak memory grows with the image count (the listing's memory per image).

Peak RSS is that of the largest process of each command (the listing and writing process for
both tools), read from getrusage of a wrapper process.

    python bench/pack_vs_im2rec.py --cifar-tar ../shared/data/cifar10-train.tar --workers 2
"""
import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

import cv2
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench.common import figure, report  # noqa: E402

IM2REC = os.path.join(os.path.dirname(__import__("mxnet").__file__), "tools", "im2rec.py")


def compile_as_installed():
    """Byte-compile mxdl and recordio_tools as pip does on install (MXNet's own files come so).
    Otherwise, under PYTHONDONTWRITEBYTECODE or after an edit, every command timed here compiles
    them from source first: 20-25 ms a start for mxdl-pack, which no installed copy pays."""
    import compileall
    for package in ("mxdl", "recordio_tools"):
        compileall.compile_dir(os.path.join(REPO, package), quiet=1)


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


LIMIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "transcode_limit.py")


def run_limit(src, work, workers, resize):
    """Seconds for the limit command on every file under ``src``, and for its start-up alone, run
    through ``measured`` as the packers are."""
    seconds = []
    for name, paths in (("all", sorted(os.path.join(d, f) for d, _, files in os.walk(src) for f in files)),
                        ("none", [])):
        listed = os.path.join(work, f"limit-{name}.txt")
        with open(listed, "w") as f:
            f.write("".join(p + "\n" for p in paths))
        start = time.perf_counter()
        measured([sys.executable, LIMIT, listed, "--workers", str(workers), "--resize", str(resize)])
        seconds.append(time.perf_counter() - start)
    return seconds


def compare(name, src, count, workers, resize):
    """Figures for one dataset; returns the two tools' peak memory (MiB)."""
    os.sync()  # the dataset just written: its writeback ran during the first timing (1.6 s against 1.0 s)
    with tempfile.TemporaryDirectory() as work:
        t_limit, t_start = run_limit(src, work, workers, resize)
        t_mxdl, rss_mxdl = run_mxdl(src, work, workers, resize)
        t_im2rec, rss_im2rec = run_im2rec(src, work, workers, resize)
    report(f"{name}: {count} images, {workers} processes, JPEG quality 95",
           [("the limit: decode+resize+encode, same processes", count / t_limit),
            ("MXNet tools/im2rec.py (--list, then pack)", count / t_im2rec), ("mxdl-pack build", count / t_mxdl)],
           "the limit: decode+resize+encode, same processes")
    figure(f"{name}: the limit command's start-up (Python, imports, fork; no image)", f"{t_start:.2f} s",
           seconds=round(t_start, 3))
    figure(f"{name}: mxdl-pack over im2rec, over the limit", f"x{t_im2rec / t_mxdl:.3f}, x{t_limit / t_mxdl:.3f}",
           over_im2rec=round(t_im2rec / t_mxdl, 3), over_limit=round(t_limit / t_mxdl, 3))
    figure(f"{name}: peak memory", f"im2rec {rss_im2rec:.0f} MiB, mxdl-pack {rss_mxdl:.0f} MiB",
           im2rec_mib=round(rss_im2rec), mxdl_mib=round(rss_mxdl))
    return rss_im2rec, rss_mxdl


def cifar_tree(root, train, count):
    """``count`` CIFAR-10 JPEGs in class folders: hard links to the extracted files, then copies
    under new names once all of them are in."""
    classes = sorted(os.listdir(train))
    files = {c: sorted(os.listdir(os.path.join(train, c))) for c in classes}
    per_class = max(len(f) for f in files.values())
    for i in range(count):
        label, n = classes[i % len(classes)], i // len(classes)
        name = files[label][n % per_class]
        folder = os.path.join(root, label)
        os.makedirs(folder, exist_ok=True)
        src = os.path.join(train, label, name)
        dst = os.path.join(folder, f"{n // per_class}-{name}")
        if n < per_class:
            os.link(src, dst)
        else:
            shutil.copyfile(src, dst)
    return root


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
    p.add_argument("--counts", default="10000,50000,200000", help="CIFAR-10 image counts to pack")
    p.add_argument("--photos", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--generated", type=int, default=0, help="also pack this many generated 8x8 JPEGs (scale)")
    args = p.parse_args()
    compile_as_installed()
    with tempfile.TemporaryDirectory() as tmp:
        if args.cifar_tar and os.path.isfile(args.cifar_tar):
            with tarfile.open(args.cifar_tar) as tar:
                tar.extractall(tmp)
            for count in (int(c) for c in args.counts.split(",")):
                root = cifar_tree(os.path.join(tmp, f"cifar{count}"), os.path.join(tmp, "train"), count)
                compare("CIFAR-10 JPEGs", root, count, args.workers, 0)
                shutil.rmtree(root)
        if args.photos:
            photos = make_photos(os.path.join(tmp, "photos"), args.photos)
            compare("photographs at 256 px", photos, args.photos, args.workers, 256)
        if args.generated:
            small, large = args.generated // 4, args.generated
            peaks = [compare("generated 8x8 JPEGs", make_generated(os.path.join(tmp, f"generated{n}"), n), n,
                             args.workers, 0) for n in (small, large)]
            per_image = [(b - a) * 1024 / (large - small) for a, b in zip(*peaks)]
            figure("peak memory per listed image (generated 8x8 JPEGs, between "
                   f"{small} and {large} images)", f"im2rec {per_image[0]:.3f} KiB, mxdl-pack {per_image[1]:.3f} KiB",
                   im2rec_kib=round(per_image[0], 3), mxdl_kib=round(per_image[1], 3))


if __name__ == "__main__":
    main()
