"""What model.sync_bn costs a step: 2 workers through launch/train.sh on synthetic data (compute and
allreduce only), MiniVGGNet at 32 px and ResNet-18 at 64 px, batch 32 a worker, in one run:

- hybridized, BatchNorm per worker (mxdl's default; the baseline);
- not hybridized, BatchNorm per worker (what running imperatively costs by itself);
- model.sync_bn=true (imperative, plus an allreduce of 2C+1 numbers per BatchNorm layer, forward
  and backward).

    python bench/sync_bn.py [--workers 2] [--epochs 2]

Figures are images/s summed over the workers after the first epoch (bench/scaling.py's one_run),
and the step time they imply.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
from bench.common import figure, report  # noqa: E402
from bench.scaling import one_run  # noqa: E402

BATCH = 32
NETWORKS = (("MiniVGGNet 32 px", "configs/cifar10_minivggnet.yaml", [3, 32, 32], 10, 4096),
            ("ResNet-18 64 px", "configs/tiny_imagenet_resnet18.yaml", [3, 64, 64], 200, 768))
VARIANTS = (("hybridized, per-worker BatchNorm", []),
            ("not hybridized, per-worker BatchNorm", ["train.hybridize=false"]),
            ("model.sync_bn=true", ["model.sync_bn=true"]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    for title, config, shape, classes, records in NETWORKS:
        data = ["data.synthetic=true", f"data.shape=[{','.join(map(str, shape))}]", f"data.synthetic_classes={classes}",
                f"data.synthetic_records={records}", f"data.batch_size={BATCH}"]
        rows = [(name, one_run(os.path.join(REPO, config), args.workers, data + extra, args.epochs)[0])
                for name, extra in VARIANTS]
        report(f"{title}: model.sync_bn on {args.workers} workers, batch {BATCH} each, synthetic data", rows,
               rows[0][0])
        step_ms = {name: 1000.0 * BATCH * args.workers / rate for name, rate in rows}
        figure(f"{title}: step time on {args.workers} workers",
               "; ".join(f"{name} {ms:.0f} ms" for name, ms in step_ms.items()),
               **{name: round(ms, 1) for name, ms in step_ms.items()})


if __name__ == "__main__":
    main()
