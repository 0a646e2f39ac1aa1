"""ResNet v1, v1b and v2 (pre-activation), depths 18-152, with gluoncv's layouts, plus the
book's configurable pre-activation bottleneck ResNet for small images.

The three ImageNet versions differ only in the bottleneck (depths 50-152):

- ``v1`` (He et al. 2015, gluoncv's ``resnet*_v1``): the stride sits on the first 1x1
  convolution, and the two 1x1 convolutions carry a bias.
- ``v1b`` (torchvision, gluoncv's ``resnet*_v1b``, NVIDIA's "ResNet-50 v1.5"): the stride sits
  on the 3x3, no bias; about 0.5% more accurate for a little more compute.
- ``v2`` (He et al. 2016, gluoncv's ``resnet*_v2``): BN -> ReLU -> conv, with a parameter-free
  batch norm on the raw input.

For depths 18 and 34 (basic blocks) v1 and v1b are the same network. Parameter order equals
gluoncv's, so its ``.params`` files load position by position (``mxdl.models.pretrained``).
"""
from mxnet.gluon import nn

from .layers import batch_norm
from .registry import register_model


def _conv(channels, kernel, strides=1):
    return nn.Conv2D(channels, kernel, strides=strides, padding=kernel // 2, use_bias=False)


class BasicV1(nn.HybridBlock):
    def __init__(self, channels, strides, downsample, bn, **kwargs):
        super().__init__(**kwargs)
        self.body = nn.HybridSequential()
        self.body.add(_conv(channels, 3, strides), batch_norm(**bn), nn.Activation("relu"),
                      _conv(channels, 3), batch_norm(**bn))
        self.downsample = None
        if downsample:
            self.downsample = nn.HybridSequential()
            self.downsample.add(_conv(channels, 1, strides), batch_norm(**bn))

    def hybrid_forward(self, F, x):
        shortcut = self.downsample(x) if self.downsample is not None else x
        return F.Activation(self.body(x) + shortcut, act_type="relu")


class BottleneckV1(BasicV1):
    """The stride on the first 1x1 convolution; the 1x1 convolutions have a bias."""
    def __init__(self, channels, strides, downsample, bn, **kwargs):
        super().__init__(channels, strides, downsample, bn, **kwargs)
        mid = channels // 4
        self.body = nn.HybridSequential()
        self.body.add(nn.Conv2D(mid, 1, strides=strides), batch_norm(**bn), nn.Activation("relu"),
                      _conv(mid, 3), batch_norm(**bn), nn.Activation("relu"),
                      nn.Conv2D(channels, 1), batch_norm(**bn))


class BottleneckV1b(BasicV1):
    """The stride on the 3x3 convolution, no bias."""
    def __init__(self, channels, strides, downsample, bn, **kwargs):
        super().__init__(channels, strides, downsample, bn, **kwargs)
        mid = channels // 4
        self.body = nn.HybridSequential()
        self.body.add(_conv(mid, 1), batch_norm(**bn), nn.Activation("relu"),
                      _conv(mid, 3, strides), batch_norm(**bn), nn.Activation("relu"),
                      _conv(channels, 1), batch_norm(**bn))


class PreActV2(nn.HybridBlock):
    """BN -> RELU -> conv stack; the shortcut branches off after the first BN -> RELU."""
    def __init__(self, channels, strides, downsample, bn, **kwargs):
        super().__init__(**kwargs)
        self.bn1 = batch_norm(**bn)
        self.body = nn.HybridSequential()
        self._build(channels, strides, bn)
        self.downsample = _conv(channels, 1, strides) if downsample else None

    def _build(self, channels, strides, bn):
        self.body.add(_conv(channels, 3, strides), batch_norm(**bn), nn.Activation("relu"),
                      _conv(channels, 3))

    def hybrid_forward(self, F, x):
        act = F.Activation(self.bn1(x), act_type="relu")
        shortcut = self.downsample(act) if self.downsample is not None else x
        return self.body(act) + shortcut


class PreActBottleneckV2(PreActV2):
    def _build(self, channels, strides, bn):
        mid = channels // 4
        self.body.add(_conv(mid, 1), batch_norm(**bn), nn.Activation("relu"),
                      _conv(mid, 3, strides), batch_norm(**bn), nn.Activation("relu"),
                      _conv(channels, 1))


def zero_last_gamma(net):
    """Start the last batch norm of every residual block's body with gamma 0: each block then starts
    as the identity (Goyal et al. 2017; gluoncv's ``last_gamma``). Returns how many were set."""
    from mxnet import init
    count = 0

    def visit(block):
        nonlocal count
        if isinstance(block, (BasicV1, PreActV2)):
            norms = [b for b in block.body._children.values() if isinstance(b, nn.BatchNorm)]
            norms[-1].gamma.init = init.Zero()
            count += 1
        for child in block._children.values():
            visit(child)
    visit(net)
    return count


_SPECS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)), 50: ("bottleneck", (3, 4, 6, 3)),
          101: ("bottleneck", (3, 4, 23, 3)), 152: ("bottleneck", (3, 8, 36, 3))}
