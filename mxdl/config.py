"""Experiment configuration: documented defaults < YAML file < ``key=value`` overrides.

Every key lives in ``SCHEMA`` below with its type, default and one line of
documentation (``mxdl-train --show-defaults`` prints them). A YAML experiment
in ``configs/`` only names what differs from the defaults. Unknown keys, wrong
types and missing required values raise :class:`UserError` naming the key and,
for a typo, the nearest valid key.
"""
import copy
import difflib
import math
import os
import re

import yaml

from .errors import UserError

REQUIRED = object()  # marks a key that has no default and must be set


class _Loader(yaml.SafeLoader):
    """YAML's numbers as YAML 1.2 and Python read them. PyYAML follows YAML 1.1, where ``1e-4``
    (no dot) is a string and ``3:6`` a base-60 integer (186); here ``1e-4``, ``1E-4`` and ``.5``
    are floats and ``3:6`` stays the text it looks like."""


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_Loader.yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag not in (_INT, _FLOAT)]
                                   for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver(_FLOAT, re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*|[0-9][0-9_]*(?=[eE]))(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))


def _no_repeated_keys(loader, node, deep=False):
    """YAML lets a mapping name a key twice and keeps the last; in an experiment that is a mistake
    (two edits of one value), so it is one line naming the key and both lines."""
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise UserError(f"'{key}' is given twice in one mapping (lines {seen[key] + 1} and "
                            f"{key_node.start_mark.line + 1}); keep one")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_repeated_keys)


def yaml_load(text_or_file):
    return yaml.load(text_or_file, Loader=_Loader)


class Key:
    """One config key: expected type(s), default, a short description, and the values it allows
    (``choices``, or ``valid``: a (test, "what it must be") pair for numbers)."""

    def __init__(self, types, default, doc, choices=None, valid=None, parse=None):
        self.types = types if isinstance(types, tuple) else (types,)
        self.default = default
        self.doc = doc
        self.choices = choices
        self.valid = valid
        self.parse = parse    # (dotted, value) -> value, for keys users write in several forms


SHAPE_FORMS = "3x64x64, 3,64,64 or [3,64,64]"
MAX_SIDE = 16384  # pixels; a larger input is a typo, and would not fit in memory anyway


def parse_shape(value, what="data.shape"):
    """A network input C,H,W as users write it: ``3x64x64``, ``3,64,64``, ``[3,64,64]`` (or a list)."""
    if value is None:
        return None
    parts = value
    if isinstance(value, str):
        text = value.strip().strip("[]()")
        parts = [p.strip() for p in re.split(r"[x,]", text.lower())] if text else []
        parts = [int(p) if re.fullmatch(r"\d+", p) else p for p in parts]
    if not isinstance(parts, (list, tuple)) or len(parts) != 3 or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in parts):
        raise UserError(f"{what} must be C,H,W as {SHAPE_FORMS}, got {value!r}")
    c, h, w = parts
    if c not in (1, 3) or not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise UserError(f"{what} {c}x{h}x{w}: channels must be 1 or 3 and sides 1 to {MAX_SIDE} pixels")
    return [c, h, w]


# Ranges for numeric keys; NaN fails every one of them.
AT_LEAST_1 = (lambda v: v >= 1, "at least 1")
POSITIVE = (lambda v: v > 0, "above 0")
NON_NEGATIVE = (lambda v: v >= 0, "0 or more")
FRACTION = (lambda v: 0 <= v < 1, "in [0, 1)")
AREA = (lambda v: 0 < v <= 1, "in (0, 1]")
UNIT = (lambda v: 0 <= v <= 1, "in [0, 1]")
THREADS = (lambda v: v == "auto" or (isinstance(v, int) and v >= 1), "'auto' or at least 1")
NUMBERS = (lambda v: all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in v),
           "a list of epoch numbers")
SEED = (lambda v: 0 <= v < 2 ** 32, "0 to 2**32-1 (NumPy's and MXNet's seed range)")
WEIGHTS = (lambda v: v == "balanced" or (all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0
                                              for x in v) and any(x > 0 for x in v)),
           "'balanced' or a list of weights of 0 or more, not all 0")


