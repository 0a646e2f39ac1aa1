"""Checkpoints that survive ctrl+c, SIGKILL and a resume on other hardware.

Layout under ``RUN/checkpoints/``::

    epoch-0005-step-000000/   model.params  optimizer.params  meta.json
    epoch-0007-step-000031/   (a ctrl+c stop 31 steps into epoch 8)
    best/                     copy (hard links) of the best checkpoint by the monitored metric
    latest                    text file naming the newest checkpoint directory
    index.json                which checkpoints are kept, and the best metric so far

Each checkpoint is written into a hidden temporary directory and renamed into
place, then ``latest`` is replaced atomically: a crash at any moment leaves the
previous checkpoint and pointer intact. Old checkpoints are deleted only after
the new one is committed, and the bookkeeping lives on disk, so a resumed run
keeps pruning correctly.

Optimizer states are saved as plain CPU arrays (``mx.nd.save``) rather than
with ``Trainer.save_states``: that pickles the optimizer itself (so an lr
given on resume would be silently replaced, apache/mxnet#17357) and its arrays
remember the device they came from (apache/mxnet#10910), so a GPU checkpoint
would not load on a CPU or a different GPU count.
"""
import json
import os
import shutil

from ..errors import UserError, error_reason
from ..fileio import atomic_write_json, atomic_write_text, commit_dir, read_json_object, temporary_dir
from .layout import checkpoints_dir

# 3: resnet{50,101,152}_v1 is the paper's layout; 2: lr segments in epochs with per-worker rates;
# 1: global steps, scaled rates.
CHECKPOINT_FORMAT = 3
# Before format 3, mxdl called the v1b layout (the stride on the 3x3) v1; such checkpoints are read
# under the network's true name.
_V1B_CALLED_V1 = {f"resnet{depth}_v1": f"resnet{depth}_v1b" for depth in (50, 101, 152)}

META = "meta.json"
PARAMS = "model.params"
OPT_STATES = "optimizer.params"
EMA_PARAMS = "ema.params"  # the moving average of the weights, with train.ema_decay


def checkpoint_name(epoch, step_in_epoch):
    return f"epoch-{epoch:04d}-step-{step_in_epoch:06d}"


