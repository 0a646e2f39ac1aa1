"""Training throughput of every configs/imagenet_*.yaml model on this machine's CPU, per worker,
on synthetic tensors (compute only) and on real JPEG shards (decode and augmentation included).

    python bench/imagenet_models.py --shards SHARDS [--batch 16] [--records 96]

SHARDS should hold JPEGs of ImageNet-like size (e.g. CIFAR-10 images packed with
``mxdl-pack build ... --resize 256``). Each run trains 2 epochs of ``--records`` images and
reports the second (the first builds the graph); float16 AMP is turned off (CPUs have no float16
arithmetic). Published per-GPU figures for comparison are listed in README with their sources.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def one_run(config, batch, data):
    out = tempfile.mkdtemp(prefix="mxdl-models-")
    cmd = [os.path.join(os.path.dirname(sys.executable), "mxdl-train"), config, "--output", out, "--fresh",
           "train.epochs=2", f"data.batch_size={batch}", "data.val_split=", "checkpoint.export=false",
           "train.log_interval=1000000", "train.amp=null", *data]
    subprocess.run(cmd, check=True, capture_output=True)
    second = json.load(open(os.path.join(out, "history.json")))["epochs"][1]
    return second["images_per_sec"], second["data_wait"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", required=True)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--records", type=int, default=96, help="synthetic images per epoch")
    args = p.parse_args()
    print(f"per worker, 1 worker on {os.cpu_count()} cores, batch {args.batch}, second epoch")
    print(f"  {'config':32s} {'synthetic img/s':>16s} {'real img/s':>11s} {'data-wait':>10s}")
    for config in sorted(glob.glob(os.path.join(REPO, "configs", "imagenet_*.yaml"))):
        synthetic, _ = one_run(config, args.batch, ["data.synthetic=true", f"data.synthetic_records={args.records}"])
        real, wait = one_run(config, args.batch, [f"data.dir={args.shards}"])
        print(f"  {os.path.basename(config):32s} {synthetic:16.1f} {real:11.1f} {wait:10.0%}", flush=True)


if __name__ == "__main__":
    main()
