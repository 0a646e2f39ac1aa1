"""Model zoo: shapes, parameter counts against published figures and gluoncv, hybridize, export."""
import mxnet as mx
import numpy as np
import pytest
from gluoncv.model_zoo import get_model as gluoncv_model

from conftest import run_in_process
from mxdl.errors import UserError
from mxdl.models import get_model, list_models, native_input
from mxdl.models.cli import count_parameters

# (mxdl name, gluoncv name, published trainable count for 1000 classes)
IMAGENET = [
    ("vgg16", "vgg16", 138_357_544),
    ("vgg16_bn", "vgg16_bn", 138_365_992),
    ("resnet18_v1", "resnet18_v1", 11_689_512),
    ("resnet50_v1b", "resnet50_v1b", 25_557_032),
    ("squeezenet1_0", "squeezenet1.0", 1_248_424),
    ("squeezenet1_1", "squeezenet1.1", 1_235_496),
    ("alexnet", "alexnet", 61_100_840),
    ("googlenet", "googlenet", 6_624_904),
]

# the book's figures (book.md, "Parameter counts usable as test fixtures")
BOOK = [
    ("shallownet", {"classes": 3}, (3, 32, 32), 99_203, None),
    ("shallownet", {"classes": 10}, (3, 32, 32), 328_586, None),
    ("lenet", {"classes": 10}, (1, 28, 28), 1_256_080, None),
    ("minivggnet", {"classes": 10}, (3, 32, 32), 2_169_770, 2_171_178),
    ("minivggnet", {"classes": 10, "batch_norm_on": False}, (3, 32, 32), 2_168_362, 2_168_362),
    ("alexnet_book", {"classes": 2}, (3, 227, 227), 58_308_674, 58_327_810),
    ("minigooglenet", {"classes": 10}, (3, 32, 32), 1_652_826, 1_656_250),
    ("deepergooglenet", {"classes": 200}, (3, 64, 64), 3_657_992, 3_667_976),
    ("deepergooglenet", {"classes": 200, "stage4": False}, (3, 64, 64), None, 773_752),
    ("resnet_cifar", {"classes": 10}, (3, 32, 32), None, 886_102),
    ("resnet_book", {"classes": 10, "filters": (16, 16, 32, 64)}, (3, 32, 32), None, 60_790),
    ("resnet_tiny", {"classes": 200}, (3, 64, 64), None, 2_265_748),
]


@pytest.mark.parametrize("name,gluoncv_name,published", IMAGENET)
def test_imagenet_counts_match_published_and_gluoncv(name, gluoncv_name, published):
    ours = count_parameters(get_model(name, classes=1000), (3, 224, 224))
    theirs = count_parameters(gluoncv_model(gluoncv_name, classes=1000), (3, 224, 224))
    assert ours[0] == published
    assert ours == theirs  # trainable and batch-norm statistics alike


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet34_v1", "resnet50_v1", "resnet101_v1b", "resnet152_v2", "resnet50_v2",
                                  "vgg19_bn"])
def test_other_depths_match_gluoncv(name):
    from mxdl.models.pretrained import GLUONCV
    assert count_parameters(get_model(name), (3, 224, 224)) == \
        count_parameters(gluoncv_model(GLUONCV[name]), (3, 224, 224))


@pytest.mark.parametrize("name,options,shape,trainable,total", BOOK)
def test_book_counts(name, options, shape, trainable, total):
    got_trainable, got_total = count_parameters(get_model(name, **options), shape)
    if trainable is not None:
        assert got_trainable == trainable
    if total is not None:
        assert got_total == total


def test_vgg16_body_matches_book():
    from mxdl.models.vgg import vgg_body
    body = vgg_body(16)
    body.initialize()
    assert count_parameters(body, (3, 224, 224))[0] == 14_714_688


def _output_shape(net, shape):
    net.initialize()
    out = net(mx.sym.var("data"))
    out = out[0] if isinstance(out, (list, tuple)) else out
    return out.infer_shape(data=(2,) + tuple(shape))[1][0]


@pytest.mark.parametrize("name", list_models())
def test_output_shape_at_native_size(name):
    assert _output_shape(get_model(name, classes=7), native_input(name)) == (2, 7)


SMALLER = {"resnet18_v1": (3, 64, 64), "resnet50_v2": (3, 96, 96), "squeezenet1_1": (3, 96, 96),
           "googlenet": (3, 96, 96), "resnet_cifar": (3, 16, 16), "minigooglenet": (3, 32, 32),
           "deepergooglenet": (3, 48, 48), "mlp": (1, 8, 8), "lenet": (1, 8, 8), "minivggnet": (3, 16, 16),
           "shallownet": (1, 8, 8)}


@pytest.mark.slow
@pytest.mark.parametrize("name,shape", sorted(SMALLER.items()))
def test_forward_hybridized_equals_imperative_and_export_round_trip(name, shape, tmp_path):
    mx.random.seed(0)
    net = get_model(name, classes=5)
    net.initialize(mx.init.Xavier())
    x = mx.nd.random.uniform(shape=(2,) + shape)
    imperative = net(x).asnumpy()
    assert imperative.shape == (2, 5) and np.isfinite(imperative).all()
    net.hybridize()
    hybrid = net(x).asnumpy()
    np.testing.assert_allclose(hybrid, imperative, rtol=1e-4, atol=1e-5)
    prefix = str(tmp_path / name)
    net.export(prefix, epoch=1)
    loaded = mx.gluon.SymbolBlock.imports(f"{prefix}-symbol.json", ["data"], f"{prefix}-0001.params")
    np.testing.assert_allclose(loaded(x).asnumpy(), imperative, rtol=1e-4, atol=1e-5)


