"""``mxdl-serve-check EXPORT_DIR IMAGE...``: a server's view of an export, as a reference consumer.

It reads nothing but the export folder, and follows ``model-preprocess.json`` step by step with
numpy and OpenCV (none of mxdl's own preprocessing code), then runs ``model.onnx`` in ONNX Runtime
or, for a symbol export, ``model-symbol.json`` in plain MXNet. Its top classes should be
mxdl-predict's: when they are not, the export does not say what serving needs.
"""
import glob
import os
import sys

import cv2
import numpy as np

from ..cli_help import make_parser, positive_int
from ..errors import UserError, cli_entry

INTERPOLATION = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR}


def _sides(h, w, size, rounding):
    scale = size / min(h, w)
    if rounding == "floor":  # integer arithmetic, as MXNet's ImageRecordIter
        return (size * h // w, size) if h > w else (size, size * w // h)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _resize(image, h, w, interpolation):
    out = cv2.resize(image, (w, h), interpolation=INTERPOLATION[interpolation])
    return out if out.ndim == 3 else out[..., None]


def _crop(image, width, height):
    h, w = image.shape[:2]
    if h < height:   # the step's "if_smaller", read as a server would implement it
        image, h, w = _resize(image, height, w * height // h, "bilinear"), height, w * height // h
    if w < width:
        image, h, w = _resize(image, h * width // w, width, "bilinear"), h * width // w, width
    top, left = (h - height) // 2, (w - width) // 2
    return image[top: top + height, left: left + width]


def apply_step(image, step):
    op = step["op"]
    h, w = image.shape[:2]
    if op == "aspect_aware_resize":
        scale = max(step["width"] / w, step["height"] / h)
        resized = _resize(image, max(step["height"], round(h * scale)), max(step["width"], round(w * scale)),
                          step["interpolation"])
        return _crop(resized, step["width"], step["height"])
    if op == "resize_shorter":
        return _resize(image, *_sides(h, w, step["size"], step["rounding"]), step["interpolation"])
    if op == "center_crop":
        return _crop(image, step["width"], step["height"])
    if op == "normalize":
        x = image.astype(np.float32)
        if step["mean"] is not None:
            x = x - np.asarray(step["mean"], np.float32)
        return x * np.asarray(step["scale"], np.float32)
    raise UserError(f"model-preprocess.json names a step this checker does not know: {op}")


def decode(path, channels):
    image = cv2.imread(path, cv2.IMREAD_COLOR if channels == "RGB" else cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    return np.ascontiguousarray(image[..., ::-1]) if image.ndim == 3 else image[..., None]


def tensor(path, spec):
    """The network's input for one image file (1 x C x H x W), or None when it does not decode."""
    image = decode(path, spec["steps"][0]["channels"])
    if image is None:
        return None
    for step in spec["steps"][1:]:
        image = apply_step(image, step)
    return image.transpose(2, 0, 1)[None].astype(np.float32)


def read_spec(export_dir):
    """The export's model-preprocess.json, through the one check mxdl has for it (missing, damaged or
    of an older schema: one line saying to export again); the steps themselves are applied here."""
    from ..runs.export import PREPROCESS, read_preprocess
    return read_preprocess(os.path.join(export_dir, PREPROCESS))


def runner(export_dir):
    """``logits(x)`` for the export's model: ONNX Runtime when there is a model.onnx, else MXNet."""
    onnx_file = os.path.join(export_dir, "model.onnx")
    if os.path.isfile(onnx_file):
        import onnxruntime
        session = onnxruntime.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    symbols = glob.glob(os.path.join(export_dir, "*-symbol.json"))
    if not symbols:
        raise UserError(f"{export_dir} holds neither model.onnx nor a *-symbol.json")
    import mxnet as mx
    params = sorted(glob.glob(symbols[0][: -len("-symbol.json")] + "-*.params"))
    net = mx.gluon.SymbolBlock.imports(symbols[0], ["data"], params[-1])
    return lambda x: net(mx.nd.array(x)).asnumpy()


def probabilities(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def build_parser():
    p = make_parser("mxdl-serve-check", "Classify images from an export folder alone, as a server would "
                    "(model-preprocess.json step by step, ONNX Runtime or plain MXNet).",
                    ["mxdl-serve-check runs/flowers17/export photos/*.jpg",
                     "mxdl-serve-check serve/ sunflower.jpg --top-k 3"])
    p.add_argument("export", help="a folder written by mxdl-export (model.onnx or model-symbol.json)")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--top-k", type=positive_int, default=5, help="classes to print per image (default: 5)")
    return p


@cli_entry
def main(argv=None):
    args = build_parser().parse_args(argv)
    spec = read_spec(args.export)
    logits_of, names, unreadable = runner(args.export), spec["class_names"], 0
    for path in args.images:
        x = tensor(path, spec)
        if x is None:
            print(f"{path}: cannot read this image", file=sys.stderr)
            unreadable += 1
            continue
        probs = probabilities(logits_of(x))[0]
        top = np.argsort(-probs)[: args.top_k]
        print(f"{path}: " + ", ".join(f"{names[i]} {probs[i]:.3f}" for i in top))
    return 1 if unreadable else 0
