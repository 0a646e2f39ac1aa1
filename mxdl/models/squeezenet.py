"""SqueezeNet 1.0 and 1.1 (Iandola et al. 2016; 1.1 from the authors' repository).

The classifier ends in global average pooling instead of a fixed 13x13 pool,
so the same weights run on inputs other than 224x224 (no parameters change).
"""
from mxnet.gluon import nn
from mxnet.gluon.contrib.nn import HybridConcurrent

from .layers import Classifier
from .registry import register_model


def fire(squeeze, expand1, expand3):
    """1x1 squeeze, then parallel 1x1 and 3x3 expands concatenated."""
    block = nn.HybridSequential()
    block.add(nn.Conv2D(squeeze, 1), nn.Activation("relu"))
    expand = HybridConcurrent(axis=1)
    for channels, kernel in ((expand1, 1), (expand3, 3)):
        branch = nn.HybridSequential()
        branch.add(nn.Conv2D(channels, kernel, padding=kernel // 2), nn.Activation("relu"))
        expand.add(branch)
    block.add(expand)
    return block


# stem (filters, kernel), then fires as (squeeze, expand) with "pool" between groups
_LAYOUT = {
    "1.0": ((96, 7), [(16, 64), (16, 64), (32, 128), "pool", (32, 128), (48, 192), (48, 192),
                      (64, 256), "pool", (64, 256)]),
    "1.1": ((64, 3), [(16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192),
                      (48, 192), (64, 256), (64, 256)]),
}


def _squeezenet(version, classes, dropout):
    (stem_filters, stem_kernel), fires = _LAYOUT[version]
    features = nn.HybridSequential()
    features.add(nn.Conv2D(stem_filters, stem_kernel, strides=2), nn.Activation("relu"),
                 nn.MaxPool2D(3, 2, ceil_mode=True))
    for spec in fires:
        features.add(nn.MaxPool2D(3, 2, ceil_mode=True) if spec == "pool" else fire(spec[0], spec[1], spec[1]))
    features.add(nn.Dropout(dropout))
    output = nn.HybridSequential()
    output.add(nn.Conv2D(classes, 1), nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Flatten())
    return Classifier(features, output)


@register_model(input_shape=(3, 224, 224))
def squeezenet1_0(classes=1000, dropout=0.5):
    return _squeezenet("1.0", classes, dropout)


@register_model(input_shape=(3, 224, 224))
def squeezenet1_1(classes=1000, dropout=0.5):
    return _squeezenet("1.1", classes, dropout)
