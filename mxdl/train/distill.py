"""Knowledge distillation (``train.distill_from``): a trained teacher's softened outputs on the
same batch, beside the labels.

    loss = (1 - w) * hard + w * T^2 * KL(softmax(teacher / T) || softmax(student / T))

``hard`` is the run's own loss (label smoothing, mixup or cutmix and class weights as configured;
the teacher sees the mixed images, as in gluoncv's ImageNet recipe), ``T`` is
``train.distill_temperature`` and ``w`` is ``train.distill_weight``. The T^2 keeps the soft term's
gradients on the scale of the hard one's as T grows (Hinton et al. 2015). The teacher runs in
inference mode on each worker's device, outside autograd, and is never part of the student's
checkpoints; they record which teacher taught them, and a resume with another is refused.

The teacher is an mxdl run or checkpoint (its network comes from its own record), or a parameter
file with ``train.distill_model`` naming its network (gluoncv's model zoo, or mxdl's).
"""
import os

from ..errors import UserError


def distillation_loss(student_logits, teacher_probs, temperature):
    """Per-sample ``T^2 * KL(teacher || softmax(student / T))`` (NDArrays, batch first)."""
    from mxnet import nd
    log_q = nd.log_softmax(student_logits.astype("float32") / temperature, axis=1)
    kl = nd.sum(teacher_probs * (nd.log(teacher_probs + 1e-12) - log_q), axis=1)
    return temperature * temperature * kl


def teacher_reference(source):
    """What a checkpoint records of its teacher: the absolute path it was given."""
    return os.path.abspath(source) if source else None


class Teacher:
    """The teacher network, loaded and checked against the student (classes, input)."""

    def __init__(self, train_cfg, classes, input_shape, ctx):
        self.source, self.ctx = train_cfg["distill_from"], ctx
        self.temperature = train_cfg["distill_temperature"]
        self.net = _load(self.source, train_cfg["distill_model"], classes, input_shape, ctx)
        self.name = self.net.model_name if hasattr(self.net, "model_name") else train_cfg["distill_model"]
        _check_fits(self.net, self.source, classes, input_shape, ctx)
        self.net.hybridize()

    def soft_targets(self, x):
        """softmax(teacher(x) / T), outside autograd."""
        from mxnet import autograd, nd
        with autograd.pause(), autograd.predict_mode():
            logits = self.net(x)
            logits = logits[0] if isinstance(logits, (tuple, list)) else logits
            return nd.softmax(logits.astype("float32") / self.temperature, axis=1)


def _identity(source, model_name, classes, input_shape):
    """The teacher network's identity: an mxdl checkpoint's own, else ``distill_model``'s."""
    from ..runs.checkpoint import load_meta, weights_file
    path, fmt = weights_file(source)
    if fmt in ("mxdl checkpoint", "mxdl run"):
        return path, fmt, load_meta(os.path.dirname(path))["identity"]
    if not model_name:
        raise UserError(f"train.distill_from={source} is a parameter file: name its network with "
                        "train.distill_model (e.g. resnet50_v1b)")
    return path, fmt, {"model.name": model_name, "model.options": {}, "classes": classes,
                       "input_shape": list(input_shape)}


def _load(source, model_name, classes, input_shape, ctx):
    from ..models.network import build_network
    from ..models.pretrained import load_pretrained
    path, fmt, ident = _identity(source, model_name, classes, input_shape)
    if ident["classes"] != classes:
        raise UserError(f"the teacher {source} predicts {ident['classes']} classes and the student "
                        f"{classes}: distillation needs the same classes")
    import mxnet as mx
    net = build_network({**ident, "train.dtype": "float32"})
    net.initialize(ctx=ctx)
    net.infer_shape(mx.nd.zeros((1,) + tuple(ident["input_shape"]), ctx=ctx))   # the teacher's own input
    load_pretrained(net, path, ctx, fmt=fmt)
    return net


def _check_fits(net, source, classes, input_shape, ctx):
    """The teacher must take the student's batch as it is: one forward of the student's input."""
    import mxnet as mx
    try:
        out = net(mx.nd.zeros((1,) + tuple(input_shape), ctx=ctx))
        out = out[0] if isinstance(out, (tuple, list)) else out
        out.wait_to_read()
    except (mx.base.MXNetError, ValueError, AssertionError):   # a shape that does not fit, however MXNet says it
        raise UserError(f"the teacher {source} cannot take the student's input {'x'.join(map(str, input_shape))} "
                        "(data.shape): distill from a teacher trained on images of that size") from None
    if out.shape[-1] != classes:
        raise UserError(f"the teacher {source} predicts {out.shape[-1]} classes and the student {classes}: "
                        "distillation needs the same classes")
