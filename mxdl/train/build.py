"""The pieces a run is made of, each built from the config: network, optimizer and schedule.

The order they are built in matters and is kept by :class:`mxdl.train.loop.Run`; each builder
here does one thing.
"""
import numpy as np

from ..errors import UserError
from ..models.network import build_network
from ..models.layers import batchnorm_layers
from ..models.resnet import zero_last_gamma
from ..models.sync_bn import synchronize
from .distill import teacher_reference
from .schedule import Schedule


def identity(cfg, classes, shape):
    """What a checkpoint must agree on to be resumed by this config (also what builds its network)."""
    return {"model.name": cfg["model"]["name"], "model.options": cfg["model"]["options"],
            "model.head": cfg["model"]["head"], "model.head_units": cfg["model"]["head_units"],
            "classes": classes, "input_shape": list(shape), "data.format": cfg["data"]["format"],
            "train.dtype": cfg["train"]["dtype"], "train.amp": cfg["train"]["amp"],
            "teacher": teacher_reference(cfg["train"]["distill_from"])}


def make_initializer(name):
    import mxnet as mx
    if name == "msra":
        return mx.init.MSRAPrelu(factor_type="in", slope=0.0)
    # "xavier"/"book": Keras's default glorot_uniform
    return mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)


def exclude_from_weight_decay(net):
    """The book's l2 applies to kernels only: no decay on biases and batch-norm parameters."""
    for name, param in net.collect_params().items():
        if name.endswith(("_bias", "_beta", "_gamma")):
            param.wd_mult = 0.0


def seed_everything(seed):
    import mxnet as mx
    mx.random.seed(seed)
    np.random.seed(seed)


def network(cfg, ident, ctx):
    """The run's network, initialised on ``ctx`` (shapes still deferred), weight decay set."""
    m = cfg["model"]
    net = build_network(ident)
    if m["last_gamma"] and not zero_last_gamma(net):
        raise UserError(f"model.last_gamma is for residual networks; {m['name']} has no residual block")
    net.initialize(make_initializer(m["init"]), ctx=ctx)
    exclude_from_weight_decay(net)
    return net


def synchronize_batchnorm(cfg, net, dist, log):
    """model.sync_bn: every BatchNorm's statistics over all workers (mxdl/models/sync_bn.py). Returns
    whether it did, in which case the network must run without hybridize."""
    if not cfg["model"]["sync_bn"]:
        return False
    layers = len(batchnorm_layers(net))
    if dist.primary and not layers:
        log.warning(f"model.sync_bn=true: {cfg['model']['name']} has no BatchNorm layer; nothing to synchronize")
    elif dist.primary and dist.size == 1:
        log.info("model.sync_bn: one worker, whose statistics are already the whole batch's; left as it is")
    elif dist.primary:
        log.info(f"model.sync_bn: {layers} BatchNorm layers take their statistics over all {dist.size} workers "
                 "(an allreduce each, forward and backward); the network runs without hybridize")
    if dist.size == 1 or not layers:
        return False
    synchronize(net, dist.sum_arrays)
    return True


def optimizer_params(cfg, lr):
    o = cfg["optim"]
    wd = 2 * o["reg"] if o["reg"] is not None else o["wd"]
    params = {"learning_rate": lr, "wd": wd}
    if o["name"] in ("sgd", "nag"):
        params["momentum"] = o["momentum"]
    if cfg["train"]["dtype"] == "float16":
        params["multi_precision"] = o["multi_precision"]
    return params


def lr_scale(cfg, world_size):
    """The linear scaling rule: the per-worker rate times the worker count (optim.scale_lr)."""
    return float(world_size) if cfg["optim"]["scale_lr"] else 1.0


def schedule(cfg, steps_per_epoch, world_size):
    return Schedule(cfg["schedule"], cfg["train"]["epochs"], steps_per_epoch, cfg["optim"]["warmup_epochs"],
                    [{"epoch": 0, "lr": cfg["optim"]["lr"]}], lr_scale(cfg, world_size))


def trainer(cfg, net, dist, sched):
    return dist.make_trainer(net.collect_params(), cfg["optim"]["name"], optimizer_params(cfg, sched.lr_at(0)))


def input_dtype(cfg):
    return "float16" if cfg["train"]["dtype"] == "float16" else "float32"
