"""Load a trained model for evaluation or prediction, from whatever the user points at.

Accepted: a run directory (its ``checkpoints/best``, else the latest checkpoint,
else the exported model), a checkpoint directory (``meta.json`` + ``model.params``),
or an exported ``PREFIX-symbol.json`` (with ``model-preprocess.json`` beside it).
Each comes back as a :class:`Predictor` that applies the preprocessing the
model was trained with and returns class probabilities.
"""
import glob
import os
import warnings
from dataclasses import dataclass


from ..errors import UserError


@dataclass
class Predictor:
    net: object
    class_names: list
    input_shape: tuple          # C, H, W
    mean: list                  # per-channel mean subtracted before scaling, or None
    scale: float
    source: str
    ctx: object = None
    resize: int = 0             # shorter side resized to this before the center crop (0: no resize)
    trained: str = ""           # which epoch, and how it validated, for the line every command prints
    pack: dict = None           # the packer's resize (data.preprocess.pack_geometry); None: not recorded

    def describe(self):
        return f"model {self.source}" + (f" ({self.trained})" if self.trained else "")

    def preprocess(self):
        """What ``model-preprocess.json`` records, for an export of this model."""
        return {"mean": self.mean, "scale": self.scale, "resize": self.resize, "pack": self.pack,
                "input_shape": list(self.input_shape), "class_names": self.class_names}

    def as_packed(self, image):
        """A new photo as the packer stored the training images. Models trained before the packer's
        resize was recorded get what mxdl-predict always did: aspect-aware to the input size."""
        from ..data.inputspec import pack_of
        from ..data.preprocess import apply_pack_geometry
        return apply_pack_geometry(image, pack_of(self.preprocess()))

    def views(self, image, ten=False):
        """One HxWxC image -> the crops the network takes (1, or 10 with ``ten``), as in validation."""
        from ..data.preprocess import resize_shorter_as_recorditer
        from .evaluate import fit_to_input
        resized = resize_shorter_as_recorditer(image, self.resize) if self.resize else image
        return fit_to_input(resized, self.input_shape, ten)

    def prepare(self, images):
        """N x H x W x C uint8 (RGB or gray) -> NCHW float NDArray as in training."""
        import mxnet as mx
        from ..data.preprocess import normalize
        return mx.nd.array(normalize(images, self.mean, self.scale).transpose(0, 3, 1, 2), ctx=self.ctx)

    def probabilities(self, images):
        import mxnet as mx
        out = self.net(self.prepare(images))
        out = out[0] if isinstance(out, (tuple, list)) else out
        return mx.nd.softmax(out.astype("float32"), axis=1).asnumpy()


def _from_checkpoint(path, ctx):
    from ..models.network import build_network
    from ..runs.checkpoint import load_meta, load_params
    meta = load_meta(path, ("identity",))
    ident, pre = meta["identity"], meta.get("preprocess")
    if pre is None:
        raise UserError(f"{path} predates stored preprocessing; evaluate its exported model instead")
    net = build_network(ident, dtype="float32")
    load_params(net, path, ctx, cast_dtype=True, dtype_source="current")
    net.hybridize()
    return Predictor(net, pre["class_names"], tuple(pre["input_shape"]), pre["mean"], pre["scale"], path, ctx,
                     pre.get("resize", 0), _trained(meta), pre.get("pack"))


def _trained(meta):
    """``epoch 7, val_acc 0.4760``: where in training a checkpoint comes from."""
    metrics = meta.get("metrics") or {}
    score = next((f", {k} {metrics[k]:.4f}" for k in ("val_acc", "val_loss") if k in metrics), "")
    step = f" step {meta['step_in_epoch']}" if meta.get("step_in_epoch") else ""
    return f"epoch {meta.get('epoch')}{step}{score}"


def _from_export(symbol_file, ctx):
    import mxnet as mx
    from ..runs.export import PREPROCESS, read_preprocess
    prefix = symbol_file[: -len("-symbol.json")]
    params = sorted(glob.glob(prefix + "-*.params"))
    if not params:
        raise UserError(f"no {prefix}-NNNN.params beside {symbol_file}")
    pre = read_preprocess(os.path.join(os.path.dirname(symbol_file) or ".", PREPROCESS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SymbolBlock warns about unnamed inputs; harmless here
        net = mx.gluon.SymbolBlock.imports(symbol_file, ["data"], params[-1], ctx=ctx)
    return Predictor(net, pre["class_names"], tuple(pre["input_shape"]), pre["mean"], pre["scale"],
                     symbol_file, ctx, pre.get("resize", 0), pack=pre.get("pack"))


def load_predictor(path, ctx=None):
    """A Predictor on ``ctx`` (default: this worker's device, from its local rank)."""
    from ..runs.checkpoint import META, run_checkpoint
    from ..topology import device
    ctx = ctx or device()
    if not os.path.exists(path):
        raise UserError(f"model not found: {path}")
    if path.endswith("-symbol.json"):
        return _from_export(path, ctx)
    if os.path.isfile(os.path.join(path, META)):
        return _from_checkpoint(path, ctx)
    chosen = run_checkpoint(path)
    if chosen:
        return _from_checkpoint(chosen, ctx)
    exported = glob.glob(os.path.join(path, "*-symbol.json"))
    if exported:
        return _from_export(exported[0], ctx)
    raise UserError(f"{path} holds no checkpoint or exported model")
