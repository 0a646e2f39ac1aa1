"""Freezing layers for fine-tuning (weights come from ``mxdl.models.pretrained``).

The book's recipe, driven by config so it runs through the same trainer
(multi-worker, ctrl+c and resume included):

1. warm up a new head on a frozen body::

     model.init_from=runs/flowers_base  model.head=book  train.freeze=features

2. then unfreeze all (``train.freeze=''``) or part of the body (a regex over
   parameter names, e.g. ``train.freeze='features\\.[0-9]\\.'``) and continue at a
   lower learning rate with ``model.init_from`` pointing at step 1's run.
"""
import re

from ..errors import UserError


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


def check_nothing_fresh_is_frozen(fresh, frozen, pattern):
    """A layer that init_from could not fill starts from random weights; frozen, it would stay random
    for the whole run."""
    stuck = [name for name in fresh if name in set(frozen)]
    if stuck:
        raise UserError(f"model.init_partial left {stuck[0]}" + (f" and {len(stuck) - 1} more" if len(stuck) > 1 else "")
                        + f" freshly initialised, and train.freeze='{pattern}' would keep it random: narrow "
                        "train.freeze so it leaves the new layers out, or train without it")