def test_googlenet_aux_heads():
    net = get_model("googlenet", classes=4, aux_logits=True)
    net.initialize()
    outs = net(mx.nd.zeros((1, 3, 224, 224)))
    assert [o.shape for o in outs] == [(1, 4)] * 3
    assert count_parameters(get_model("googlenet", aux_logits=False), (3, 224, 224))[0] == 6_624_904


def test_grayscale_input_and_float16_cast():
    net = get_model("resnet18_v1", classes=3)
    net.initialize()
    assert net(mx.nd.zeros((1, 1, 64, 64))).shape == (1, 3)
    net.cast("float16")  # float16 kernels exist on GPUs only; on CPU check the parameters
    dtypes = {n: p.dtype for n, p in net.collect_params().items()}
    assert {d for n, d in dtypes.items() if "conv" in n or "dense" in n} == {"float16"}
    assert {d for n, d in dtypes.items() if "batchnorm" in n} == {"float32"}  # Gluon keeps BN in fp32


def test_bn_options_reach_layers():
    net = get_model("minivggnet", bn_momentum=0.5, bn_epsilon=0.01)
    bns = [b for b in net.features._children.values() for b in getattr(b, "_children", {}).values()
           if isinstance(b, mx.gluon.nn.BatchNorm)]
    assert bns and all(b._kwargs["momentum"] == 0.5 and b._kwargs["eps"] == 0.01 for b in bns)


def test_unknown_model_and_option():
    with pytest.raises(UserError, match="unknown model 'resnet5_v1'; did you mean"):
        get_model("resnet5_v1")
    with pytest.raises(UserError, match="does not take these options"):
        get_model("lenet", widht=3)


@pytest.mark.parametrize("name, options, message", [
    ("resnet_cifar", {"stem": "huge"}, "stem must be 'cifar' or 'tiny'"),
    ("minivggnet", {"dropout": "lots"}, "option dropout must be a number in \\[0, 1\\), got 'lots'"),
    ("resnet18_v1", {"bn_epsilon": 0}, "option bn_epsilon must be a number above 0"),
])
def test_bad_option_values_are_one_line_errors(name, options, message):
    with pytest.raises(UserError, match=message) as err:
        net = get_model(name, **options)
        net.initialize()
        net(mx.nd.zeros((1,) + tuple(native_input(name))))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_a_features_body_and_an_output_head(name):
    """What train.freeze=features, model.head and feature extraction rely on."""
    net = get_model(name, classes=3)
    assert isinstance(net.features, mx.gluon.HybridBlock) and isinstance(net.output, mx.gluon.Block)
    net.initialize()  # deferred: traced with symbols below, so no weights are ever allocated
    feats = net.features(mx.sym.var("data"))
    shape = (1,) + tuple(SMALLER.get(name, native_input(name)))
    assert feats.infer_shape(data=shape)[1][0][0] == 1
    assert net.output(feats).infer_shape(data=shape)[1][0] == (1, 3)
    names = set(net._collect_params_with_prefix())
    assert {n for n in names if n.startswith(("features.", "output."))} == {
        n for n in names if not n.startswith(("aux1.", "aux2."))}


def test_cli_list_and_summary():
    listing = run_in_process("mxdl-models", "list", "vgg1*").stdout.split()
    assert "vgg16_bn" in listing and "resnet18_v1" not in listing
    out = run_in_process("mxdl-models", "summary", "squeezenet1_1", "--input", "3x224x224").stdout
    assert "Output Shape" in out and "squeezenet1_1: 1,235,496 trainable parameters" in out
    bad = run_in_process("mxdl-models", "summary", "vgg16", "--input", "3x224", check=False)
    assert bad.returncode == 2 and "--input must be C,H,W as" in bad.stderr


def test_running_statistics_are_batchnorms_only():
    from mxdl.models.layers import batchnorm_running_stats
    from mxdl.train.finetune import freeze
    net = get_model("vgg11_bn", classes=3)
    net.initialize()
    net(mx.nd.zeros((1, 3, 32, 32)))
    freeze(net, "features")  # frozen weights are grad_req='null' too, and must not be averaged
    stats = batchnorm_running_stats(net)
    bns = [b for b in net.features._children.values() if isinstance(b, mx.gluon.nn.BatchNorm)]
    assert len(stats) == 2 * len(bns) == 16
    assert all(p.name.endswith(("running_mean", "running_var")) for p in stats)


# published multiply-accumulates per 224x224 image: the papers (ResNet: 1.8 and 3.8 billion for
# 18 and 50 layers; GoogLeNet 1.5 billion) and torchvision's model table (ResNet-50 v1.5 4.09,
# VGG-16 15.47, AlexNet 0.71, SqueezeNet 1.0 0.82 and 1.1 0.35 GFLOPS, counted as MACs)
PUBLISHED_GMACS = [("resnet18_v1", 1.8), ("resnet50_v1", 3.8), ("resnet50_v1b", 4.09), ("vgg16", 15.47),
                   ("googlenet", 1.5), ("alexnet", 0.71), ("squeezenet1_0", 0.82), ("squeezenet1_1", 0.35)]


@pytest.mark.parametrize("name, gmacs", PUBLISHED_GMACS)
def test_macs_match_published_figures(name, gmacs):
    from mxdl.models.cli import count_macs
    net = get_model(name)
    net.initialize()
    assert count_macs(net, (3, 224, 224)) / 1e9 == pytest.approx(gmacs, rel=0.02)


def test_summary_shows_macs_next_to_parameters():
    out = run_in_process("mxdl-models", "summary", "resnet50_v1b").stdout
    assert "25,557,032 trainable parameters" in out and "4.09 GMACs per 3x224x224 image" in out
