"""gluoncv model-zoo files into mxdl networks: equal outputs for every family, honest reports,
refusals of partial or foreign loads. No downloads: a randomly initialised gluoncv network saved
to a local .params file stands in for the published one."""
import os

import mxnet as mx
import numpy as np
import pytest
from gluoncv.model_zoo import get_model as gluoncv_model

from mxdl.errors import UserError
from mxdl.models import get_model
from mxdl.models.pretrained import GLUONCV, load_pretrained

X = mx.nd.random.uniform(shape=(1, 3, 224, 224))
# The layers and their order are what the tests prove, and they do not depend on the input size:
# VGG's first dense layer at 32x32 holds 2 M weights instead of 103 M, and a ResNet's global pool
# takes any size, at a fiftieth of the work. AlexNet, GoogLeNet and SqueezeNet keep 224.
SMALL_X = mx.nd.random.uniform(shape=(1, 3, 32, 32))


def _input(name):
    return SMALL_X if name.startswith(("vgg", "resnet")) else X


def _gluoncv_file(name, path, classes=1000):
    """A gluoncv network with random weights and batch-norm statistics (so they matter), saved."""
    net = gluoncv_model(GLUONCV[name], classes=classes, pretrained=False)
    net.initialize(mx.init.Uniform(0.05))
    net(_input(name))
    for pname, param in net.collect_params().items():
        if pname.endswith(("running_mean", "running_var", "gamma")):
            param.set_data(mx.nd.random.uniform(0.5, 1.5, shape=param.shape))
    net.save_parameters(str(path))
    return net


def _built(name, classes=1000, **options):
    net = get_model(name, classes=classes, **options)
    net.initialize(mx.init.Zero())
    net.infer_shape(_input(name))
    return net


# The small families prove the loader on every run; the whole zoo (27 ImageNet-size networks, a
# minute and a half and gigabytes of memory) runs with the long tests.
QUICK = ("resnet18_v1", "squeezenet1_1")


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in QUICK else (pytest.mark.slow, pytest.mark.long))
                                  for n in sorted(GLUONCV)])
def test_a_gluoncv_file_gives_gluoncvs_outputs(name, tmp_path):
    theirs = _gluoncv_file(name, tmp_path / "g.params")
    ours = _built(name)
    report = load_pretrained(ours, tmp_path / "g.params")
    assert report.format == f"gluoncv {GLUONCV[name]} parameters" and not report.new and not report.unused
    x = _input(name)
    difference = np.abs(ours(x).asnumpy() - theirs(x).asnumpy()).max()
    assert difference <= 1e-4, difference


@pytest.mark.parametrize("name", QUICK)
def test_a_network_not_yet_run_takes_gluoncv_weights(name, tmp_path):
    """The usual Gluon sequence, get_model then initialize(), leaves shapes deferred: the loader infers
    them from the model's native input instead of refusing every file."""
    theirs = _gluoncv_file(name, tmp_path / "g.params")
    ours = get_model(name, classes=1000)
    ours.initialize()
    report = load_pretrained(ours, tmp_path / "g.params")
    assert not report.partial and not report.new
    assert np.abs(ours(_input(name)).asnumpy() - theirs(_input(name)).asnumpy()).max() <= 1e-4


def test_models_offers_the_loader():
    import mxdl.models
    assert mxdl.models.load_pretrained is load_pretrained


@pytest.mark.slow
def test_v1_and_v1b_are_different_networks(tmp_path):
    """mxdl's resnet50_v1 used to be v1b under v1's name: gluoncv's v1 weights loaded without a word."""
    _gluoncv_file("resnet50_v1", tmp_path / "v1.params")
    with pytest.raises(UserError, match=r"fits resnet50_v1b only in part .*32 unused: features.4.0.body.0.bias"):
        load_pretrained(_built("resnet50_v1b"), tmp_path / "v1.params")
    assert len(load_pretrained(_built("resnet50_v1"), tmp_path / "v1.params").loaded) == 299


