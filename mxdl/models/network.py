"""The one place a run's network is built: from its identity (model, options, head, classes, dtype).

The trainer builds from the config's identity; evaluation, prediction and feature
extraction build from the identity stored in a checkpoint, so all of them get the
same network, fine-tuned heads included.
"""
from mxnet.gluon import nn

from ..errors import UserError
from .registry import get_model

HEADS = ("book",)


def book_head(classes, units=256, dropout=0.5):
    """FLATTEN -> DENSE(units) -> RELU -> DROPOUT 0.5 -> DENSE(classes)."""
    head = nn.HybridSequential()
    head.add(nn.Flatten(), nn.Dense(units, activation="relu"), nn.Dropout(dropout), nn.Dense(classes))
    return head


def replace_head(net, classes, units):
    if not hasattr(net, "output"):
        raise UserError("model.head needs a model with a features/output split")
    # Gluon refuses to rebind a child to a block of another type, so unregister the old head
    # first; the new one then registers under the same name ("output.*" parameters).
    net._children.pop("output", None)
    object.__delattr__(net, "output")
    net.output = book_head(classes, units)


def build_network(identity, dtype=None):
    """A new, uninitialised network for ``identity`` (see ``mxdl.train.loop.identity``).

    ``dtype`` defaults to the identity's ``train.dtype``; inference passes float32 and
    loads float16 weights with ``cast_dtype=True``, since CPUs lack float16 kernels.
    """
    head = identity.get("model.head")
    if head and head not in HEADS:
        raise UserError(f"model.head must be one of {', '.join(HEADS)} (or unset), got {head!r}")
    net = get_model(identity["model.name"], classes=identity["classes"], **identity["model.options"])
    if head:
        replace_head(net, identity["classes"], identity.get("model.head_units", 256))
    if (dtype or identity.get("train.dtype", "float32")) == "float16":
        net.cast("float16")
    return net
