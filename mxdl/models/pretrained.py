"""Pretrained weights into a built mxdl network, with a report of what loaded and no silent
partial loads.

Sources, detected and named in the report:

- a ``.params`` file saved from an mxdl network (a run's or checkpoint's, which
  :func:`mxdl.runs.checkpoint.weights_file` finds): arrays are matched by structural name and shape;
- a gluoncv model-zoo ``.params`` file for a network that has a gluoncv counterpart
  (:data:`GLUONCV`). mxdl's ImageNet families define their layers in gluoncv's order, which
  tests/test_pretrained.py proves by equal outputs. So the file is first loaded into gluoncv's
  own definition of the network (gluoncv reads both its structural and its older prefixed
  names, and refuses a file of another architecture), then copied over position by position.

A head for another class count (or the book's head) is new as expected. Anything else left
behind (source arrays nothing took, body arrays nothing set) is refused unless
``allow_partial``: a partial load trains a different network from the one the weights were
made for, without a word.
"""
import os
from dataclasses import dataclass, field

from ..errors import UserError, error_reason

# mxdl name -> gluoncv model-zoo name, for every family gluoncv also defines
GLUONCV = {"alexnet": "alexnet", "googlenet": "googlenet",
           "squeezenet1_0": "squeezenet1.0", "squeezenet1_1": "squeezenet1.1"}
