"""Trainer overhead on CPU: mxdl's trainer (Run.train_epoch: lr from the schedule, RNG reseed,
metrics, stop checks) against a bare hybridized Gluon loop, same model, batch and in-memory data.
Goal: at least 97% of the bare loop. (Scaling over workers: bench/scaling.py.)

    python bench/trainer_vs_bare.py [--model minivggnet] [--batch 64] [--steps 60]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import report  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", "1")


class InMemory:
    """The dataset interface the trainer needs, serving the same batches from memory."""

    def __init__(self, x, y, steps, shape, classes=10):
        from mxdl.data.manifest import Manifest, Split
        self.x, self.y, self.steps_per_epoch, self.shape = x, y, steps, shape
        names = [str(i) for i in range(classes)]
        self.manifest = Manifest("rec", names, names, {"train": Split(0, {}, [])}, None,
                                 {"mean": [0.0] * shape[0], "std": [1.0] * shape[0]})

    def train_epoch(self, epoch, skip=0):
        for _ in range(skip, self.steps_per_epoch):
            yield self.x, self.y

    def val_batches(self, split=None):
        return iter(())


def bare_loop(net, x, y, steps, batch):
    import mxnet as mx
    from mxnet import autograd, gluon
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9}, kvstore=None)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(steps):
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(batch)
    mx.nd.waitall()


def in_memory_run(model, batch, shape, overrides=(), steps=5):
    """mxdl's trainer (a Run) on one random batch served from memory; returns ``(run, x, y)``."""
    import mxnet as mx
    from mxdl import config
    from mxdl.dist import Dist
    from mxdl.log import setup
    from mxdl.train.loop import Run
    x = mx.nd.random.uniform(shape=(batch,) + shape)
    y = mx.nd.array([i % 10 for i in range(batch)])
    run_dir = tempfile.mkdtemp()
    setup(run_dir, 0)
    cfg = config.resolve(None, [f"model.name={model}", "data.dir=unused", f"data.batch_size={batch}",
                                "data.val_split=", "train.log_interval=1000000", *overrides])
    return Run(cfg, run_dir, Dist(), dataset=InMemory(x, y, steps, shape)), x, y


def compare_loops(model, batch, steps, shape=(3, 32, 32)):
    import mxnet as mx
    from mxdl.models import get_model

    # the trainer as a user gets it (the non-finite guard on), and without the guard, which the bare
    # loop lacks: the second is the trainer's own overhead
    layouts = [("mxdl trainer, defaults (non-finite guard on)", ["optim.wd=0.0"]),
               ("mxdl trainer, train.nonfinite_limit=0", ["optim.wd=0.0", "train.nonfinite_limit=0"])]
    runs = [(name, in_memory_run(model, batch, shape, overrides)) for name, overrides in layouts]
    x, y = runs[0][1][1], runs[0][1][2]
    net = get_model(model, classes=10)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    bare_loop(net, x, y, 5, batch)  # warm-up: graph build and memory allocation, both sides
    best = {"bare hybridized Gluon loop": 0.0}
    for name, (run, _, _) in runs:
        run.train_epoch(0, 0)
        run.data.steps_per_epoch = run.spe = steps
        best[name] = 0.0
    for epoch in range(1, 4):  # alternate, keep the best of three each: the machine's noise is large
        start = time.perf_counter()
        bare_loop(net, x, y, steps, batch)
        best["bare hybridized Gluon loop"] = max(best["bare hybridized Gluon loop"],
                                                 batch * steps / (time.perf_counter() - start))
        for name, (run, _, _) in runs:
            start = time.perf_counter()
            run.train_epoch(epoch, 0)
            mx.nd.waitall()
            best[name] = max(best[name], batch * steps / (time.perf_counter() - start))
    report(f"{model}, batch {batch}, {steps} steps, 1 thread, data in memory", list(best.items()),
           "bare hybridized Gluon loop")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minivggnet")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=60)
    args = p.parse_args()
    compare_loops(args.model, args.batch, args.steps)


if __name__ == "__main__":
    main()