SCHEMA = {
    "model": {
        "name": Key(str, REQUIRED, "registered model name (mxdl-models list)"),
        "options": Key(dict, {}, "keyword arguments for the model constructor, e.g. {dropout: 0.3}"),
        "init": Key(str, "xavier", "weight initializer", choices=("xavier", "msra", "book")),
        "init_from": Key((str, type(None)), None,
                         "start from these weights: an mxdl run or checkpoint folder, or a .params file "
                         "(mxdl's, or gluoncv's model zoo for the same network)"),
        "init_partial": Key(bool, False, "accept an init_from that leaves source arrays unused or body arrays "
                            "new (a new head never needs it)"),
        "head": Key((str, type(None)), None, "replace the classifier head: 'book' = flatten, dense, relu, "
                    "dropout 0.5, dense", choices=(None, "book")),
        "head_units": Key(int, 256, "units of the book's head", valid=AT_LEAST_1),
        "last_gamma": Key(bool, False, "start the last batch-norm gamma of each residual block at zero, so "
                                       "every block starts as the identity (Goyal et al. 2017; ResNets)"),
        "sync_bn": Key(bool, False, "BatchNorm statistics over all workers' batches, not each worker's own "
                                    "(small per-GPU batches); runs the network without hybridize"),
    },
    "data": {
        "dir": Key((str, type(None)), None, "shard directory written by mxdl-pack build (required unless "
                   "data.synthetic)"),
        "format": Key(str, "rec", "shard format to read", choices=("rec", "hdf5")),
        "train_split": Key(str, "train", "split used for training"),
        "val_split": Key(str, "val", "split used for validation ('' for none)"),
        "batch_size": Key(int, 64, "images per worker per step", valid=AT_LEAST_1),
        "shape": Key((list, type(None)), None, f"network input C,H,W ({SHAPE_FORMS}); default: the shards' "
                     "image size", parse=parse_shape),
        "threads": Key((int, str), "auto", "decoding threads per worker (ImageRecordIter preprocess_threads; "
                       "HDF5: augmenting threads); auto: from the node's cores and workers (mxdl/budget.py, "
                       "logged at start)", valid=THREADS),
        "shuffle_chunks": Key(int, 8, "HDF5 training: storage chunks whose rows are shuffled together (each "
                                      "chunk is read whole; their order is shuffled every epoch)", valid=AT_LEAST_1),
        "mean_subtract": Key(bool, True, "subtract the per-channel mean from stats.json"),
        "scale": Key(float, 1.0, "multiply pixels by this after mean subtraction (1/255 for [0,1])", valid=POSITIVE),
        "resize": Key(int, 0, "resize the shorter side to this before cropping (0: keep; training skips it "
                             "under random_resized_crop)", valid=NON_NEGATIVE),
        "val_resize": Key(int, 0, "evaluation: resize the shorter side to this, then center-crop data.shape "
                                  "(0: data.resize), e.g. 256 for 224 crops", valid=NON_NEGATIVE),
        "std_normalize": Key(bool, False, "divide by the per-channel std from stats.json (after the mean)"),
        "rand_crop": Key(bool, False, "random crop of data.shape from larger images (training)"),
        "rand_mirror": Key(bool, False, "random horizontal flip (training)"),
        "pad": Key(int, 0, "zero padding added before a random crop (CIFAR-style shift)", valid=NON_NEGATIVE),
        "max_rotate_angle": Key(int, 0, "random rotation in degrees (training)", valid=NON_NEGATIVE),
        "max_shear_ratio": Key(float, 0.0, "random shear (training)", valid=NON_NEGATIVE),
        "zoom": Key(float, 0.0, "random zoom in [1 - z, 1 + z] (training)", valid=FRACTION),
        "shift": Key(float, 0.0, "random width/height shift as a fraction (training; HDF5 only, "
                                 "RecordIO uses data.pad with data.rand_crop)"),
        "random_resized_crop": Key(bool, False, "RecordIO training: crop a random area and aspect ratio, "
                                                "resized to data.shape (the ImageNet recipe)"),
        "min_random_area": Key(float, 0.08, "random_resized_crop: smallest area fraction", valid=AREA),
        "max_random_area": Key(float, 1.0, "random_resized_crop: largest area fraction", valid=AREA),
        "min_aspect_ratio": Key(float, 0.75, "random_resized_crop: smallest width/height ratio", valid=POSITIVE),
        "max_aspect_ratio": Key(float, 4 / 3, "random_resized_crop: largest width/height ratio", valid=POSITIVE),
        "brightness": Key(float, 0.0, "RecordIO training: random brightness jitter (0.4 in the ImageNet recipe)", valid=NON_NEGATIVE),
        "contrast": Key(float, 0.0, "RecordIO training: random contrast jitter", valid=NON_NEGATIVE),
        "saturation": Key(float, 0.0, "RecordIO training: random saturation jitter", valid=NON_NEGATIVE),
        "pca_noise": Key(float, 0.0, "RecordIO training: AlexNet-style PCA lighting noise (0.1 in the recipe)", valid=NON_NEGATIVE),
        "synthetic": Key(bool, False, "train on random tensors (no I/O) to measure compute and allreduce; "
                                      "no validation"),
        "synthetic_classes": Key(int, 1000, "data.synthetic: number of classes", valid=AT_LEAST_1),
        "synthetic_records": Key(int, 1281167, "data.synthetic: records per epoch (ImageNet's train size)", valid=AT_LEAST_1),
    },
    "optim": {
        "name": Key(str, "sgd", "optimizer", choices=("sgd", "nag", "adam", "rmsprop")),
        "lr": Key(float, 0.01, "base learning rate for one worker", valid=POSITIVE),
        "momentum": Key(float, 0.9, "momentum for sgd/nag", valid=FRACTION),
        "wd": Key(float, 0.0001, "weight decay added to the gradient (MXNet wd); biases, BN excluded", valid=NON_NEGATIVE),
        "reg": Key((float, type(None)), None,
                   "the book's Keras l2 'reg'; when set, wd = 2*reg (Keras puts reg*w^2 in the loss)",
                   valid=NON_NEGATIVE),
        "scale_lr": Key(bool, True, "multiply lr by the number of workers"),
        "warmup_epochs": Key(float, 0.0, "linear warmup from 0 to the scaled lr", valid=NON_NEGATIVE),
        "multi_precision": Key(bool, True, "keep float32 master weights when model.dtype is float16"),
    },
    "schedule": {
        "name": Key(str, "constant", "learning-rate schedule",
                    choices=("constant", "step", "multistep", "poly", "time", "cosine")),
        "factor": Key(float, 0.1, "step/multistep: multiply the lr by this at each drop", valid=POSITIVE),
        "every": Key(int, 10, "step: drop every N epochs (the book's D)", valid=AT_LEAST_1),
        "milestones": Key(list, [], "multistep: epochs at which the lr drops", valid=NUMBERS),
        "power": Key(float, 1.0, "poly: exponent (1 = linear decay to zero at the last epoch)", valid=NON_NEGATIVE),
        "decay": Key(float, 0.0, "time: Keras-style lr0 / (1 + decay * t)", valid=NON_NEGATIVE),
        "per": Key(str, "epoch", "when the lr changes", choices=("epoch", "iteration")),
    },
    "train": {
        "epochs": Key(int, 10, "total epochs", valid=AT_LEAST_1),
        "seed": Key(int, 42, "seed for weights, shuffling and augmentation", valid=SEED),
        "dtype": Key(str, "float32", "compute dtype (float16 is for GPUs)", choices=("float32", "float16")),
        "amp": Key((str, type(None)), None, "automatic mixed precision with dynamic loss scaling: float16 "
                   "(GPUs) or bfloat16 (CPUs with MKLDNN, recent GPUs); weights stay float32",
                   choices=(None, "float16", "bfloat16")),
        "hybridize": Key(bool, True, "compile the network (see mxdl/train/loop.py)"),
        "static_alloc": Key((bool, type(None)), None, "hybridize with static_alloc and static_shape (null: on "
                                                      "GPUs, off on CPUs, where it gains nothing)"),
        "log_interval": Key(int, 50, "steps between log lines", valid=AT_LEAST_1),
        "stop_check_interval": Key(int, 10, "steps between cross-worker checks for a stop request", valid=AT_LEAST_1),
        "class_weights": Key((list, str, type(None)), None,
                             "per-class loss weights, or 'balanced' for max(count)/count_c", valid=WEIGHTS),
        "label_smoothing": Key(float, 0.0, "label smoothing epsilon", valid=FRACTION),
        "freeze": Key(str, "", "freeze parameters: 'features' (the body) or a regex over parameter names"),
        "mixup": Key(float, 0.0, "mixup alpha (0: off): each batch blends with a shuffled copy of itself",
                     valid=NON_NEGATIVE),
        "cutmix": Key(float, 0.0, "cutmix alpha (0: off): a box from a shuffled copy is pasted in; with "
                                  "mixup too, each batch takes one of them", valid=NON_NEGATIVE),
        "accumulate": Key(int, 1, "micro-batches per optimizer step (gradients add up; the update sees "
                                  "data.batch_size x accumulate images)", valid=AT_LEAST_1),
        "clip_grad_norm": Key(float, 0.0, "clip the gradients' global norm (per image) to this (0: off)",
                              valid=NON_NEGATIVE),
        "nonfinite_limit": Key(int, 10, "a step whose allreduced gradients hold NaN/inf changes nothing (decided on "
                                        "the device, read at log lines); this many in a row save the weights "
                                        "and stop the run (0: off; under train.amp the loss scaler guards "
                                        "instead; a NaN epoch loss always stops the run)", valid=NON_NEGATIVE),
        "distill_from": Key((str, type(None)), None, "distil from this teacher: an mxdl run or checkpoint folder, "
                            "or a .params file with train.distill_model (see mxdl/train/distill.py)"),
        "distill_model": Key((str, type(None)), None, "the teacher's network when train.distill_from is a "
                             "parameter file (a gluoncv or mxdl model name)"),
        "distill_temperature": Key(float, 20.0, "softens both networks' outputs (gluoncv's default 20)",
                                   valid=POSITIVE),
        "distill_weight": Key(float, 0.5, "the teacher's share of the loss, the labels' the rest (gluoncv's "
                              "hard_weight 0.5)", valid=UNIT),
        "ema_decay": Key(float, 0.0, "keep a moving average of the weights with this decay, e.g. 0.9999, "
                                     "validated and saved beside them (0: off)", valid=FRACTION),
        "val_every": Key(int, 1, "validate every N epochs (and after the last)", valid=AT_LEAST_1),
        "tensorboard": Key(bool, False, "also write TensorBoard event files to RUN/tensorboard (tensorboardX)"),
        "profile_steps": Key(str, "", "'A:B': record MXNet's profiler from global step A to B into "
                                      "RUN/profile-rank-N.json (chrome://tracing)"),
    },
    "horovod": {
        "fp16_allreduce": Key(bool, False, "send gradients as float16 in the allreduce (Horovod's "
                                           "Compression.fp16): half the traffic, for bandwidth-bound jobs"),
        "fusion_threshold_mb": Key(int, 0, "Horovod tensor fusion buffer in MB (0: Horovod's default, 128; "
                                           "HOROVOD_FUSION_THRESHOLD)", valid=NON_NEGATIVE),
        "cycle_time_ms": Key(float, 0.0, "Horovod cycle time in ms (0: Horovod's default; HOROVOD_CYCLE_TIME)",
                             valid=NON_NEGATIVE),
        "hierarchical_allreduce": Key(bool, False, "allreduce within each node first, then across nodes "
                                                   "(HOROVOD_HIERARCHICAL_ALLREDUCE)"),
    },
    "checkpoint": {
        "every_epochs": Key(int, 5, "write a checkpoint every N epochs (the book: 5)", valid=AT_LEAST_1),
        "keep_last": Key(int, 3, "periodic checkpoints to keep", valid=AT_LEAST_1),
        "keep_best": Key(int, 1, "also keep the K best checkpoints by checkpoint.monitor (best/ is the first)",
                         valid=AT_LEAST_1),
        "monitor": Key(str, "val_acc", "metric for the best checkpoint",
                       choices=("val_acc", "val_loss", "val_top5", "train_loss")),
        "export": Key(bool, True, "export symbol JSON + params at the end of training"),
    },
}


