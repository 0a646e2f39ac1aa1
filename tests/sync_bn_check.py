"""The sync-BN proof, shared by the simulated workers (threads, tests/test_sync_bn.py) and real ones:

    horovodrun -np 2 python tests/sync_bn_check.py OUT_DIR [--no-sync]

Each worker trains one step on its slice of a fixed batch; the reference is one worker on the whole
batch. With model.sync_bn the workers' outputs (concatenated), BatchNorm running statistics and
summed parameter gradients equal the reference's; without it they differ. float64, so the only
differences left are the method's, not rounding's.
"""
import json
import os
import sys

import numpy as np

BATCH, SHAPE, CLASSES = 16, (3, 12, 12), 5


def fixed_batch():
    rng = np.random.RandomState(7)
    return rng.randn(BATCH, *SHAPE) * 2 + 0.5, rng.randint(0, CLASSES, BATCH)


def make_net(dtype="float64"):
    """conv-BN-relu twice, then a classifier: the same initial weights in every call and process."""
    import mxnet as mx
    from mxnet.gluon import nn
    net = nn.HybridSequential()
    net.add(nn.Conv2D(6, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"),
            nn.Conv2D(6, 3), nn.BatchNorm(momentum=0.8), nn.Activation("relu"), nn.GlobalAvgPool2D(),
            nn.Dense(CLASSES))
    net.initialize(mx.init.Zero())
    net.cast(dtype)
    net(mx.nd.zeros((1,) + SHAPE, dtype=dtype))
    rng = np.random.RandomState(3)
    for param in net.collect_params().values():  # names differ between instances; the order does not
        if param.grad_req != "null":
            param.set_data(mx.nd.array(rng.randn(*param.shape) * 0.3, dtype=dtype))
    return net


def one_step(net, x, y, dtype="float64"):
    """Outputs, each trainable parameter's gradient and each running statistic, in parameter order."""
    import mxnet as mx
    from mxnet import autograd, gluon
    x, y = mx.nd.array(x, dtype=dtype), mx.nd.array(y)
    with autograd.record():
        out = net(x)
        loss = gluon.loss.SoftmaxCrossEntropyLoss()(out, y)
    loss.backward()
    params = list(net.collect_params().values())
    return {"out": out.asnumpy(),
            "grads": [p.grad().asnumpy() for p in params if p.grad_req != "null"],
            "running": [p.data().asnumpy() for p in params if p.grad_req == "null"]}


def reference():
    x, y = fixed_batch()
    return one_step(make_net(), x, y)


def worker_step(rank, size, reduce=None):
    """This worker's step on its slice; ``reduce`` (sum over workers) synchronizes its BatchNorm."""
    from mxdl.models.sync_bn import synchronize
    x, y = fixed_batch()
    net = make_net()
    if reduce is not None:
        assert synchronize(net, reduce) == 2
    per = BATCH // size
    return one_step(net, x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per])


def differences(steps, ref):
    """Largest differences from the reference: outputs, running statistics (every worker's), and
    the workers' gradients summed (what the gradient allreduce adds up)."""
    out = np.concatenate([s["out"] for s in steps])
    grads = [sum(s["grads"][i] for s in steps) for i in range(len(ref["grads"]))]
    return {"out": float(np.abs(out - ref["out"]).max()),
            "grads": max(float(np.abs(g - r).max()) for g, r in zip(grads, ref["grads"])),
            "running": max(float(np.abs(s["running"][i] - r).max()) for s in steps for i, r in enumerate(ref["running"]))}


def same_batch_everywhere(reduce, steps=3):
    """MiniVGGNet (no dropout) given the same batch on every worker: synchronized statistics are then
    each worker's own, and its gradients must be plain BatchNorm's, step after step. The largest
    gradient difference, relative to the gradient's size."""
    import mxnet as mx
    from mxnet import autograd, gluon
    from mxdl.models.registry import get_model
    from mxdl.models.sync_bn import synchronize
    rng = np.random.RandomState(1)
    x, y = mx.nd.array(rng.randn(16, 1, 8, 8)), mx.nd.array(rng.randint(0, 10, 16))
    nets = []
    for _ in range(2):
        with mx.name.Prefix("same_"):
            net = get_model("minivggnet", classes=10, dropout=0.0, conv_dropout=0.0)
        mx.random.seed(1)
        net.initialize(mx.init.Xavier(), force_reinit=True)
        net(x)
        nets.append(net)
    synchronize(nets[1], reduce)
    worst = 0.0
    for _ in range(steps):
        grads = []
        for net in nets:
            with autograd.record():
                loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(x), y)
            loss.backward()
            grads.append([p.grad().asnumpy() for p in net.collect_params().values() if p.grad_req != "null"])
        worst = max(worst, max(float(np.abs(a - b).max() / (np.abs(a).max() + 1e-12)) for a, b in zip(*grads)))
    return worst


def main(out_dir, sync):
    """One real Horovod worker: its step, gathered on rank 0, which writes the differences."""
    import horovod.mxnet as hvd
    from mxdl.dist import Dist
    dist = Dist()
    step = worker_step(dist.rank, dist.size, dist.sum_arrays if sync else None)
    steps = hvd.allgather_object(step)
    same = same_batch_everywhere(dist.sum_arrays) if sync else None
    if dist.rank == 0:
        with open(os.path.join(out_dir, "differences.json"), "w") as f:
            json.dump({"size": dist.size, "same_batch_relative": same, **differences(steps, reference())}, f)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1], "--no-sync" not in sys.argv)
