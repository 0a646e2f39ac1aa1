"""GoogLeNet (Inception v1) for ImageNet, and the book's MiniGoogLeNet and DeeperGoogLeNet.

``googlenet`` follows the layout of torchvision/gluoncv (batch norm in every
conv, no conv bias, ceil-mode pooling), whose 6,624,904 parameters (no
auxiliary heads) is the published figure; like them it uses a 3x3 kernel in
the branch the paper gives as 5x5. ``paper_5x5=True`` restores the paper's 5x5.
"""
from mxnet.gluon import nn
from mxnet.gluon.contrib.nn import HybridConcurrent

from .layers import Classifier, conv_bn_relu
from .registry import register_model

# (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) per inception module, from the paper
_INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64), "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


def inception(spec, conv, wide_kernel=5):
    """Four parallel branches concatenated on channels: 1x1; 1x1->3x3; 1x1->wide; pool->1x1."""
    n1, r3, n3, r5, n5, proj = spec
    block = HybridConcurrent(axis=1)
    block.add(conv(n1, 1))
    for reduce_, out, k in ((r3, n3, 3), (r5, n5, wide_kernel)):
        branch = nn.HybridSequential()
        branch.add(conv(reduce_, 1), conv(out, k, padding=k // 2))
        block.add(branch)
    pool = nn.HybridSequential()
    pool.add(nn.MaxPool2D(3, 1, padding=1), conv(proj, 1))
    block.add(pool)
    return block


class _AuxHead(nn.HybridSequential):
    def __init__(self, classes, conv):
        super().__init__()
        self.add(nn.AvgPool2D(5, 3), conv(128, 1), nn.Flatten(), nn.Dense(1024, activation="relu"),
                 nn.Dropout(0.7), nn.Dense(classes))


class GoogLeNet(nn.HybridBlock):
    """Inception v1; with ``aux_logits`` the forward returns (logits, aux1, aux2)."""

    def __init__(self, classes=1000, dropout=0.4, aux_logits=False, paper_5x5=False,
                 bn_momentum=0.9, bn_epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        bn = {"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon}

        def conv(channels, kernel, strides=1, padding=0):
            return conv_bn_relu(channels, kernel, strides, padding, bn, use_bias=False)
        wide = 5 if paper_5x5 else 3
        self.aux_logits = aux_logits
        with self.name_scope():
            # features = stem, middle, tail: the whole body in one block (for freezing and feature
            # extraction), split where the auxiliary heads tap it.
            stem = nn.HybridSequential()
            stem.add(conv(64, 7, 2, 3), nn.MaxPool2D(3, 2, ceil_mode=True), conv(64, 1),
                          conv(192, 3, padding=1), nn.MaxPool2D(3, 2, ceil_mode=True),
                          inception(_INCEPTION["3a"], conv, wide), inception(_INCEPTION["3b"], conv, wide),
                          nn.MaxPool2D(3, 2, ceil_mode=True), inception(_INCEPTION["4a"], conv, wide))
            middle = nn.HybridSequential()
            for name in ("4b", "4c", "4d"):
                middle.add(inception(_INCEPTION[name], conv, wide))
            tail = nn.HybridSequential()
            tail.add(inception(_INCEPTION["4e"], conv, wide), nn.MaxPool2D(2, 2),
                          inception(_INCEPTION["5a"], conv, wide), inception(_INCEPTION["5b"], conv, wide),
                          nn.GlobalAvgPool2D(), nn.Dropout(dropout))
            self.features = nn.HybridSequential()
            self.features.add(stem, middle, tail)
            self.output = nn.Dense(classes)
            if aux_logits:
                self.aux1 = _AuxHead(classes, conv)
                self.aux2 = _AuxHead(classes, conv)

    def hybrid_forward(self, F, x):
        stem, middle, tail = self.features
        x = stem(x)
        a1 = self.aux1(x) if self.aux_logits else None
        x = middle(x)
        a2 = self.aux2(x) if self.aux_logits else None
        out = self.output(tail(x))
        return (out, a1, a2) if self.aux_logits else out


@register_model(input_shape=(3, 224, 224))
def googlenet(classes=1000, **options):
    return GoogLeNet(classes, **options)


def _keras_conv(bn):
    """The book's conv_module: CONV (with bias) -> BN -> RELU, Keras "same" padding."""
    def conv(channels, kernel, strides=1, padding=None):
        return conv_bn_relu(channels, kernel, strides, kernel // 2 if padding is None else padding, bn)
    return conv


@register_model(input_shape=(3, 32, 32))
def minigooglenet(classes=10, dropout=0.5, bn_momentum=0.99, bn_epsilon=1e-3):
    """The book's CIFAR-10 net: two-branch inception modules and conv+pool downsampling."""
    conv = _keras_conv({"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon})

    def mini_inception(n1, n3):
        block = HybridConcurrent(axis=1)
        block.add(conv(n1, 1), conv(n3, 3))
        return block

    def downsample(channels):
        block = HybridConcurrent(axis=1)
        block.add(conv(channels, 3, strides=2, padding=0), nn.MaxPool2D(3, 2))
        return block

    features = nn.HybridSequential()
    features.add(conv(96, 3), mini_inception(32, 32), mini_inception(32, 48), downsample(80))
    for n1, n3 in ((112, 48), (96, 64), (80, 80), (48, 96)):
        features.add(mini_inception(n1, n3))
    features.add(downsample(96), mini_inception(176, 160), mini_inception(176, 160),
                 nn.GlobalAvgPool2D(), nn.Dropout(dropout), nn.Flatten())
    return Classifier(features, nn.Dense(classes))


@register_model(input_shape=(3, 64, 64))
def deepergooglenet(classes=200, dropout=0.4, bn_momentum=0.99, bn_epsilon=1e-3, stage4=True):
    """The book's Tiny ImageNet net; ``stage4=False`` drops inception 4a-4e (its smaller run)."""
    conv = _keras_conv({"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon})
    features = nn.HybridSequential()
    features.add(conv(64, 5), nn.MaxPool2D(3, 2, padding=1), conv(64, 1), conv(192, 3),
                 nn.MaxPool2D(3, 2, padding=1), inception(_INCEPTION["3a"], conv),
                 inception(_INCEPTION["3b"], conv), nn.MaxPool2D(3, 2, padding=1))
    if stage4:
        for name in ("4a", "4b", "4c", "4d", "4e"):
            features.add(inception(_INCEPTION[name], conv))
        features.add(nn.MaxPool2D(3, 2, padding=1))
    features.add(nn.GlobalAvgPool2D(), nn.Dropout(dropout), nn.Flatten())
    return Classifier(features, nn.Dense(classes))
