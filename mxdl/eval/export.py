"""``mxdl-export RUN|CHECKPOINT|PREFIX-symbol.json [--format symbol|onnx] [--output DIR]``

The files themselves are written by :mod:`mxdl.runs.export`, which the trainer's own final
export uses too.
"""
import os

from ..cli_help import make_parser
from ..errors import UserError, cli_entry
from ..runs.export import PREPROCESS, export_onnx, export_symbol


def _default_output(model):
    folder = os.path.dirname(model) if model.endswith("-symbol.json") else model
    return os.path.join(folder, "export")


def _refuse_a_runs_own_export(out):
    """A run directory holds the trainer's final export (model-symbol.json, model-EPOCH.params);
    writing another export there replaced it, from whichever checkpoint this one read."""
    from ..runs.checkpoint import has_checkpoint
    if os.path.isdir(out) and has_checkpoint(out):
        raise UserError(f"--output {out} is a run directory: its own export would be replaced; "
                        "give another folder (the default is MODEL/export)")


def build_parser():
    p = make_parser("mxdl-export", "Export a trained model for serving, with the preprocessing it expects.", [
        "mxdl-export runs/flowers17                        # runs/flowers17/export/model-symbol.json ...",
        "mxdl-export runs/flowers17 --format onnx --output serve/",
        "mxdl-export runs/flowers17/checkpoints/epoch-0040-step-000000 --format onnx"])
    p.add_argument("model", help="run folder (its best checkpoint), checkpoint folder or PREFIX-symbol.json")
    p.add_argument("--format", choices=("symbol", "onnx"), default="symbol",
                   help="symbol: MXNet's symbol JSON + params (SymbolBlock.imports, MXNet Model Server); "
                        "onnx: model.onnx for ONNX Runtime, TensorRT and others (default: symbol)")
    p.add_argument("--output", help="folder to write (default: MODEL/export)")
    return p


@cli_entry
def main(argv=None):
    from .model_io import load_predictor
    args = build_parser().parse_args(argv)
    predictor = load_predictor(args.model)
    print(f"exporting {predictor.describe()}")
    out = args.output or _default_output(args.model)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"--output {out} exists and is not a folder")
    _refuse_a_runs_own_export(out)
    if args.format == "onnx":
        written = [export_onnx(predictor.net, predictor.input_shape, predictor.preprocess(), out, predictor.ctx)]
    else:
        written = export_symbol(predictor.net, predictor.input_shape, predictor.preprocess(), out, ctx=predictor.ctx)
    print(f"exported {predictor.source} as {args.format}: {', '.join(written)} (+ {PREPROCESS})")
    return 0
