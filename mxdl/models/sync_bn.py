"""Batch normalization with statistics over every worker's batch (``model.sync_bn``).

MXNet's ``gluon.contrib.nn.SyncBatchNorm`` synchronizes the devices of one process; under Horovod
each GPU is its own process, so it would normalize each worker's batch alone (horovod#2087). Here a
BatchNorm layer sums, per channel, the batch's values, their squares and the count over all workers
(one allreduce), normalizes with the global mean and variance, and updates its running statistics
with them, so they agree on every worker. The backward pass needs the global sums of the output
gradient and of its product with the normalized input (a second allreduce); with them each worker's
input gradient is the concatenated batch's. Parameter gradients stay per worker, summed by the
trainer's allreduce as every other gradient is.

One allreduce of sums and squares, rather than a mean first and a variance second, halves the
latency-bound collectives a step; the sums are taken in float32 (float64 for a float64 network)
whatever the network's dtype, where the one-pass variance is as close to the two-pass one as
float32 rounding allows for activations of ordinary size. The per-channel sums are matrix
products with a vector of ones: MXNet's CPU reduction over axes (0, 2, 3) took 11 ms on a
32x32x32x32 batch where the two products take 1 ms, and the backward pass is written out for the
same reason (autograd through broadcasting would reduce that slow way); the normalization itself
is MXNet's BatchNorm operator with the global statistics. MXNet copies an autograd.Function's
backward results as the function returns, without waiting for the operations that compute them,
so the backward waits for its results itself: one host wait per layer in the backward pass (a
stall of the GPU's queue there), the price of a Python-level layer. Without it the gradients
were read before Horovod's allreduce had filled them (tests/test_sync_bn.py).

The allreduce is an imperative call, so a synchronized network runs without ``hybridize``
(the trainer says so). The layer keeps nn.BatchNorm's parameters and names: checkpoints load with
and without it, and inference (``autograd.is_training()`` false) is nn.BatchNorm's own.
"""
import mxnet as mx
import numpy as np
from mxnet import autograd
from mxnet.gluon import nn

from ..errors import UserError
from .layers import batchnorm_layers


def _channel_sums(x):
    """Per-channel sums of an N x C x ... array, as two matrix products (see the module's note)."""
    n, c = x.shape[0], x.shape[1]
    ones_n = mx.nd.ones((1, n), ctx=x.context, dtype=x.dtype)
    per_position = mx.nd.dot(ones_n, x.reshape((n, -1))).reshape((c, -1))
    ones_p = mx.nd.ones((per_position.shape[1], 1), ctx=x.context, dtype=x.dtype)
    return mx.nd.dot(per_position, ones_p).reshape((c,))


def _per_channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


class _SyncBatchNormStep(autograd.Function):
    """One training forward (and its backward) of a synchronized BatchNorm layer."""

    def __init__(self, layer, running_mean, running_var):
        super().__init__()
        self.layer, self.running = layer, (running_mean, running_var)

    def forward(self, x, gamma, beta):
        layer, kw = self.layer, self.layer._kwargs
        channels = x.shape[1]
        wide = "float64" if x.dtype == np.float64 else "float32"  # float16 and bfloat16 sum in float32
        xw = x.astype(wide, copy=False)
        local = mx.nd.concat(_channel_sums(xw), _channel_sums(xw * xw),
                             mx.nd.full((1,), x.size // channels, ctx=x.context, dtype=wide), dim=0)
        total = layer.reduce(local, layer.name + ".stats")
        n = total[2 * channels:]
        mean = mx.nd.broadcast_div(total[:channels], n)
        var = mx.nd.relu(mx.nd.broadcast_div(total[channels:2 * channels], n) - mean * mean)  # >= 0 despite rounding
        gamma_used = mx.nd.ones_like(gamma) if kw["fix_gamma"] else gamma
        y = mx.nd.BatchNorm(x, gamma_used, beta, mean.astype(gamma.dtype), var.astype(gamma.dtype), eps=kw["eps"],
                            use_global_stats=True, fix_gamma=False, axis=1)
        momentum = kw["momentum"]
        running_mean, running_var = self.running
        running_mean[:] = running_mean * momentum + mean.astype(running_mean.dtype) * (1 - momentum)
        running_var[:] = running_var * momentum + var.astype(running_var.dtype) * (1 - momentum)
        self.saved = xw, mean, 1.0 / mx.nd.sqrt(var + kw["eps"]), gamma_used.astype(wide), n, gamma.dtype
        return y

    def backward(self, dy):
        xw, mean, invstd, gamma, n, param_dtype = self.saved
        ndim, channels = xw.ndim, xw.shape[1]
        dyw = dy.astype(xw.dtype, copy=False)
        xhat = mx.nd.broadcast_mul(mx.nd.broadcast_sub(xw, _per_channel(mean, ndim)), _per_channel(invstd, ndim))
        dbeta, dgamma = _channel_sums(dyw), _channel_sums(dyw * xhat)
        total = self.layer.reduce(mx.nd.concat(dbeta, dgamma, dim=0), self.layer.name + ".grads")
        mean_dy = mx.nd.broadcast_div(total[:channels], n)
        mean_dy_xhat = mx.nd.broadcast_div(total[channels:], n)
        dx = mx.nd.broadcast_mul(
            mx.nd.broadcast_sub(dyw, _per_channel(mean_dy, ndim)) - mx.nd.broadcast_mul(xhat, _per_channel(mean_dy_xhat, ndim)),
            _per_channel(gamma * invstd, ndim))
        if self.layer._kwargs["fix_gamma"]:
            dgamma = mx.nd.zeros_like(dgamma)
        self.saved = None
        grads = dx.astype(dy.dtype, copy=False), dgamma.astype(param_dtype), dbeta.astype(param_dtype)
        for g in grads:   # see the module's note: MXNet would copy them unfinished
            g.wait_to_read()
        return grads


class SyncBatchNorm(nn.BatchNorm):
    """nn.BatchNorm whose training statistics are the workers' together. ``reduce(array, name)``
    returns the sum of ``array`` over the workers (mxdl.dist.Dist.sum_arrays; a thread group in the
    tests); :func:`synchronize` sets it."""

    reduce = None

    def hybrid_forward(self, F, x, gamma, beta, running_mean, running_var):
        if F is not mx.nd or not autograd.is_training() or self._kwargs["use_global_stats"]:
            return super().hybrid_forward(F, x, gamma, beta, running_mean, running_var)
        return _SyncBatchNormStep(self, running_mean, running_var)(x, gamma, beta)


def synchronize(net, reduce):
    """Make every BatchNorm of ``net`` a SyncBatchNorm summing with ``reduce``; returns how many.

    The class of each existing layer is changed in place rather than the layer replaced: its
    parameters, their names and its place in the network stay exactly as built, so checkpoints
    and pretrained files load as they would without synchronization."""
    layers = batchnorm_layers(net)
    for bn in layers:
        if bn._kwargs["axis"] != 1:
            raise UserError(f"model.sync_bn: {bn.name} normalizes along axis {bn._kwargs['axis']}; "
                            "synchronized BatchNorm takes channels first (axis 1)")
        bn.__class__ = SyncBatchNorm
        bn.reduce = reduce
    return len(layers)