class CheckpointSaver:
    def __init__(self, ckpt_dir, keep_last=3, monitor="val_acc", keep_best=1):
        self.dir = ckpt_dir
        self.keep_last = max(1, keep_last)
        self.keep_best = max(1, keep_best)
        self.monitor = monitor
        self.maximize = monitor in ("val_acc", "val_top5")
        os.makedirs(ckpt_dir, exist_ok=True)
        self.index = self._read_index()

    def _read_index(self):
        path = os.path.join(self.dir, "index.json")
        if os.path.isfile(path):
            index = read_json_object(path, "", f"{path} is damaged ({{why}}): the checkpoints beside it are "
                                                "intact; remove it and resume with --resume-from EPOCH")
            index.setdefault("top", [index["best"]] if index.get("best") else [])
            index.setdefault("kept", [])
            return index
        return {"kept": [], "best": None, "top": []}

    def _better(self, value):
        best = self.index["best"]
        if value is None:
            return False
        if best is None:
            return True
        return value > best["value"] if self.maximize else value < best["value"]

    def save(self, epoch, step_in_epoch, write_payload, meta, metrics=None):
        """Write one checkpoint; ``write_payload(tmp_dir)`` writes the parameter files."""
        name = checkpoint_name(epoch, step_in_epoch)
        with temporary_dir(self.dir, f".tmp-{name}-") as tmp:
            write_payload(tmp)
            atomic_write_json(os.path.join(tmp, META), meta)
            commit_dir(tmp, os.path.join(self.dir, name))
        atomic_write_text(os.path.join(self.dir, "latest"), name + "\n")
        if name in self.index["kept"]:
            self.index["kept"].remove(name)
        self.index["kept"].append(name)
        value = (metrics or {}).get(self.monitor)
        if self._better(value):
            self._copy_to_best(name)
            self.index["best"] = {"name": name, "metric": self.monitor, "value": value}
        self._rank(name, value)
        self._prune()
        atomic_write_json(os.path.join(self.dir, "index.json"), self.index)
        return os.path.join(self.dir, name)

    def improves(self, metrics):
        """Whether these epoch metrics beat the best checkpoint's."""
        return self._better((metrics or {}).get(self.monitor))

    def save_best(self, epoch, write_payload, meta, metrics):
        """An epoch that validates better than the best so far but is not a checkpoint epoch
        (``checkpoint.every_epochs``) becomes ``best/`` on its own: its weights and meta, which is what
        evaluation and export read (a resume takes the periodic checkpoints, with optimizer state)."""
        with temporary_dir(self.dir, ".tmp-best-") as tmp:
            write_payload(tmp)
            atomic_write_json(os.path.join(tmp, META), meta)
            commit_dir(tmp, os.path.join(self.dir, "best"))
        self.index["best"] = {"name": checkpoint_name(epoch, 0), "metric": self.monitor,
                              "value": metrics[self.monitor], "best_only": True}
        atomic_write_json(os.path.join(self.dir, "index.json"), self.index)
        return os.path.join(self.dir, "best")

    def _copy_to_best(self, name):
        with temporary_dir(self.dir, ".tmp-best-") as tmp:
            for f in os.listdir(os.path.join(self.dir, name)):
                src = os.path.join(self.dir, name, f)
                try:
                    os.link(src, os.path.join(tmp, f))  # no second copy of a large model
                except OSError:
                    shutil.copy2(src, os.path.join(tmp, f))
            commit_dir(tmp, os.path.join(self.dir, "best"))

    def _rank(self, name, value):
        """Keep the ``keep_best`` best checkpoints by the monitored metric, best first."""
        if value is None:
            return
        top = [t for t in self.index["top"] if t["name"] != name] + [{"name": name, "value": value}]
        top.sort(key=lambda t: -t["value"] if self.maximize else t["value"])
        self.index["top"] = top[: self.keep_best]

    def _prune(self):
        """Drop periodic checkpoints beyond ``keep_last``, unless they are among the best (the best
        one's files are hard links shared with ``best/``, so keeping it costs no space)."""
        protected = {t["name"] for t in self.index["top"]}
        while len(self.index["kept"]) > self.keep_last:
            old = self.index["kept"].pop(0)
            if old not in protected:
                shutil.rmtree(os.path.join(self.dir, old), ignore_errors=True)
        # checkpoints kept only for being among the best go once they are not
        for old in self.index.get("kept_as_best", []):
            if old not in protected and old not in self.index["kept"]:
                shutil.rmtree(os.path.join(self.dir, old), ignore_errors=True)
        self.index["kept_as_best"] = sorted(protected - set(self.index["kept"]))

    # ---- finding checkpoints to resume from -------------------------------------------------

    def available(self):
        return available(self.dir)

    def latest(self):
        pointer = os.path.join(self.dir, "latest")
        if os.path.isfile(pointer):
            with open(pointer) as f:
                name = f.read().strip()
            if os.path.isfile(os.path.join(self.dir, name, META)):
                return os.path.join(self.dir, name)
        found = self.available()  # pointer lost: fall back to the newest complete directory
        return os.path.join(self.dir, found[-1]) if found else None

    def at_epoch(self, epoch):
        return at_epoch(self.dir, epoch)


def available(ckpt_dir):
    """The complete checkpoints in a folder, oldest first (none when it does not exist)."""
    if not os.path.isdir(ckpt_dir):
        return []
    return sorted(d for d in os.listdir(ckpt_dir)
                  if d.startswith("epoch-") and os.path.isfile(os.path.join(ckpt_dir, d, META)))


def at_epoch(ckpt_dir, epoch):
    """The checkpoint written at the end of ``epoch``; a UserError listing the epochs there are."""
    path = os.path.join(ckpt_dir, checkpoint_name(epoch, 0))
    if not os.path.isfile(os.path.join(path, META)):
        have = ", ".join(d.split("-")[1].lstrip("0") or "0" for d in available(ckpt_dir)
                         if d.endswith("step-000000")) or "none"
        raise UserError(f"no checkpoint for the end of epoch {epoch} in {ckpt_dir} (epochs available: {have})")
    return path


# What a resume reads from meta.json; a file without them is damaged, not old.
RESUME_KEYS = ("identity", "epoch", "step_in_epoch", "world_size", "batch_size", "steps_per_epoch",
               "lr_segments", "optimizer")
DAMAGED = "resume from an earlier one (--resume-from EPOCH) or start over (--fresh)"


def has_checkpoint(run_dir):
    """A run directory that a plain re-run continues from: its ``latest`` pointer exists."""
    return os.path.isfile(os.path.join(checkpoints_dir(run_dir), "latest"))


def run_checkpoint(run_dir):
    """The checkpoint a run folder stands for: its best, else its latest (None when it has none)."""
    ckpts = checkpoints_dir(run_dir)
    if not os.path.isdir(ckpts):
        return None
    best = os.path.join(ckpts, "best")
    return best if os.path.isfile(os.path.join(best, META)) else CheckpointSaver(ckpts).latest()