_BLOCKS = {("v1", "basic"): BasicV1, ("v1", "bottleneck"): BottleneckV1,
           ("v1b", "basic"): BasicV1, ("v1b", "bottleneck"): BottleneckV1b,
           ("v2", "basic"): PreActV2, ("v2", "bottleneck"): PreActBottleneckV2}
_DESCRIPTION = {"v1": "v1 (stride on the first 1x1 of a bottleneck)",
                "v1b": "v1b (stride on the 3x3 of a bottleneck, as torchvision)",
                "v2": "v2 (pre-activation)"}


class ResNet(nn.HybridBlock):
    """Stem, stages of residual blocks, global pooling, dense classifier (``features``/``output``)."""

    def __init__(self, block, stages, filters, classes, stem, preact, bn, project_first=False, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            self.features.add(*stem)
            in_channels = filters[0]
            for i, (count, channels) in enumerate(zip(stages, filters[1:])):
                stage = nn.HybridSequential()
                for j in range(count):
                    strides = 2 if j == 0 and i > 0 else 1
                    downsample = j == 0 and (project_first or strides != 1 or in_channels != channels)
                    stage.add(block(channels, strides, downsample, bn))
                    in_channels = channels
                self.features.add(stage)
            if preact:
                self.features.add(batch_norm(**bn), nn.Activation("relu"))
            self.features.add(nn.GlobalAvgPool2D(), nn.Flatten())
            self.output = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.output(self.features(x))


def _imagenet_resnet(depth, version, classes, bn_momentum=0.9, bn_epsilon=1e-5):
    kind, stages = _SPECS[depth]
    block = _BLOCKS[(version, kind)]
    bn = {"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon}
    widths = (64, 128, 256, 512) if kind == "basic" else (256, 512, 1024, 2048)
    stem = [_conv(64, 7, 2), batch_norm(**bn), nn.Activation("relu"), nn.MaxPool2D(3, 2, padding=1)]
    if version == "v2":
        stem.insert(0, nn.BatchNorm(scale=False, center=False, momentum=bn_momentum, epsilon=bn_epsilon))
    return ResNet(block, stages, (64,) + widths, classes, stem, version == "v2", bn)


def _register(depth, version):
    name = f"resnet{depth}_{version}"

    def builder(classes=1000, **bn):
        return _imagenet_resnet(depth, version, classes, **bn)
    builder.__name__ = name
    builder.__doc__ = f"ResNet-{depth} {_DESCRIPTION[version]} for 224x224 ImageNet."
    register_model(input_shape=(3, 224, 224))(builder)
    globals()[name] = builder


for _depth in _SPECS:
    for _version in _DESCRIPTION:
        _register(_depth, _version)


@register_model(input_shape=(3, 32, 32))
def resnet_book(classes=10, stages=(9, 9, 9), filters=(64, 64, 128, 256), stem="cifar",
                bn_momentum=0.9, bn_epsilon=2e-5):
    """Pre-activation bottleneck ResNet with configurable stages/filters (the book's ResNet).

    Every stage opens with a projection shortcut, the first included, and
    nothing follows the addition (no ReLU), as in the book's code.

    ``stem='cifar'``: one 3x3 conv; ``stem='tiny'``: 5x5 conv -> BN -> RELU -> 3x3/2 max pool.
    An extra batch norm normalizes the raw input (with scale and shift, as the book's code).
    """
    bn = {"bn_momentum": bn_momentum, "bn_epsilon": bn_epsilon}
    if stem == "cifar":
        layers = [_conv(filters[0], 3)]
    elif stem == "tiny":
        layers = [_conv(filters[0], 5), batch_norm(**bn), nn.Activation("relu"), nn.MaxPool2D(3, 2, padding=1)]
    else:
        raise ValueError(f"stem must be 'cifar' or 'tiny', got {stem!r}")
    layers.insert(0, batch_norm(**bn))
    return ResNet(PreActBottleneckV2, tuple(stages), tuple(filters), classes, layers, True, bn,
                  project_first=True)


@register_model(input_shape=(3, 32, 32))
def resnet_cifar(classes=10, **options):
    """The book's CIFAR-10 ResNet: stages (9, 9, 9), filters (64, 64, 128, 256)."""
    return resnet_book(classes, **options)


@register_model(input_shape=(3, 64, 64))
def resnet_tiny(classes=200, **options):
    """The book's Tiny ImageNet ResNet: stages (3, 4, 6), filters (64, 128, 256, 512), 5x5 stem."""
    return resnet_book(classes, stages=(3, 4, 6), filters=(64, 128, 256, 512), stem="tiny", **options)