def defaults():
    """The default config as a nested dict (REQUIRED keys hold None)."""
    return {section: {name: None if key.default is REQUIRED else copy.deepcopy(key.default)
                      for name, key in keys.items()}
            for section, keys in SCHEMA.items()}


def all_keys():
    return [f"{s}.{k}" for s, keys in SCHEMA.items() for k in keys]


def _lookup(dotted):
    section, _, name = dotted.partition(".")
    key = SCHEMA.get(section, {}).get(name)
    if key is None:
        near = difflib.get_close_matches(dotted, all_keys(), n=1, cutoff=0.5)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise UserError(f"unknown config key '{dotted}'{hint}")
    return key


def _coerce(dotted, value, key):
    if key.parse:
        value = key.parse(value, dotted)
    if float in key.types and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if float in key.types and str not in key.types and isinstance(value, str):
        value = _float_or_same(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
    if list in key.types and isinstance(value, tuple):
        value = list(value)
    ok = isinstance(value, key.types) and not (isinstance(value, bool) and bool not in key.types)
    if not ok:
        wanted = " or ".join("null" if t is type(None) else t.__name__ for t in key.types)
        raise UserError(f"config key '{dotted}' must be {wanted}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"config key '{dotted}' must be a finite number, got {value!r}")
    if key.valid and value is not None and not key.valid[0](value):
        raise UserError(f"config key '{dotted}' must be {key.valid[1]}, got {value!r}")
    if key.choices and value not in key.choices:
        raise UserError(f"config key '{dotted}' must be one of {', '.join(map(str, key.choices))}; got {value!r}")
    return value


def _float_or_same(text):
    try:
        return float(text)
    except ValueError:
        return text


def _set(cfg, dotted, value):
    key = _lookup(dotted)
    section, _, name = dotted.partition(".")
    cfg[section][name] = _coerce(dotted, value, key)


def _flatten(tree, prefix=""):
    for name, value in tree.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict) and not prefix:
            if name not in SCHEMA:
                _lookup(dotted + ".x")  # raises with a suggestion
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value


def parse_override(text):
    """``'optim.lr=0.1'`` -> ``('optim.lr', 0.1)``; values are parsed as YAML scalars or lists."""
    if "=" not in text:
        raise UserError(f"override '{text}' must look like key=value, e.g. optim.lr=0.1")
    dotted, _, raw = text.partition("=")
    try:
        value = yaml_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return dotted.strip(), value


# The experiments in the repository's configs/, installed inside the package (mxdl/configs is a
# link to them in a checkout; a wheel holds copies), so `mxdl-train digits` works after pip install.
PACKAGED_CONFIGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def packaged_configs():
    """``{name: (path, first comment line)}`` of the configs that ship with mxdl."""
    found = {}
    for name in sorted(os.listdir(PACKAGED_CONFIGS)) if os.path.isdir(PACKAGED_CONFIGS) else []:
        if name.endswith(".yaml"):
            path = os.path.join(PACKAGED_CONFIGS, name)
            with open(path, encoding="utf-8") as f:
                first = f.readline().lstrip("# ").strip()
            found[name[: -len(".yaml")]] = (path, first)
    return found


def locate(config):
    """A config path as given, else the packaged config of that name (``digits`` or ``digits.yaml``)."""
    if os.path.isfile(config):
        return config
    name = os.path.splitext(os.path.basename(config))[0]
    packaged = packaged_configs()
    if os.path.dirname(config) in ("", "configs") and name in packaged:  # "digits", "configs/digits.yaml"
        return packaged[name][0]
    near = difflib.get_close_matches(name, packaged, n=3, cutoff=0.6)
    hint = f"; packaged configs like it: {', '.join(near)}" if near else " (mxdl-train --list-configs lists the packaged ones)"
    raise UserError(f"config file not found: {config}{hint}")


def load_yaml(path):
    path = locate(path)
    try:
        with open(path, encoding="utf-8") as f:
            tree = yaml_load(f) or {}
    except UnicodeDecodeError as err:
        raise UserError(f"config file {path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except yaml.YAMLError as err:
        raise UserError(f"config file {path} is not valid YAML: {err}".splitlines()[0]) from err
    except UserError as err:
        raise UserError(f"config file {path}: {err}") from None
    if not isinstance(tree, dict):
        raise UserError(f"config file {path} must hold a mapping of sections")
    return tree


BASE_KEY = "_base_"


def _base_path(base, child):
    """A ``_base_`` entry: a path relative to the file naming it, else a packaged config's name."""
    if not isinstance(base, str) or not base:
        raise UserError(f"config file {child}: {BASE_KEY} takes a config file or a list of them, got {base!r}")
    beside = os.path.join(os.path.dirname(child), base)
    if os.path.isfile(beside):
        return beside
    try:
        return locate(base)
    except UserError:
        raise UserError(f"config file {child}: {BASE_KEY} {base} not found (looked beside it and among the "
                        "packaged configs)") from None


def _merge(low, high):
    """``high`` over ``low``, mappings merged key by key at every depth; anything else replaced."""
    out = dict(low)
    for key, value in high.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_tree(path, chain=()):
    """A config file with its ``_base_`` configs (one or a list) merged under it, depth-first in the
    order listed, the file's own keys winning: what the file means, as one mapping."""
    tree = load_yaml(path)
    here = os.path.realpath(locate(path))
    if here in chain:
        cycle = " -> ".join(os.path.basename(p) for p in (*chain, here))
        raise UserError(f"config files name each other as {BASE_KEY}: {cycle}")
    bases = tree.pop(BASE_KEY, [])
    merged = {}
    for base in bases if isinstance(bases, list) else [bases]:
        merged = _merge(merged, load_tree(_base_path(base, here), (*chain, here)))
    return _merge(merged, tree)


def resolve(path=None, overrides=(), base=None):
    """Build a config: ``base`` (or the defaults), then the YAML at ``path`` (with its ``_base_``
    configs), then overrides."""
    cfg = copy.deepcopy(base) if base is not None else defaults()
    if path:
        for dotted, value in _flatten(load_tree(path)):
            _set(cfg, dotted, value)
    for text in overrides:
        _set(cfg, *parse_override(text))
    missing = [k for k in all_keys() if _lookup(k).default is REQUIRED and cfg[k.split(".")[0]][k.split(".")[1]] is None]
    if missing:
        raise UserError(f"config key '{missing[0]}' is required: set it in the YAML file or as {missing[0]}=...")
    _check_combinations(cfg)
    return cfg


def _check_combinations(cfg):
    """Keys that are fine alone but not together; the message names both."""
    t, d = cfg["train"], cfg["data"]
    if t["amp"] and t["dtype"] == "float16":
        raise UserError(f"train.amp={t['amp']} and train.dtype=float16 do not go together: AMP keeps float32 "
                        "weights and casts where it is safe; use one of them")
    if d["val_split"] and d["val_split"] == d["train_split"] and not d["synthetic"]:
        raise UserError(f"data.train_split and data.val_split are both '{d['train_split']}': validating on the "
                        "training images measures nothing; set data.val_split to another split, or '' for none")
    for low, high in (("min_random_area", "max_random_area"), ("min_aspect_ratio", "max_aspect_ratio")):
        if d[low] > d[high]:
            raise UserError(f"data.{low}={d[low]:g} is above data.{high}={d[high]:g}")


def diff(old, new):
    """``['optim.lr: 0.01 -> 0.1', ...]``: the keys whose values differ between two configs (a key
    only one of them has shows as <absent> in the other)."""
    def flat(cfg):
        return {f"{section}.{k}": v for section, keys in cfg.items() if isinstance(keys, dict) for k, v in keys.items()}
    before, after = flat(old), flat(new)
    absent = "<absent>"
    return [f"{k}: {before.get(k, absent)!r} -> {after.get(k, absent)!r}"
            for k in list(before) + [k for k in after if k not in before] if before.get(k, absent) != after.get(k, absent)]


def diff_from_defaults(cfg):
    """The start-up log's list of what a config sets differently from the defaults."""
    return diff(defaults(), cfg)


def load_resolved(path):
    """A config mxdl wrote (``RUN/config.yaml``) as it stands, or None when it does not read."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = yaml_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return tree if isinstance(tree, dict) else None


def dump(cfg, path):
    """Write the resolved config as YAML, atomically."""
    from .fileio import atomic_write_text
    atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False))


def describe_defaults():
    lines = []
    for section, keys in SCHEMA.items():
        lines.append(f"{section}:")
        for name, key in keys.items():
            shown = "REQUIRED" if key.default is REQUIRED else repr(key.default)
            lines.append(f"  {name}: {shown}  # {key.doc}")
    return "\n".join(lines)