def weights_file(source):
    """``(file, format)`` for a run folder, checkpoint folder or parameter file (format None: a
    plain file, whose kind the loader finds out)."""
    source = os.fspath(source)
    if os.path.isfile(source):
        return source, None
    if os.path.isfile(os.path.join(source, PARAMS)) and os.path.isfile(os.path.join(source, META)):
        return os.path.join(source, PARAMS), "mxdl checkpoint"
    chosen = run_checkpoint(source) if os.path.isdir(source) else None
    if chosen:
        return os.path.join(chosen, PARAMS), "mxdl run"
    raise UserError(f"no parameters found at {source} (give a run folder, a checkpoint folder or a .params file)")


def source_input_shape(params_path):
    """The input shape an mxdl checkpoint's weights were trained on (None for other files)."""
    meta_path = os.path.join(os.path.dirname(params_path), META)
    if os.path.basename(params_path) != PARAMS or not os.path.isfile(meta_path):
        return None
    try:
        return (load_meta(os.path.dirname(params_path)).get("identity") or {}).get("input_shape")
    except UserError:
        return None


def load_meta(path, required=()):
    meta_path = os.path.join(path, META)
    meta = read_json_object(meta_path, f"{path} is not a checkpoint (no {META})",
                            f"checkpoint {meta_path} is damaged ({{why}}): {DAMAGED}")
    if not isinstance(meta.get("format", 1), int) or meta.get("format", 1) > CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} has format {meta.get('format')!r}, which this mxdl (reading formats "
                        f"1 to {CHECKPOINT_FORMAT}) does not know: upgrade mxdl, or resume from another checkpoint")
    missing = [k for k in required if k not in meta]
    if missing:
        raise UserError(f"checkpoint {meta_path} is damaged (no '{missing[0]}'): {DAMAGED}")
    identity = meta.get("identity")
    if meta.get("format", 1) < 3 and isinstance(identity, dict) and identity.get("model.name") in _V1B_CALLED_V1:
        identity["model.name"] = _V1B_CALLED_V1[identity["model.name"]]
    return meta


def load_params(net, path, ctx, **options):
    """The checkpoint's weights into ``net``; a truncated or foreign file is one line, not a traceback."""
    import mxnet as mx
    try:
        net.load_parameters(os.path.join(path, PARAMS), ctx=ctx, **options)
    except (mx.base.MXNetError, ValueError, AssertionError, OSError) as err:
        raise UserError(f"checkpoint {path}: {PARAMS} does not load ({error_reason(err)}): {DAMAGED}") from None


# ---- optimizer states, portable across devices -----------------------------------------------

def _flatten_state(prefix, state, arrays):
    import mxnet as mx
    if state is None:
        return None
    if isinstance(state, mx.nd.NDArray):
        arrays[prefix] = state.as_in_context(mx.cpu())
        return "array"
    if isinstance(state, (tuple, list)):
        return [_flatten_state(f"{prefix}/{i}", s, arrays) for i, s in enumerate(state)]
    raise TypeError(f"cannot save optimizer state of type {type(state).__name__}")


def _unflatten_state(prefix, spec, arrays):
    if spec is None:
        return None
    if spec == "array":
        return arrays[prefix]
    return tuple(_unflatten_state(f"{prefix}/{i}", s, arrays) for i, s in enumerate(spec))


def save_optimizer(trainer, path):
    """Write the optimizer's per-parameter states; return the JSON-able structure and counters."""
    import mxnet as mx
    updater = trainer._updaters[0]
    opt = trainer._optimizer
    arrays, spec = {}, {}
    for index, state in updater.states.items():
        spec[str(index)] = _flatten_state(str(index), state, arrays)
    mx.nd.save(path, arrays)
    return {"spec": spec, "num_update": opt.num_update,
            "update_counts": {str(k): v for k, v in opt._index_update_count.items()}}


def load_optimizer(trainer, path, info, ctx):
    import mxnet as mx
    updater = trainer._updaters[0]
    opt = trainer._optimizer
    try:
        arrays = mx.nd.load(path) if info["spec"] else {}
    except (mx.base.MXNetError, OSError) as err:
        raise UserError(f"{path} does not load ({error_reason(err)}): {DAMAGED}") from None
    updater.states = {int(k): _unflatten_state(k, s, arrays) for k, s in info["spec"].items()}
    updater.states_synced = dict.fromkeys(updater.states, False)  # moved to ctx on first update
    counts = {int(k): v for k, v in info["update_counts"].items()}
    opt._all_index_update_counts = {ctx.device_id: counts}
    opt._index_update_count = counts
    opt.num_update = info["num_update"]
