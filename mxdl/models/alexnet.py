"""AlexNet: the book's variant (227x227, batch norm) and the single-tower ImageNet layout.

The book's variant differs from the 2012 paper: batch norm after every ReLU
instead of local response normalization, dropout 0.25 after each conv block as
well as 0.5 in the dense head, and no grouped (two-GPU) convolutions. Keras
"same" padding for conv1 is Gluon padding 4, giving 57 -> 28 -> 13 -> 6.

``alexnet`` is the single-tower layout (64/192/384/256/256 filters) used by
torchvision and gluoncv, whose 61,100,840 parameters are the figure usually
published for AlexNet; the paper's two-tower 96/256/384/384/256 net had ~60.9M.
"""
from mxnet.gluon import nn

from .layers import Classifier, batch_norm
from .registry import register_model


def _dense_head(units, dropout, bn=None):
    head = nn.HybridSequential()
    head.add(nn.Flatten())
    for _ in range(2):
        head.add(nn.Dense(units), nn.Activation("relu"))
        if bn is not None:
            head.add(batch_norm(**bn))
        head.add(nn.Dropout(dropout))
    return head


@register_model(input_shape=(3, 227, 227))
def alexnet_book(classes=1000, dropout=0.5, conv_dropout=0.25, bn_momentum=0.99, bn_epsilon=1e-3):
    bn = {"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon}
    features = nn.HybridSequential()
    # (filters, kernel, stride, padding, pool after)
    for channels, kernel, stride, pad, pool in ((96, 11, 4, 4, True), (256, 5, 1, 2, True),
                                                (384, 3, 1, 1, False), (384, 3, 1, 1, False),
                                                (256, 3, 1, 1, True)):
        features.add(nn.Conv2D(channels, kernel, strides=stride, padding=pad), nn.Activation("relu"),
                     batch_norm(**bn))
        if pool:
            features.add(nn.MaxPool2D(3, 2), nn.Dropout(conv_dropout))
    features.add(_dense_head(4096, dropout, bn))
    return Classifier(features, nn.Dense(classes))


@register_model(input_shape=(3, 224, 224))
def alexnet(classes=1000, dropout=0.5):
    features = nn.HybridSequential()
    for channels, kernel, stride, pad, pool in ((64, 11, 4, 2, True), (192, 5, 1, 2, True),
                                                (384, 3, 1, 1, False), (256, 3, 1, 1, False),
                                                (256, 3, 1, 1, True)):
        features.add(nn.Conv2D(channels, kernel, strides=stride, padding=pad), nn.Activation("relu"))
        if pool:
            features.add(nn.MaxPool2D(3, 2))
    features.add(_dense_head(4096, dropout))
    return Classifier(features, nn.Dense(classes))