def test_a_new_class_count_reports_the_new_head(tmp_path):
    _gluoncv_file("resnet18_v1b", tmp_path / "g.params")
    report = load_pretrained(_built("resnet18_v1b", classes=17), tmp_path / "g.params")
    assert report.new == ["output.weight", "output.bias"] and report.unused_head == ["fc.weight", "fc.bias"]
    assert report.partial == [] and "new head: output.weight, output.bias" in report.summary()
    book = _built("resnet18_v1b", classes=17)
    from mxdl.models.network import replace_head
    replace_head(book, 17, 64)
    book.initialize(mx.init.Zero(), force_reinit=False)
    book.infer_shape(X)
    report = load_pretrained(book, tmp_path / "g.params")
    assert report.new == ["output.1.weight", "output.1.bias", "output.3.weight", "output.3.bias"]


def test_a_file_of_another_architecture_is_refused_naming_arrays(tmp_path):
    _gluoncv_file("squeezenet1_1", tmp_path / "sq.params")
    with pytest.raises(UserError) as err:
        load_pretrained(_built("resnet18_v1"), tmp_path / "sq.params")
    message = str(err.value)
    assert "does not fit resnet18_v1: features.0.weight is (64, 3, 3, 3), expected (64, 3, 7, 7)" in message
    assert "\n" not in message


def test_a_partial_load_is_refused_unless_allowed(tmp_path):
    _gluoncv_file("resnet18_v1", tmp_path / "r18.params")
    arrays = mx.nd.load(str(tmp_path / "r18.params"))
    del arrays["features.5.0.body.0.weight"]
    mx.nd.save(str(tmp_path / "part.params"), arrays)
    with pytest.raises(UserError, match=r"fits resnet18_v1 only in part .*1 other new: features.5.0.body.0.weight"
                                        r".*model.init_partial=true"):
        load_pretrained(_built("resnet18_v1"), tmp_path / "part.params")
    report = load_pretrained(_built("resnet18_v1"), tmp_path / "part.params", allow_partial=True)
    assert report.format == "mxdl parameters" and report.partial == ["features.5.0.body.0.weight"]


@pytest.mark.parametrize("content, message", [
    (b"", "is not a readable MXNet parameter file"),
    (b"not params at all", "is not a readable MXNet parameter file"),
    ("truncated", "is not a readable MXNet parameter file"),
])
def test_an_unreadable_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.params"
    if content == "truncated":
        _gluoncv_file("squeezenet1_1", path)
        content = path.read_bytes()[:5000]
    path.write_bytes(content)
    with pytest.raises(UserError, match=message) as err:
        load_pretrained(_built("squeezenet1_1"), path)
    assert "\n" not in str(err.value)


def test_a_run_folder_is_named_as_such(trained):
    from mxdl.runs.checkpoint import load_meta, weights_file
    from mxdl.models.network import build_network
    net = build_network(load_meta(os.path.join(trained, "checkpoints", "best"))["identity"])
    net.initialize(mx.init.Zero())
    net.infer_shape(mx.nd.zeros((1, 1, 8, 8)))
    path, fmt = weights_file(trained)
    report = load_pretrained(net, path, fmt=fmt)
    assert report.format == "mxdl run" and not report.new and not report.unused


def test_checkpoints_from_before_the_rename_keep_their_network(tmp_path):
    """Format-2 checkpoints called the v1b layout resnet50_v1: they must still build v1b."""
    import json
    from mxdl.runs.checkpoint import load_meta
    for fmt, saved, read in ((2, "resnet50_v1", "resnet50_v1b"), (3, "resnet50_v1", "resnet50_v1"),
                             (2, "resnet18_v1", "resnet18_v1")):
        (tmp_path / "meta.json").write_text(json.dumps({"format": fmt, "identity": {"model.name": saved}}))
        assert load_meta(str(tmp_path))["identity"]["model.name"] == read


@pytest.fixture(scope="module")
def digits_rgb(digits_images, tmp_path_factory):
    """The digits as 3-channel 16x16 images, the input of an ImageNet network's first layer (a ResNet
    takes any size; this one keeps its tests quick)."""
    from conftest import run_in_process
    out = tmp_path_factory.mktemp("rgb") / "shards"
    run_in_process("mxdl-pack", "build", digits_images, out, "--size", "16x16", "--png", "--shards", "2",
                   "--split-sizes", "train=0.8,val=0.2", "--seed", "0")
    return str(out)


def _gluoncv_resnet18(path):
    net = gluoncv_model("resnet18_v1", pretrained=False)
    net.initialize(mx.init.Xavier())
    net(mx.nd.zeros((1, 3, 16, 16)))
    net.save_parameters(str(path))


