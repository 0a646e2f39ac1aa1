"""A trained network as files a server loads: MXNet's symbol JSON and params, or ONNX.

Both formats come with ``model-preprocess.json`` (mean, scale, resize, input shape, class
names): what a server must do to an image first. Files are written in a temporary folder and
moved into place, the file that marks a complete export last, so a full disk or an interrupt
never leaves a truncated model under its final name. ONNX goes through MXNet 1.9's own
converter (``mx.onnx.export_model``) with a dynamic batch dimension.
"""
import glob
import os

from ..data import inputspec
from ..errors import UserError
from ..fileio import atomic_write_json, read_json_object, temporary_dir
from ..log import still_working

PREPROCESS_SCHEMA = 2  # 2: the steps in order, input and output described; 1: mean, scale, resize only
PREFIX = "model"
PREPROCESS = "model-preprocess.json"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 17


def _move_into_place(tmp, out_dir, last):
    os.makedirs(out_dir, exist_ok=True)
    for name in sorted(os.listdir(tmp), key=lambda n: n == last):
        os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))


def _remove_older_params(out_dir, epoch):
    """An earlier export's ``model-NNNN.params`` beside the new one would be taken for it."""
    for path in glob.glob(os.path.join(out_dir, f"{PREFIX}-[0-9][0-9][0-9][0-9].params")):
        if not path.endswith(f"-{epoch:04d}.params"):
            os.remove(path)


def serving_preprocess(pre):
    """``model-preprocess.json``: what a server must do to a photo, step by step, to give the network
    what validation gave it (README, "model-preprocess.json"). The flat keys mxdl itself reads stay
    beside the steps."""
    c, h, w = pre["input_shape"]
    return {**pre, "schema": PREPROCESS_SCHEMA, "steps": inputspec.steps(pre),
            "input": {"name": "data", "layout": "NCHW", "dtype": "float32", "shape": ["batch", c, h, w]},
            "output": "logits (apply softmax for probabilities)"}


def export_symbol(net, input_shape, preprocess, out_dir, epoch=0, dtype="float32", ctx=None):
    """``net`` (hybridized) as ``model-symbol.json`` + ``model-EPOCH.params`` in ``out_dir``."""
    import mxnet as mx
    net(mx.nd.zeros((1,) + tuple(input_shape), dtype=dtype, ctx=ctx or mx.cpu()))  # builds the graph to write
    os.makedirs(out_dir, exist_ok=True)
    with temporary_dir(out_dir, ".export-") as tmp:
        net.export(os.path.join(tmp, PREFIX), epoch=epoch)
        atomic_write_json(os.path.join(tmp, PREPROCESS), serving_preprocess(preprocess))
        _remove_older_params(out_dir, epoch)
        _move_into_place(tmp, out_dir, last=f"{PREFIX}-symbol.json")
    return os.path.join(out_dir, f"{PREFIX}-symbol.json"), os.path.join(out_dir, f"{PREFIX}-{epoch:04d}.params")


def export_onnx(net, input_shape, preprocess, out_dir, ctx=None):
    """``net`` as ``model.onnx`` (batch size free) in ``out_dir``."""
    import numpy as np
    try:
        import onnx  # noqa: F401 - mx.onnx needs it, and says so less clearly
    except ImportError:
        raise UserError("ONNX export needs the onnx package: pip install 'mxdl[onnx]'") from None
    import mxnet as mx
    os.makedirs(out_dir, exist_ok=True)
    with temporary_dir(out_dir, ".export-") as tmp:
        symbol, params = export_symbol(net, input_shape, preprocess, os.path.join(tmp, "symbol"), ctx=ctx)
        shape = tuple(input_shape)
        try:
            with still_working("MXNet's ONNX converter"):
                mx.onnx.export_model(symbol, params, in_shapes=[(1,) + shape], in_types=[np.float32],
                                     onnx_file_path=os.path.join(tmp, ONNX_FILE), dynamic=True,
                                     dynamic_input_shapes=[(None,) + shape])
        except (NotImplementedError, AttributeError, ValueError, mx.base.MXNetError) as err:
            raise UserError(f"MXNet's ONNX converter refused this network: {str(err).splitlines()[0]}") from None
        _initializers_out_of_inputs(os.path.join(tmp, ONNX_FILE))
        atomic_write_json(os.path.join(tmp, PREPROCESS), serving_preprocess(preprocess))
        for name in (PREPROCESS, ONNX_FILE):
            os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
    return os.path.join(out_dir, ONNX_FILE)


def _initializers_out_of_inputs(path):
    """MXNet's converter lists every weight among the graph's inputs as well as its initializers,
    which makes ONNX Runtime warn once per weight when it loads the file ("appears in graph inputs
    and will not be treated as constant"): the graph's inputs become the image alone."""
    import onnx
    model = onnx.load(path)
    weights = {init.name for init in model.graph.initializer}
    data = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(data)
    # MXNet's converter labels the graph opset 19 (onnx 1.14's newest) while writing operators of
    # older opsets; with constant shapes ONNX Runtime 1.15 then looks for a Reshape-19 kernel it
    # lacks. Labelled 17, the operators are read as what they are (outputs tested equal).
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version > ONNX_OPSET:
            opset.version = ONNX_OPSET
    onnx.save(model, path)


def read_preprocess(path):
    """An export's ``model-preprocess.json``; a missing or older one is one line saying how to re-export."""
    redo = "export the model again (mxdl-export RUN_OR_CHECKPOINT [--format onnx])"
    pre = read_json_object(path, f"{path} is missing: it records the preprocessing the model expects; {redo}",
                           f"{path} is damaged ({{why}}): {redo}")
    if pre.get("schema", 1) < PREPROCESS_SCHEMA:
        raise UserError(f"{path} has schema {pre.get('schema', 1)}, older than {PREPROCESS_SCHEMA} (it does not state "
                        f"every step): {redo}")
    return pre
