"""Network surgery for fine-tuning: new head, weights from a trained body, frozen layers.

The book's recipe, driven by config so it runs through the same trainer
(multi-worker, ctrl+c and resume included):

1. warm up a new head on a frozen body::

     model.init_from=runs/flowers_base  model.head=book  train.freeze=features

2. then unfreeze all (``train.freeze=''``) or part of the body (a regex over
   parameter names, e.g. ``train.freeze='features\\.[0-9]\\.'``) and continue at a
   lower learning rate with ``model.init_from`` pointing at step 1's run.
"""
import os
import re

from ..errors import UserError


def _params_file(source):
    if os.path.isfile(source):
        return source
    from .checkpoint import CheckpointSaver, PARAMS
    if os.path.isfile(os.path.join(source, PARAMS)):
        return os.path.join(source, PARAMS)
    ckpts = os.path.join(source, "checkpoints")
    if os.path.isdir(ckpts):
        best = os.path.join(ckpts, "best", PARAMS)
        if os.path.isfile(best):
            return best
        latest = CheckpointSaver(ckpts).latest()
        if latest:
            return os.path.join(latest, PARAMS)
    raise UserError(f"model.init_from: no parameters found at {source}")


def load_matching(net, source, ctx):
    """Copy every parameter whose structural name and shape match; return (loaded, skipped) names."""
    import mxnet as mx
    saved = mx.nd.load(_params_file(source))
    saved = {k.split(":", 1)[-1]: v for k, v in saved.items()}  # "arg:"/"aux:" prefixes of exports
    loaded, skipped = [], []
    for name, param in net._collect_params_with_prefix().items():
        value = saved.get(name)
        if value is not None and param.shape is not None and tuple(value.shape) == tuple(param.shape):
            param.set_data(value.as_in_context(ctx))
            loaded.append(name)
        else:
            skipped.append(name)
    if not loaded:
        raise UserError(f"model.init_from: no parameter of {source} matches this model's names and shapes")
    return loaded, skipped


def freeze(net, pattern):
    """Stop gradients for parameters whose structural name matches (``features``: the whole body)."""
    if not pattern:
        return []
    try:
        regex = re.compile(r"features\." if pattern == "features" else pattern)
    except re.error as err:
        raise UserError(f"train.freeze '{pattern}' is not a regular expression ({err})") from None
    frozen = [name for name, p in net._collect_params_with_prefix().items() if regex.match(name)]
    for name, p in net._collect_params_with_prefix().items():
        if name in frozen:
            p.grad_req = "null"
    if not frozen:
        raise UserError(f"train.freeze '{pattern}' matches no parameter name")
    return frozen
