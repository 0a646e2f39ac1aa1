"""Building blocks shared by the model families."""
from mxnet.gluon import nn


def batch_norm(bn_momentum=0.9, bn_epsilon=1e-5):
    return nn.BatchNorm(momentum=bn_momentum, epsilon=bn_epsilon)


def conv_relu_bn(channels, kernel, padding, batch_norm_on, bn, strides=1):
    """CONV -> RELU -> BN, the order of the book's sequential nets."""
    block = nn.HybridSequential()
    block.add(nn.Conv2D(channels, kernel, strides=strides, padding=padding), nn.Activation("relu"))
    if batch_norm_on:
        block.add(batch_norm(**bn))
    return block


def conv_bn_relu(channels, kernel, strides=1, padding=0, bn=None, use_bias=True):
    """CONV -> BN -> RELU, as in the GoogLeNet-family modules."""
    block = nn.HybridSequential()
    block.add(nn.Conv2D(channels, kernel, strides=strides, padding=padding, use_bias=use_bias),
              batch_norm(**(bn or {})), nn.Activation("relu"))
    return block


class Classifier(nn.HybridBlock):
    """``features`` body followed by an ``output`` head (the gluoncv shape, easy to fine-tune)."""

    def __init__(self, features, output, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = features
            self.output = output

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def batchnorm_layers(net):
    """Every nn.BatchNorm in ``net``, in the order of its children."""
    found = []

    def visit(block):
        if isinstance(block, nn.BatchNorm):
            found.append(block)
        for child in block._children.values():
            visit(child)
    visit(net)
    return found


def batchnorm_running_stats(net):
    """Every BatchNorm's running mean and variance, sorted by name: the state workers must agree on.

    Frozen weights (also ``grad_req='null'``) are left out: they never change, so they never differ.
    """
    params = [p for bn in batchnorm_layers(net) for p in (bn.running_mean, bn.running_var) if p._data is not None]
    return sorted(params, key=lambda p: p.name)
