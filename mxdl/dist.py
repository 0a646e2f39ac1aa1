"""Horovod when launched by horovodrun/mpirun, plain single process otherwise.

A single-process run never imports Horovod, so ``mxdl-train`` works on a
laptop where Horovod is not installed.
"""
import os

import numpy as np

from . import topology


def horovod_environment(hvd_cfg):
    """Horovod reads its tuning from the environment when it starts: the config's values (when set)
    go there before ``hvd.init()``, over what horovodrun's flags put there."""
    env = {}
    if hvd_cfg["fusion_threshold_mb"]:
        env["HOROVOD_FUSION_THRESHOLD"] = str(hvd_cfg["fusion_threshold_mb"] * 1024 * 1024)
    if hvd_cfg["cycle_time_ms"]:
        env["HOROVOD_CYCLE_TIME"] = f"{hvd_cfg['cycle_time_ms']:g}"
    if hvd_cfg["hierarchical_allreduce"]:
        env["HOROVOD_HIERARCHICAL_ALLREDUCE"] = "1"
    return env


class Dist:
    def __init__(self, hvd_cfg=None):
        self.hvd = None
        self.rank, self.size, self.local_rank = 0, 1, 0
        self.fp16_allreduce = bool(hvd_cfg and hvd_cfg["fp16_allreduce"])
        if topology.launched_by_horovod():
            import horovod.mxnet as hvd
            os.environ.update(horovod_environment(hvd_cfg) if hvd_cfg else {})
            hvd.init()
            self.hvd = hvd
            self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()

    @property
    def primary(self):
        return self.rank == 0

    def context(self):
        """One GPU per worker (mx.gpu(local_rank)) when GPUs exist, else the CPU."""
        return topology.device(self.local_rank)

    def make_trainer(self, params, optimizer, optimizer_params):
        from mxnet import gluon
        if self.hvd is None:
            return gluon.Trainer(params, optimizer, optimizer_params, kvstore=None)
        compression = self.hvd.Compression.fp16 if self.fp16_allreduce else self.hvd.Compression.none
        return self.hvd.DistributedTrainer(params, optimizer, optimizer_params, compression=compression)

    def broadcast_parameters(self, params):
        # Must run before the first forward pass: afterwards MKLDNN-layout arrays crash
        # Horovod's broadcast. Deferred-init parameters are broadcast at initialization.
        if self.hvd is not None and self.size > 1:
            self.hvd.broadcast_parameters(params, root_rank=0)

    def allreduce_sum(self, values, name):
        """Sum a small float vector over workers (identity in one process)."""
        values = np.asarray(values, dtype=np.float64)
        if self.hvd is None or self.size == 1:
            return values
        import mxnet as mx
        out = self.hvd.allreduce(mx.nd.array(values, dtype="float64"), average=False, name=name)
        return out.asnumpy()

    def sum_arrays(self, array, name):
        """Sum an NDArray over workers on its own device, with no host copy (model.sync_bn's
        statistics and their gradients; a copy in one process)."""
        if self.hvd is None or self.size == 1:
            return array.copy()
        return self.hvd.allreduce(array, average=False, name=name)

    def barrier(self, name):
        self.allreduce_sum([0.0], name)

    def any(self, flag, name):
        return bool(self.allreduce_sum([1.0 if flag else 0.0], name)[0] > 0)

    def average_aux_states(self, net):
        """Average BatchNorm running statistics over workers (Horovod only averages gradients)."""
        if self.hvd is None or self.size == 1:
            return
        from .models.layers import batchnorm_running_stats
        for param in batchnorm_running_stats(net):
            data = param.data()
            self.hvd.allreduce_(data, average=True, name=f"aux.{param.name}")
            data.wait_to_read()

    def broadcast_object(self, obj, name):
        if self.hvd is None or self.size == 1:
            return obj
        return self.hvd.broadcast_object(obj, root_rank=0, name=name)
