"""``mxdl-models``: list the registered models, or summarize one (layers, output shapes, parameters,
multiply-accumulates)."""
import sys

from ..cli_help import add_command, make_parser, positive_int
from ..errors import UserError, cli_entry
from .registry import get_model, list_models, native_input


def parse_shape(text):
    """``--input`` in any of the forms data.shape takes."""
    from ..config import parse_shape as parse
    return tuple(parse(text, "--input"))


def count_parameters(net, input_shape):
    """(trainable, total) parameter counts by shape inference only: no forward pass is run."""
    import numpy as np
    sym = _symbol(net)
    args, _, aux = sym.infer_shape(data=(1,) + tuple(input_shape))
    params = {p.name: p for p in net.collect_params().values()}
    trainable = sum(int(np.prod(s)) for n, s in zip(sym.list_arguments(), args)
                    if n in params and params[n].grad_req != "null")
    total = sum(int(np.prod(s)) for n, s in zip(sym.list_arguments(), args) if n != "data")
    return trainable, total + sum(int(np.prod(s)) for s in aux)


def count_macs(net, input_shape):
    """Multiply-accumulates per image in the convolution and dense layers, read from the graph
    with inferred shapes (the convention of published GMAC figures, which leave out the small
    cost of normalization, activations and pooling)."""
    import json
    import numpy as np
    sym = _symbol(net)
    internals = sym.get_internals()
    _, shapes, _ = internals.infer_shape(data=(1,) + tuple(input_shape))
    shape_of = dict(zip(internals.list_outputs(), shapes))
    nodes = json.loads(sym.tojson())["nodes"]
    macs = 0
    for node in nodes:
        if node["op"] not in ("Convolution", "FullyConnected", "Deconvolution"):
            continue
        weight = shape_of[nodes[node["inputs"][1][0]]["name"]]
        out = shape_of[node["name"] + "_output"]
        # conv: every output element takes (C_in / groups) x kh x kw products; dense: one per weight
        macs += int(np.prod(out)) * int(np.prod(weight[1:])) if node["op"] != "FullyConnected" \
            else int(np.prod(weight))
    return macs


def _symbol(net):
    import mxnet as mx
    out = net(mx.sym.var("data"))
    return mx.sym.Group(list(out)) if isinstance(out, (list, tuple)) else out


def summary(name, input_shape, classes, **options):
    import mxnet as mx
    net = get_model(name, classes=classes, **options)
    net.initialize()
    try:
        mx.viz.print_summary(_symbol(net), shape={"data": (1,) + tuple(input_shape)}, line_length=110)
    except mx.base.MXNetError as err:
        raise UserError(f"{name} cannot take input {'x'.join(map(str, input_shape))}: "
                        f"{str(err).splitlines()[0]}") from None
    trainable, total = count_parameters(net, input_shape)
    macs = count_macs(net, input_shape)
    print(f"{name}: {trainable:,} trainable parameters, {total:,} including batch-norm statistics; "
          f"{macs / 1e9:.2f} GMACs per {'x'.join(map(str, input_shape))} image (convolution and dense layers)")


def build_parser():
    p = make_parser("mxdl-models", __doc__, ["mxdl-models list", "mxdl-models list 'resnet*'",
                                             "mxdl-models summary resnet50_v1 --input 3x224x224 --classes 1000"])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    ls = add_command(sub, "list", "list model names with their native input", ["mxdl-models list 'vgg*'"])
    ls.add_argument("pattern", nargs="?", default="*", help="shell-style name pattern (default: all)")
    sm = add_command(sub, "summary", "layers, output shapes, parameter counts and GMACs per image of one model",
                     ["mxdl-models summary squeezenet1_1 --input 3x224x224"])
    sm.add_argument("name", help="a model name from mxdl-models list")
    sm.add_argument("--input", help="CxHxW (default: the model's native input)")
    sm.add_argument("--classes", type=positive_int, default=1000, help="classes of the output layer (default: 1000)")
    return p


@cli_entry
def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if args.command == "list":
        for name in list_models(args.pattern):
            print(f"{name:18s} {'x'.join(map(str, native_input(name)))}")
    else:
        shape = parse_shape(args.input) if args.input else native_input(args.name)
        summary(args.name, shape, args.classes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
