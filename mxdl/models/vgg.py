"""VGG 11/13/16/19 (Simonyan & Zisserman 2014), with or without batch norm, for 224x224 input."""
from mxnet.gluon import nn

from .layers import Classifier, batch_norm
from .registry import register_model
from .alexnet import _dense_head

# convolutions per stage; stage filters are 64, 128, 256, 512, 512
_LAYERS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
_FILTERS = (64, 128, 256, 512, 512)


def vgg_body(depth, batch_norm_on=False, bn_momentum=0.9, bn_epsilon=1e-5):
    """The convolutional body alone (what feature extraction and fine-tuning reuse)."""
    body = nn.HybridSequential()
    for convs, channels in zip(_LAYERS[depth], _FILTERS):
        for _ in range(convs):
            body.add(nn.Conv2D(channels, 3, padding=1))
            if batch_norm_on:
                body.add(batch_norm(bn_momentum, bn_epsilon))
            body.add(nn.Activation("relu"))
        body.add(nn.MaxPool2D(2, 2))
    return body


def _vgg(depth, classes, batch_norm_on, dropout=0.5, **bn):
    features = vgg_body(depth, batch_norm_on, **bn)
    features.add(_dense_head(4096, dropout))
    return Classifier(features, nn.Dense(classes))


def _register(depth, bn_on):
    name = f"vgg{depth}{'_bn' if bn_on else ''}"

    def builder(classes=1000, dropout=0.5, **bn):
        return _vgg(depth, classes, bn_on, dropout, **bn)
    builder.__name__ = name
    builder.__doc__ = f"VGG-{depth}{' with batch norm after every convolution' if bn_on else ''}."
    register_model(input_shape=(3, 224, 224))(builder)
    globals()[name] = builder


for _depth in _LAYERS:
    for _bn_on in (False, True):
        _register(_depth, _bn_on)
