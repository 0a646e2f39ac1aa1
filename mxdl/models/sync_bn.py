"""Batch normalization with statistics over every worker's batch (``model.sync_bn``).

MXNet's ``gluon.contrib.nn.SyncBatchNorm`` synchronizes the devices of one process; under Horovod
each GPU is its own process, so it would normalize each worker's batch alone (horovod#2087). Here a
BatchNorm layer sums, per channel, the batch's values, their squares and the count over all workers
(one allreduce a layer), normalizes with the global mean and variance, and updates its running
statistics with them, so they agree on every worker. The backward pass sums the gradients of those
three sums over the workers, which is what the concatenated batch's gradient needs.

One allreduce of sums and squares, rather than a mean first and a variance second, halves the
latency-bound collectives a step; the sums are taken in float32 (float64 for a float64 network)
whatever the network's dtype, where the one-pass variance is as close to the two-pass one as
float32 rounding allows for activations of ordinary size.

The allreduce is an imperative call, so a synchronized network runs without ``hybridize``
(the trainer says so). The layer keeps nn.BatchNorm's parameters and names: checkpoints load with
and without it, and inference (``autograd.is_training()`` false) is nn.BatchNorm's own.
"""
import mxnet as mx
import numpy as np
from mxnet import autograd
from mxnet.gluon import nn

from .layers import batchnorm_layers


class _SumOverWorkers(autograd.Function):
    """y = the sum of x over the workers; its gradient is the sum of the workers' gradients of y."""

    def __init__(self, reduce, name):
        super().__init__()
        self.reduce, self.name = reduce, name

    def forward(self, x):
        return self.reduce(x, self.name + ".fwd")

    def backward(self, dy):
        return self.reduce(dy, self.name + ".bwd")


class SyncBatchNorm(nn.BatchNorm):
    """nn.BatchNorm whose training statistics are the workers' together. ``reduce(array, name)``
    returns the sum of ``array`` over the workers (mxdl.dist.Dist.sum_arrays; a thread group in the
    tests); :func:`synchronize` sets it."""

    reduce = None

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        if F is not mx.nd or not autograd.is_training() or self._kwargs["use_global_stats"]:
            return super().hybrid_forward(F, x, gamma, beta, running_mean, running_var)
        axis = self._kwargs["axis"] % x.ndim
        others = tuple(i for i in range(x.ndim) if i != axis)
        channels = x.shape[axis]
        wide = "float64" if x.dtype == np.float64 else "float32"  # float16 and bfloat16 sum in float32
        xf = x.astype(wide, copy=False)
        count = mx.nd.full((1,), x.size // channels, ctx=x.context, dtype=wide)
        local = mx.nd.concat(xf.sum(axis=others), (xf * xf).sum(axis=others), count, dim=0)
        total = _SumOverWorkers(self.reduce, self.name)(local)
        n = total[2 * channels:]
        mean = mx.nd.broadcast_div(total[:channels], n)
        var = mx.nd.relu(mx.nd.broadcast_div(total[channels:2 * channels], n) - mean * mean)  # >= 0 despite rounding
        scale = 1.0 / mx.nd.sqrt(var + self._kwargs["eps"])
        if not self._kwargs["fix_gamma"]:
            scale = scale * gamma
        along = [1] * x.ndim
        along[axis] = channels
        y = mx.nd.broadcast_add(mx.nd.broadcast_mul(mx.nd.broadcast_sub(xf, mean.reshape(along)),
                                                    scale.reshape(along)), beta.reshape(along))
        with autograd.pause():
            momentum = self._kwargs["momentum"]
            running_mean[:] = running_mean * momentum + mean * (1 - momentum)
            running_var[:] = running_var * momentum + var * (1 - momentum)
        return y.astype(x.dtype, copy=False)


def synchronize(net, reduce):
    """Make every BatchNorm of ``net`` a SyncBatchNorm summing with ``reduce``; returns how many.

    The class of each existing layer is changed in place rather than the layer replaced: its
    parameters, their names and its place in the network stay exactly as built, so checkpoints
    and pretrained files load as they would without synchronization."""
    layers = batchnorm_layers(net)
    for bn in layers:
        bn.__class__ = SyncBatchNorm
        bn.reduce = reduce
    return len(layers)
