"""Weak scaling at equal total cores, the way a user runs it: N workers against 1 worker given all
the cores, both through launch/train.sh with its defaults (each worker's thread budget from
mxdl/budget.py), alternating, in one run. The same layouts on data.synthetic give the compute-only
ceiling beside them, so the data pipeline's share is visible.

    python bench/scaling.py --shards SHARDS [SHARDS64] [--config configs/cifar10_minivggnet.yaml
                            [configs/tiny_imagenet_resnet18.yaml]] [--workers 2] [--epochs 2] [--repeat 2]

Figures come from history.json: images/s over the epochs after the first (graph building and
MKLDNN's first-call costs), summed over the workers, with the device's work finished before the
clock is read. The headline is the pipeline efficiency: real data's rate over synthetic data's, per
layout (1.0 means reading and decoding cost the step nothing).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
from bench.common import figure, report  # noqa: E402
from mxdl.data.manifest import Manifest  # noqa: E402
from mxdl.data.shards import input_shape  # noqa: E402


def one_run(config, np_, data, epochs):
    out = tempfile.mkdtemp(prefix="mxdl-scaling-")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    for var in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS"):  # the launcher's defaults, as a user gets them
        env.pop(var, None)
    cmd = [os.path.join(REPO, "launch", "train.sh"), config, "--np", str(np_), "--output", out, "--fresh",
           f"train.epochs={epochs}", "data.val_split=", "checkpoint.export=false", "train.log_interval=1000000",
           *data]
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    epochs_run = json.load(open(os.path.join(out, "history.json")))["epochs"][1:]
    rate = sum(e["images_per_sec"] for e in epochs_run) / len(epochs_run)
    wait = sum(e["data_wait"] for e in epochs_run) / len(epochs_run)
    return rate, wait


def measure(config, shards, workers, epochs, repeat):
    """Pipeline efficiency and rates of one config on its shards against synthetic data of the same
    size, classes and count."""
    real = [f"data.dir={shards}"]
    manifest = Manifest.load(shards)
    synthetic = ["data.synthetic=true", f"data.shape=[{','.join(map(str, input_shape(manifest, None)))}]",
                 f"data.synthetic_classes={len(manifest.classes)}",
                 f"data.synthetic_records={manifest.split('train').records}"]
    runs = {}
    for _ in range(repeat):  # alternate the layouts: the machine's noise is large
        for name, data in (("real", real), ("synthetic", synthetic)):
            for np_ in (1, workers):
                runs.setdefault((name, np_), []).append(one_run(config, np_, data, epochs))
    results = {key: max(rates) for key, rates in runs.items()}   # each layout's best run: (rate, wait)
    cores = os.cpu_count()
    efficiency = {np_: results[("real", np_)][0] / results[("synthetic", np_)][0] for np_ in (1, workers)}
    # one run of a layout differs from the next by up to 8% on this machine, more than the pipeline
    # costs: every run is listed beside the ratio of the bests
    spread = "; ".join(f"{np_} worker(s) {name} " + ", ".join(f"{r:.0f}" for r, _ in runs[(name, np_)])
                       for np_ in (1, workers) for name in ("real", "synthetic"))
    figure(f"{os.path.basename(config)}: pipeline efficiency (real / synthetic images per second, best of {repeat})",
           ", ".join(f"{np_} worker(s) x{e:.3f}" for np_, e in efficiency.items()) + f" (each run, img/s: {spread})",
           **{f"workers_{np_}": round(e, 3) for np_, e in efficiency.items()},
           runs={f"{name}_{np_}": [round(r, 1) for r, _ in rates] for (name, np_), rates in runs.items()})
    for name in ("real", "synthetic"):
        rows = [(f"{np_} worker(s), {cores} cores in all (data-wait {results[(name, np_)][1]:.0%})",
                 results[(name, np_)][0]) for np_ in (1, workers)]
        report(f"{os.path.basename(config)}, {name} data, best of {repeat}", rows, rows[0][0])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shards", required=True, nargs="+",
                   help="RecordIO shards (e.g. CIFAR-10 packed by mxdl-pack), one per --config")
    p.add_argument("--config", nargs="+", default=[os.path.join(REPO, "configs", "cifar10_minivggnet.yaml")])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if len(args.shards) != len(args.config):
        p.error(f"{len(args.config)} --config and {len(args.shards)} --shards: give one shard folder per config")
    for config, shards in zip(args.config, args.shards):
        measure(config, shards, args.workers, args.epochs, args.repeat)


if __name__ == "__main__":
    main()