GLUONCV.update({f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")})
GLUONCV.update({f"resnet{d}_{v}": f"resnet{d}_{v}" for d in (18, 34, 50, 101, 152) for v in ("v1", "v1b", "v2")})

HEAD_PREFIXES = ("output.", "aux1.", "aux2.")  # mxdl's classifier and GoogLeNet's auxiliary heads


@dataclass
class LoadReport:
    source: str                                  # the file read
    format: str                                  # e.g. "gluoncv resnet50_v1b parameters"
    loaded: list = field(default_factory=list)   # mxdl parameter names set from the file
    new: list = field(default_factory=list)      # mxdl parameter names the file did not set
    unused: list = field(default_factory=list)   # source array names nothing took
    unused_head: list = field(default_factory=list)  # those of them that are the source's classifier

    @property
    def new_head(self):
        return [n for n in self.new if _is_head(n)]

    @property
    def partial(self):
        """What a full load leaves behind: new body arrays, and source arrays besides its head."""
        return [n for n in self.new if not _is_head(n)] + [n for n in self.unused if n not in self.unused_head]

    def summary(self):
        def few(names):
            return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        text = f"loaded {len(self.loaded)} arrays from {self.format} ({self.source})"
        if self.new_head:
            text += f"; new head: {few(self.new_head)}"
        body = [n for n in self.new if n not in self.new_head]
        if body:
            text += f"; {len(body)} other new: {few(body)}"
        if self.unused_head:
            text += f"; the source's head unused: {few(self.unused_head)}"
        stray = [n for n in self.unused if n not in self.unused_head]
        if stray:
            text += f"; {len(stray)} unused: {few(stray)}"
        return text


def read_parameter_file(path):
    """``{name: NDArray}`` of an MXNet parameter file, or one line saying why it is not one."""
    import mxnet as mx
    try:
        arrays = mx.nd.load(path)
    except (mx.base.MXNetError, OSError) as err:
        raise UserError(f"{path} is not a readable MXNet parameter file ({error_reason(err)})") from None
    if not isinstance(arrays, dict) or not arrays:
        raise UserError(f"{path} holds no named arrays: it is not a parameter file")
    # exported models prefix their arrays with arg:/aux:
    return {k.split(":", 1)[-1]: v for k, v in arrays.items()}


def _unique_params(block):
    """Structural name -> Parameter in definition order, each Parameter once (gluoncv's GoogLeNet
    registers its classifier twice)."""
    seen, out = set(), {}
    for name, param in block._collect_params_with_prefix().items():
        if id(param) not in seen:
            seen.add(id(param))
            out[name] = param
    return out


def _shape(param):
    return tuple(param.shape) if param.shape is not None else None


def _is_head(name):
    return name.startswith(HEAD_PREFIXES)


def _settle_shapes(net, name, ctx):
    """A network built and ``initialize()``d but never run has parameters of unknown shape (Gluon's
    deferred initialisation), which no file can be matched against: infer them from the model's
    native input, by shape inference rather than a forward pass (which would have to be broadcast
    by Horovod afterwards). A network given another input size settles its own shapes first."""
    if all(param.shape and 0 not in param.shape for param in _unique_params(net).values()):
        return
    import mxnet as mx
    from .registry import native_input
    if name is None:
        raise UserError("the network's parameter shapes are not known yet and it is not an mxdl model: run "
                        "net.infer_shape(x) (or one forward pass) before loading weights into it")
    net.infer_shape(mx.nd.zeros((1,) + tuple(native_input(name)), ctx=ctx))


def _mismatches(arrays, params, limit=3):
    """The first differences between a file's arrays and a network's parameters, by name."""
    found = []
    for name, param in params.items():
        if name not in arrays:
            found.append(f"{name} is missing")
        elif tuple(arrays[name].shape) != _shape(param):
            found.append(f"{name} is {tuple(arrays[name].shape)}, expected {_shape(param)}")
        if len(found) >= limit:
            break
    extra = [n for n in arrays if n not in params]
    found += [f"{n} is not in the network" for n in extra[: max(0, limit - len(found))]]
    return "; ".join(found)


def _load_by_name(net, arrays, report, ctx):
    params = _unique_params(net)
    for name, param in params.items():
        value = arrays.get(name)
        if value is not None and tuple(value.shape) == _shape(param):
            param.set_data(value.astype(param.dtype).as_in_context(ctx))
            report.loaded.append(name)
        else:
            report.new.append(name)
    report.unused = [n for n in arrays if n not in report.loaded]
    report.unused_head = [n for n in report.unused if _is_head(n)]
    return report


def _load_export_by_order(net, path, ctx):
    """An exported model's parameter file (``model-EPOCH.params``, names ``arg:conv4_weight``) names
    arrays after the graph of the process that exported it, not the network's structure: match them
    in order instead, weights with weights and BatchNorm statistics with statistics, every shape
    checked. None when the file is not an export or does not fit."""
    import mxnet as mx
    raw = mx.nd.load(path)
    groups = {kind: [(k, v) for k, v in raw.items() if k.startswith(kind + ":")] for kind in ("arg", "aux")}
    if not groups["arg"]:
        return None
    params = list(_unique_params(net).items())
    ours = {"aux": [(n, p) for n, p in params if p.grad_req == "null" and n.endswith(("running_mean", "running_var"))]}
    ours["arg"] = [(n, p) for n, p in params if not any(p is q for _, q in ours["aux"])]
    pairs = [pair for kind in ("arg", "aux") for pair in zip(ours[kind], groups[kind])]
    if any(len(ours[k]) != len(groups[k]) for k in ours) or \
            any(_shape(p) != tuple(v.shape) for (_, p), (_, v) in pairs):
        return None
    report = LoadReport(path, "an exported model")
    for (name, param), (_, value) in pairs:
        param.set_data(value.astype(param.dtype).as_in_context(ctx))
        report.loaded.append(name)
    return report


def _gluoncv_classes(arrays):
    """The class count a gluoncv file was saved with: its classifier's rows."""
    for name in ("output.weight", "fc.weight"):
        if name in arrays:
            return arrays[name].shape[0]
    dense = [v for v in arrays.values() if len(v.shape) == 2]  # older, prefixed names
    return dense[-1].shape[0] if dense else 1000


def _gluoncv_head(gnet):
    """gluoncv's classifier: ``output``, or ``fc`` in its ResNet v1b."""
    head = getattr(gnet, "output", None) or getattr(gnet, "fc")
    return {id(p) for p in head.collect_params().values()}


def _try_gluoncv(net, name, path, arrays, ctx):
    """The report of loading a file that gluoncv's definition of ``name`` accepts, or None when
    it does not (an mxdl file with another head, say, which is matched by name instead)."""
    import mxnet as mx
    from gluoncv.model_zoo import get_model as gluoncv_model
    gname = GLUONCV[name]
    gnet = gluoncv_model(gname, classes=_gluoncv_classes(arrays), pretrained=False)
    try:
        gnet.load_parameters(path, ctx=mx.cpu())
    except (mx.base.MXNetError, AssertionError, KeyError, ValueError):
        return None
    return _copy_in_order(net, name, gnet, LoadReport(path, f"gluoncv {gname} parameters"), ctx)


def _copy_in_order(net, name, gnet, report, ctx):
    head_ids = _gluoncv_head(gnet)
    theirs = [(n, p) for n, p in _unique_params(gnet).items() if id(p) not in head_ids]
    their_head = [(n, p) for n, p in _unique_params(gnet).items() if id(p) in head_ids]
    ours = [(n, p) for n, p in _unique_params(net).items() if not _is_head(n)]
    our_head = [(n, p) for n, p in _unique_params(net).items() if n.startswith("output.")]
    mismatch = next(((a, b) for a, b in zip(ours, theirs) if _shape(a[1]) != _shape(b[1])), None)
    if len(ours) != len(theirs) or mismatch:
        where = (f"{mismatch[0][0]} {_shape(mismatch[0][1])} against gluoncv's {mismatch[1][0]} "
                 f"{_shape(mismatch[1][1])}" if mismatch else f"{len(ours)} body arrays against {len(theirs)}")
        raise UserError(f"this {name} (with its model.options) is not laid out as gluoncv's {GLUONCV[name]}: "
                        f"{where}")
    pairs = ours + (our_head if [_shape(p) for _, p in our_head] == [_shape(p) for _, p in their_head] else [])
    sources = theirs + their_head
    for (our_name, param), (_, their) in zip(pairs, sources):
        param.set_data(their.data().astype(param.dtype).as_in_context(ctx))
        report.loaded.append(our_name)
    report.new = [n for n, _ in _unique_params(net).items() if n not in set(report.loaded)]
    report.unused = report.unused_head = [n for n, _ in sources[len(pairs):]]
    return report


def load_pretrained(net, path, ctx=None, allow_partial=False, fmt=None):
    """Load the parameter file ``path`` into ``net`` (built by :func:`mxdl.models.get_model`) and
    return a :class:`LoadReport`; a partial load is a UserError unless ``allow_partial``.

    ``fmt`` names where the file came from, for the report (None: found out here). A run or
    checkpoint folder is turned into its file by :func:`mxdl.runs.checkpoint.weights_file`."""
    import mxnet as mx
    ctx = ctx or mx.cpu()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UserError(f"no parameter file at {path}" + (" (a folder: give the .params file in it)"
                                                          if os.path.isdir(path) else ""))
    arrays = read_parameter_file(path)
    name = getattr(net, "model_name", None)
    _settle_shapes(net, name, ctx)
    report = None
    if fmt is None and name in GLUONCV:
        report = _try_gluoncv(net, name, path, arrays, ctx)
    if report is None:
        report = _load_by_name(net, arrays, LoadReport(path, fmt or "mxdl parameters"), ctx)
        if not report.loaded:
            report = _load_export_by_order(net, path, ctx) or report
        if not report.loaded:
            raise UserError(f"{path} does not fit {name or 'this network'}: {_mismatches(arrays, _unique_params(net))}")
    if report.partial and not allow_partial:
        raise UserError(f"{path} fits {name or 'this network'} only in part ({report.summary()}); "
                        "set model.init_partial=true to accept that")
    return report