@pytest.mark.slow
@pytest.mark.long
def test_feature_extraction_from_a_gluoncv_file_then_logistic_regression(digits_rgb, tmp_path):
    """The book's first transfer workflow: a pretrained body's features to HDF5, then a linear model."""
    import h5py
    from conftest import run_in_process
    params = tmp_path / "resnet18_v1-local.params"
    _gluoncv_resnet18(params)
    feats = tmp_path / "feats"
    run_in_process("mxdl-features", "extract", digits_rgb, "--gluoncv", "resnet18_v1", "--params", params,
                   "--input", "3x16x16", "--output", feats)
    with h5py.File(feats / "train.h5", "r") as f:
        assert f["features"].shape[0] == 1438 and np.isfinite(f["features"][:]).all()
    scored = run_in_process("mxdl-features", "logreg", feats, "--train", "train", "--test", "val").stdout
    assert "rank-1" in scored.lower() and (feats / "logreg.pkl").exists()


@pytest.mark.slow
def test_fine_tuning_from_a_gluoncv_file_warm_up_then_unfreeze(digits_rgb, tmp_path):
    """The book's second workflow: the book's head warmed up on the frozen pretrained body, then
    everything trained at a lower rate, starting from the warm-up run."""
    from conftest import REPO, train_in_process
    params = tmp_path / "resnet18_v1-local.params"
    _gluoncv_resnet18(params)
    common = (os.path.join(REPO, "configs", "digits.yaml"), f"data.dir={digits_rgb}", "model.name=resnet18_v1",
              "data.shape=[3,16,16]", "model.head=book", "train.epochs=1", "train.log_interval=100000")
    warm = tmp_path / "warm"
    log = train_in_process(*common, f"model.init_from={params}", "train.freeze=features", "--output", warm).stdout
    assert "from gluoncv resnet18_v1 parameters" in log and "new head: output.1.weight" in log, log
    source = mx.nd.load(str(params))
    warmed = mx.nd.load(str(warm / "checkpoints" / "epoch-0001-step-000000" / "model.params"))
    first = "features.0.weight"  # the stem convolution: the same name in both
    np.testing.assert_array_equal(warmed[first].asnumpy(), source[first].asnumpy())  # frozen
    tuned_dir = tmp_path / "tuned"
    log = train_in_process(*common, f"model.init_from={warm}", "optim.lr=0.005", "--output", tuned_dir).stdout
    assert "from mxdl run" in log and "new" not in log.split("model.init_from:")[1].splitlines()[0], log
    tuned = mx.nd.load(str(tuned_dir / "checkpoints" / "epoch-0001-step-000000" / "model.params"))
    assert not np.array_equal(tuned[first].asnumpy(), warmed[first].asnumpy())  # unfrozen


@pytest.mark.parametrize("name, shape", [("lenet", (1, 28, 28)), ("minivggnet", (3, 32, 32))])
def test_an_exported_models_params_load_by_order(tmp_path, name, shape):
    """RUN/model-EPOCH.params names arrays after the exporting process's graph (arg:conv4_weight):
    model.init_from takes it anyway, weights and BatchNorm statistics each in order, shapes checked."""
    import warnings
    source = get_model(name, classes=10)
    source.initialize(mx.init.Xavier())
    source.hybridize()
    x = mx.nd.random.uniform(shape=(2,) + shape)
    with mx.autograd.record(train_mode=True):   # BatchNorm statistics move away from 0 and 1
        source(x)
    source(x)
    source.export(str(tmp_path / "model"), epoch=3)
    target = get_model(name, classes=10)
    target.initialize()
    report = load_pretrained(target, str(tmp_path / "model-0003.params"))
    assert report.format == "an exported model" and not report.new
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = mx.gluon.SymbolBlock.imports(str(tmp_path / "model-symbol.json"), ["data"],
                                                str(tmp_path / "model-0003.params"))
    assert np.abs(target(x).asnumpy() - exported(x).asnumpy()).max() < 1e-5
    other = get_model("lenet" if name != "lenet" else "shallownet", classes=10)
    other.initialize()
    with pytest.raises(UserError, match="does not fit"):
        load_pretrained(other, str(tmp_path / "model-0003.params"))
