"""mxdl-export: symbol and ONNX exports that give the trained network's outputs, written atomically."""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from conftest import run_in_process
from mxdl.models import get_model

onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is installed by make env (scripts/bootstrap.sh)")


def _onnx_outputs(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


# one model of each family, at an input its fixed-size layers accept
FAMILIES = [("alexnet", (3, 224, 224)), ("vgg11_bn", (3, 32, 32)), ("googlenet", (3, 224, 224)),
            ("resnet18_v1", (3, 64, 64)), ("resnet50_v1b", (3, 64, 64)), ("resnet18_v2", (3, 64, 64)),
            ("squeezenet1_1", (3, 224, 224)), ("lenet", (1, 28, 28)), ("minivggnet", (3, 32, 32)),
            ("minigooglenet", (3, 32, 32)), ("resnet_cifar", (3, 32, 32)), ("shallownet", (3, 32, 32))]


# The three largest graphs (most of the conversion time) run with the long tests.
LONG = ("alexnet", "vgg11_bn", "resnet50_v1b")


@pytest.mark.slow
@pytest.mark.parametrize("name, shape", [pytest.param(*f, marks=pytest.mark.long if f[0] in LONG else ())
                                         for f in FAMILIES], ids=[f[0] for f in FAMILIES])
def test_onnx_export_gives_mxnets_outputs(name, shape, tmp_path):
    from mxdl.runs.export import export_onnx
    mx.random.seed(0)
    net = get_model(name, classes=7)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = np.random.RandomState(0).uniform(size=(3,) + shape).astype(np.float32)  # batch 3: the batch is free
    expected = net(mx.nd.array(x)).asnumpy()
    path = export_onnx(net, shape, {"input_shape": list(shape)}, str(tmp_path / "serve"))
    assert np.abs(_onnx_outputs(path, x) - expected).max() <= 1e-4
    assert sorted(os.listdir(tmp_path / "serve")) == ["model-preprocess.json", "model.onnx"]


def test_mxdl_export_of_a_run_in_both_formats(trained, digits_rec, tmp_path):
    """The exports give the checkpoint's own outputs, and carry the preprocessing to repeat."""
    from mxdl.eval.model_io import load_predictor
    x = np.random.RandomState(1).uniform(0, 255, size=(4, 8, 8, 1)).astype(np.float32)
    reference = load_predictor(trained)
    expected = reference.probabilities(x)
    out = run_in_process("mxdl-export", trained, "--output", tmp_path / "sym").stdout
    assert "exported" in out and (tmp_path / "sym" / "model-0000.params").exists()
    exported = load_predictor(str(tmp_path / "sym" / "model-symbol.json"))
    np.testing.assert_allclose(exported.probabilities(x), expected, atol=1e-5)
    run_in_process("mxdl-export", trained, "--format", "onnx", "--output", tmp_path / "onnx")
    loaded = subprocess.run([sys.executable, "-c", "import onnxruntime, sys; "
                             "onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])",
                             str(tmp_path / "onnx" / "model.onnx")], capture_output=True, text=True)
    assert loaded.returncode == 0 and loaded.stderr == "", loaded.stderr[-2000:]  # no warning per weight
    pre = json.load(open(tmp_path / "onnx" / "model-preprocess.json"))
    assert {k: pre[k] for k in reference.preprocess()} == reference.preprocess() and pre["schema"] == 2
    assert [s["op"] for s in pre["steps"]] == ["decode", "center_crop", "normalize"]  # digits: packed unresized
    assert pre["input"]["layout"] == "NCHW" and pre["output"].startswith("logits")
    logits = _onnx_outputs(tmp_path / "onnx" / "model.onnx", reference.prepare(x).asnumpy())
    probs = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs / probs.sum(1, keepdims=True), expected, atol=1e-5)
    again = run_in_process("mxdl-export", trained, "--output", tmp_path / "sym").stdout  # repeatable
    assert "exported" in again and [n for n in os.listdir(tmp_path / "sym") if n.startswith(".")] == []


def test_a_full_disk_during_export_leaves_the_previous_export(trained, small_disk):
    from conftest import fill_disk
    disk = small_disk(2048)
    run_in_process("mxdl-export", trained, "--output", disk / "sym")
    before = {n: (disk / "sym" / n).read_bytes() for n in os.listdir(disk / "sym")}
    fill_disk(disk, 20_000)
    proc = run_in_process("mxdl-export", trained, "--format", "onnx", "--output", disk / "sym", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: the disk is full writing"), proc.stderr
    assert {n: (disk / "sym" / n).read_bytes() for n in os.listdir(disk / "sym")} == before
