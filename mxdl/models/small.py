"""The book's small networks: the digits MLP, ShallowNet, LeNet and MiniVGGNet.

Batch-norm defaults are Keras's (momentum 0.99, epsilon 1e-3), which the book's
numbers were produced with; Gluon's own defaults are 0.9 and 1e-5.
"""
from mxnet.gluon import nn

from .layers import Classifier, batch_norm, conv_relu_bn
from .registry import register_model

KERAS_BN = {"bn_momentum": 0.99, "bn_epsilon": 1e-3}


@register_model(input_shape=(1, 8, 8))
def mlp(classes=10, hidden=(32, 16), activation="sigmoid", dropout=0.0):
    """Feed-forward net (the book's 64-32-16-10 sigmoid net for scikit-learn's digits)."""
    features = nn.HybridSequential()
    features.add(nn.Flatten())
    for units in hidden:
        features.add(nn.Dense(units, activation=activation))
        if dropout:
            features.add(nn.Dropout(dropout))
    return Classifier(features, nn.Dense(classes))


@register_model(input_shape=(3, 32, 32))
def shallownet(classes=10):
    """CONV(32, 3x3, same) -> RELU -> FLATTEN -> DENSE."""
    features = nn.HybridSequential()
    features.add(nn.Conv2D(32, 3, padding=1), nn.Activation("relu"), nn.Flatten())
    return Classifier(features, nn.Dense(classes))


@register_model(input_shape=(1, 28, 28))
def lenet(classes=10, dropout=0.0):
    """[CONV(5x5, same) -> RELU -> POOL 2x2] x (20, 50) -> DENSE(500) -> RELU -> DENSE."""
    features = nn.HybridSequential()
    for channels in (20, 50):
        features.add(nn.Conv2D(channels, 5, padding=2), nn.Activation("relu"), nn.MaxPool2D(2, 2))
    features.add(nn.Flatten(), nn.Dense(500, activation="relu"))
    if dropout:
        features.add(nn.Dropout(dropout))
    return Classifier(features, nn.Dense(classes))


@register_model(input_shape=(3, 32, 32))
def minivggnet(classes=10, batch_norm_on=True, dropout=0.5, conv_dropout=0.25, **bn):
    """Two [CONV -> RELU -> BN] x2 -> POOL -> DROPOUT blocks (32, 64), then DENSE(512) head."""
    bn = {**KERAS_BN, **bn}
    features = nn.HybridSequential()
    for channels in (32, 64):
        for _ in range(2):
            features.add(conv_relu_bn(channels, 3, 1, batch_norm_on, bn))
        features.add(nn.MaxPool2D(2, 2), nn.Dropout(conv_dropout))
    features.add(nn.Flatten(), nn.Dense(512), nn.Activation("relu"))
    if batch_norm_on:
        features.add(batch_norm(**bn))
    features.add(nn.Dropout(dropout))
    return Classifier(features, nn.Dense(classes))
