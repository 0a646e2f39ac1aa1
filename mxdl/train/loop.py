"""The training loop every worker runs: config -> data -> model -> trainer -> outputs.

One process (``mxdl-train``) or one Horovod worker each (``launch/train.sh``):

    mxdl-train configs/digits.yaml                                   # CPU, one process
    horovodrun -np 2 --gloo mxdl-train configs/digits.yaml           # 2 CPU workers
    launch/train.sh configs/cifar10_resnet.yaml --np 4               # 4 GPUs, one machine
    launch/train.sh configs/cifar10_resnet.yaml --resume-from 40 optim.lr=1e-2

Decisions worth knowing:

- The network is compiled with ``hybridize(static_alloc=True, static_shape=True)``
  on GPUs (fewer allocations per step) and plain ``hybridize()`` on CPUs, where it
  is as fast (``train.static_alloc`` forces either). With static_alloc, BatchNorm
  running statistics reach the parameters only after an inference forward, so
  one (on a batch of zeros, in predict mode, which changes nothing) runs before
  every checkpoint, export and statistics average.
- Parameters are broadcast from rank 0 before the first forward pass (after it,
  MKLDNN-layout arrays crash Horovod's broadcast).
- Horovod averages gradients only; BatchNorm running statistics are averaged
  across workers at every epoch end, before validation and checkpointing. A
  ctrl+c checkpoint mid-epoch holds rank 0's statistics.
- The learning rate is computed from the global step every step and set on an
  optimizer that has no scheduler (schedule.py), so nothing about it needs
  restoring and an lr given on resume takes effect.
- The MXNet random generator is reseeded from (seed, rank, step) at every step
  where a stop can happen (each ``train.stop_check_interval`` steps and each
  epoch start), so dropout masks after a resume equal those of an uninterrupted
  run. Reseeding at every step instead cost about 4% of throughput.
"""
import os
import sys
import time

import numpy as np

from .. import __version__
from .. import budget as budget_mod
from ..errors import RunFailed, UserError
from ..eval.export import export_symbol
from ..fileio import atomic_write_text
from ..models.pretrained import load_pretrained
from ..models.resnet import zero_last_gamma
from ..runinfo import FAILED, FINISHED, STOPPED, outcome_file, stop_file
from ..seeding import Stream, derive_seed
from .finetune import freeze
from .checkpoint import (CHECKPOINT_FORMAT, EMA_PARAMS, OPT_STATES, PARAMS, RESUME_KEYS, CheckpointSaver, load_meta,
                         load_optimizer, load_params, save_optimizer)
from .monitor import History
from .schedule import Schedule
from .step import Stepper, init_amp, loss_scaler_state, nonfinite_stop, restore_loss_scaler
from .tracking import StepProfiler, Tracker, eta_text
from .stop import StopRequest



def make_initializer(name):
    import mxnet as mx
    if name == "msra":
        return mx.init.MSRAPrelu(factor_type="in", slope=0.0)
    # "xavier"/"book": Keras's default glorot_uniform
    return mx.init.Xavier(rnd_type="uniform", factor_type="avg", magnitude=3)


def exclude_from_weight_decay(net):
    """The book's l2 applies to kernels only: no decay on biases and batch-norm parameters."""
    for name, param in net.collect_params().items():
        if name.endswith(("_bias", "_beta", "_gamma")):
            param.wd_mult = 0.0


def optimizer_params(cfg, lr):
    o = cfg["optim"]
    wd = 2 * o["reg"] if o["reg"] is not None else o["wd"]
    params = {"learning_rate": lr, "wd": wd}
    if o["name"] in ("sgd", "nag"):
        params["momentum"] = o["momentum"]
    if cfg["train"]["dtype"] == "float16":
        params["multi_precision"] = o["multi_precision"]
    return params


def lr_scale(cfg, world_size):
    """The linear scaling rule: the per-worker rate times the worker count (optim.scale_lr)."""
    return float(world_size) if cfg["optim"]["scale_lr"] else 1.0


def segments_in_epochs(meta, scale_lr):
    """A checkpoint's lr segments as [{"epoch", "lr" per worker}] (format 1 kept global steps, scaled)."""
    if meta.get("format", 1) >= 2:
        return meta["lr_segments"]
    scale = meta["world_size"] if scale_lr else 1
    return [{"epoch": s["step"] / meta["steps_per_epoch"], "lr": s["lr"] / scale} for s in meta["lr_segments"]]


def identity(cfg, classes, shape):
    """What a checkpoint must agree on to be resumed by this config."""
    return {"model.name": cfg["model"]["name"], "model.options": cfg["model"]["options"],
            "model.head": cfg["model"]["head"], "model.head_units": cfg["model"]["head_units"],
            "classes": classes, "input_shape": list(shape), "data.format": cfg["data"]["format"],
            "train.dtype": cfg["train"]["dtype"], "train.amp": cfg["train"]["amp"]}


def check_compatible(meta, expected, path):
    # A key the checkpoint lacks was added to the identity after it was written: not a difference.
    diffs = [f"{k}: checkpoint has {meta['identity'][k]!r}, config has {v!r}"
             for k, v in expected.items() if k in meta["identity"] and meta["identity"][k] != v]
    if diffs:
        raise UserError(f"cannot resume from {path}: " + "; ".join(diffs))


class Accumulator:
    """Loss and top-1/top-5 counts kept on the device, so training never waits to log."""

    def __init__(self):
        self.loss = self.top1 = self.top5 = None
        self.count = 0

    def add(self, out, label, loss, rows=None):
        import mxnet as mx
        if rows is not None and rows < out.shape[0]:
            out, label, loss = out[:rows], label[:rows], loss[:rows]
        label = label.astype("float32")
        k = min(5, out.shape[1])
        top = mx.nd.topk(out.astype("float32"), k=k, axis=1).astype("float32")
        hits = top == label.reshape((-1, 1))
        values = [loss.astype("float32").sum(), hits[:, :1].sum(), hits.sum()]
        if self.loss is None:
            self.loss, self.top1, self.top5 = values
        else:
            self.loss, self.top1, self.top5 = (a + b for a, b in zip((self.loss, self.top1, self.top5), values))
        self.count += out.shape[0]

    def totals(self):
        if self.loss is None:
            return [0.0, 0.0, 0.0, 0.0]
        return [self.loss.asscalar(), self.top1.asscalar(), self.top5.asscalar(), float(self.count)]


def summarize(totals):
    loss, top1, top5, count = totals
    count = max(count, 1.0)
    return loss / count, top1 / count, top5 / count


class Run:
    """Everything one worker needs, built once; ``fit()`` runs the epochs."""

    def __init__(self, cfg, run_dir, dist, resume=None, lr_override=None, resume_hint="", dataset=None,
                 budget=None):
        import mxnet as mx
        from ..data import open_dataset
        from ..data.shards import class_weights
        from ..log import get
        from ..models.network import build_network

        self.cfg, self.run_dir, self.dist = cfg, run_dir, dist
        self.log = get()
        self.ctx = dist.context()
        self.resume_hint = resume_hint
        t = cfg["train"]
        self.budget = budget or budget_mod.here()
        threads = budget_mod.decode_threads(cfg["data"]["threads"], self.budget, self.log)
        self.data = dataset or open_dataset({**cfg, "data": {**cfg["data"], "threads": threads}}, dist.rank, dist.size)
        if dist.primary:
            self.log.info(f"threads: {self.budget.describe()}; data.threads={threads}, OMP_NUM_THREADS="
                          f"{os.environ.get('OMP_NUM_THREADS', '?')}")
        manifest = self.data.manifest
        self.classes = manifest.classes
        self.shape = self.data.shape
        self.spe = self.data.steps_per_epoch
        self.epochs = t["epochs"]
        self.identity = identity(cfg, len(self.classes), self.shape)

        m = cfg["model"]
        if (t["mixup"] or t["cutmix"]) and len(self.classes) < 2:
            raise UserError(f"train.mixup/train.cutmix mix two classes' images, but data.dir "
                            f"{cfg['data']['dir']} has {len(self.classes)} class")
        self.profiler = StepProfiler(t["profile_steps"], run_dir, dist.rank, self.epochs * self.spe)
        self.saver = CheckpointSaver(os.path.join(run_dir, "checkpoints"), cfg["checkpoint"]["keep_last"],
                                     cfg["checkpoint"]["monitor"], cfg["checkpoint"]["keep_best"])
        ckpt = self._find_checkpoint(resume)
        if ckpt:  # refused before AMP changes MXNet for the whole process
            check_compatible(load_meta(ckpt, RESUME_KEYS), self.identity, ckpt)

        mx.random.seed(t["seed"])
        np.random.seed(t["seed"])
        init_amp(t["amp"])
        self.net = build_network(self.identity)
        if m["last_gamma"] and not zero_last_gamma(self.net):
            raise UserError(f"model.last_gamma is for residual networks; {m['name']} has no residual block")
        self.net.initialize(make_initializer(m["init"]), ctx=self.ctx)
        exclude_from_weight_decay(self.net)

        self.schedule = Schedule(cfg["schedule"], self.epochs, self.spe, cfg["optim"]["warmup_epochs"],
                                 [{"epoch": 0, "lr": cfg["optim"]["lr"]}], lr_scale(cfg, dist.size))
        self.trainer = dist.make_trainer(self.net.collect_params(), cfg["optim"]["name"],
                                         optimizer_params(cfg, self.schedule.lr_at(0)))
        self.start_epoch, self.start_step = 0, 0
        self.history = History(run_dir)
        self.tracker = Tracker(run_dir, t["tensorboard"], dist.primary)
        if ckpt:
            self._restore(ckpt, lr_override)
        elif m["init_from"]:
            self._init_from(m["init_from"], m["init_partial"])
        frozen = freeze(self.net, t["freeze"])
        if frozen and dist.primary:
            self.log.info(f"frozen: {len(frozen)} parameter arrays matching '{t['freeze']}'")
        dist.broadcast_parameters(self.net.collect_params())
        self.static_alloc = t["static_alloc"] if t["static_alloc"] is not None else self.budget.gpus > 0
        if t["hybridize"]:
            self.net.hybridize(static_alloc=self.static_alloc, static_shape=self.static_alloc)

        weights = class_weights(manifest, cfg["data"]["train_split"], t["class_weights"])
        self.stepper = Stepper(self.net, self.trainer, t, cfg["data"]["batch_size"], len(self.classes),
                               mx.nd.array(weights, ctx=self.ctx) if weights else None)
        if ckpt:
            self._restore_step_state(ckpt)
        self.stop = StopRequest(stop_file(run_dir))

    # ---- resume --------------------------------------------------------------------------

    def _init_from(self, source, allow_partial):
        import mxnet as mx
        # Settle deferred shapes by shape inference, not a forward pass: a forward before
        # Horovod's broadcast would leave MKLDNN-layout arrays that crash it.
        self.net.infer_shape(mx.nd.zeros((1,) + tuple(self.shape), ctx=self.ctx))
        report = load_pretrained(self.net, source, self.ctx, allow_partial)
        self.log.info(f"model.init_from: {report.summary()}")

    def _find_checkpoint(self, resume):
        if resume is None:
            return None
        path = self.saver.latest() if resume == "latest" else self.saver.at_epoch(int(resume))
        path = self.dist.broadcast_object(path, "resume.path")  # every worker uses rank 0's choice
        if path is None:
            self.log.info(f"no checkpoint in {self.saver.dir}: starting from scratch")
        return path

    def _restore(self, path, lr_override):
        meta = load_meta(path, RESUME_KEYS)
        if meta.get("format", 1) > CHECKPOINT_FORMAT:
            raise UserError(f"{path} has checkpoint format {meta['format']}, newer than this mxdl reads "
                            f"({CHECKPOINT_FORMAT}): upgrade mxdl")
        check_compatible(meta, self.identity, path)
        self._check_geometry(meta, path)
        load_params(self.net, path, self.ctx, cast_dtype=True)
        load_optimizer(self.trainer, os.path.join(path, OPT_STATES), meta["optimizer"], self.ctx)
        self.start_epoch, self.start_step = meta["epoch"], self._resume_step(meta)
        self.schedule.segments = segments_in_epochs(meta, self.cfg["optim"]["scale_lr"])
        self.history = History.load(self.run_dir, meta["epoch"])
        step = self.global_step(self.start_epoch, self.start_step)
        if lr_override is not None:
            self.schedule.add_segment(self.schedule.epoch_at(step), lr_override)
            self.history.note({"epoch": self.start_epoch, "step": step, "event": "lr set on resume",
                               "lr": lr_override * self.schedule.scale})
        self.log.info(f"resumed from {path} at epoch {self.start_epoch} step {self.start_step} "
                      f"(lr now {self.schedule.lr_at(step):g})")

    def _restore_step_state(self, path):
        """The weights' average, the skipped-step count and AMP's loss scale continue from the
        checkpoint's (a checkpoint without an average starts one there)."""
        ema = self.stepper.ema
        if ema is not None and os.path.isfile(os.path.join(path, EMA_PARAMS)):
            ema.load(os.path.join(path, EMA_PARAMS), self.ctx)
        meta = load_meta(path)
        self.stepper.skipped = meta.get("skipped_steps", 0)
        restore_loss_scaler(self.trainer, meta.get("amp_loss_scaler"))

    def _check_geometry(self, meta, path):
        """Batch size must match; the worker count may change (the schedule is kept in epochs)."""
        batch = self.cfg["data"]["batch_size"]
        if meta["batch_size"] != batch:
            raise UserError(f"{path} was trained with data.batch_size={meta['batch_size']}; resume with "
                            f"data.batch_size={meta['batch_size']} (a new batch size changes the lr rule "
                            f"and the epoch layout), or start over with --fresh")
        if meta["world_size"] == self.dist.size and meta["steps_per_epoch"] != self.spe:
            raise UserError(f"{path} had {meta['steps_per_epoch']} steps per epoch and this config gives "
                            f"{self.spe} with the same workers and batch: the training split has changed")
        if meta["world_size"] != self.dist.size:
            self.log.info(f"resuming a {meta['world_size']}-worker checkpoint with {self.dist.size} workers: "
                          f"{meta['steps_per_epoch']} -> {self.spe} steps per epoch, lr x{self.schedule.scale:g} "
                          f"of the per-worker rate, schedule kept in epochs")

    def _resume_step(self, meta):
        """The step to continue from; a mid-epoch stop by another worker count keeps its epoch fraction."""
        step = meta["step_in_epoch"]
        if not step or meta["world_size"] == self.dist.size:
            return step
        moved = min(self.spe - 1, round(step / meta["steps_per_epoch"] * self.spe))
        self.log.info(f"mid-epoch checkpoint ({step} of {meta['steps_per_epoch']} steps) taken by "
                      f"{meta['world_size']} workers: epoch {meta['epoch'] + 1} continues at step {moved} of "
                      f"{self.spe} in the {self.dist.size}-worker layout's order; this one epoch is not "
                      f"exactly-once (some records repeat or sit out)")
        return moved

    def preprocess(self):
        """How inputs were prepared, so evaluation and prediction can repeat it without the shards."""
        d = self.cfg["data"]
        stats = self.data.manifest.stats
        scale = [d["scale"] / s for s in stats["std"]] if d["std_normalize"] else d["scale"]
        return {"mean": stats["mean"] if d["mean_subtract"] else None,
                "scale": scale, "resize": d["val_resize"] or d["resize"], "input_shape": list(self.shape),
                "class_names": self.data.manifest.class_names}

    def global_step(self, epoch, step_in_epoch):
        return epoch * self.spe + step_in_epoch

    # ---- checkpoints ----------------------------------------------------------------------

    def settle_statistics(self):
        """Under static_alloc, BatchNorm's running statistics live in the cached graph until an
        inference forward copies them out: run one (predict mode updates nothing)."""
        if not self.static_alloc:
            return
        import mxnet as mx
        from mxnet import autograd
        batch = (self.cfg["data"]["batch_size"],) + tuple(self.shape)  # the static shape
        dtype = "float16" if self.cfg["train"]["dtype"] == "float16" else "float32"
        with autograd.predict_mode():
            self.net(mx.nd.zeros(batch, ctx=self.ctx, dtype=dtype))
        mx.nd.waitall()

    def save_checkpoint(self, epoch, step_in_epoch, reason, metrics=None):
        """Rank 0 writes; every worker calls this at the same point."""
        self.settle_statistics()
        if not self.dist.primary:
            return None

        def payload(tmp):
            self.net.save_parameters(os.path.join(tmp, PARAMS))
            payload.opt = save_optimizer(self.trainer, os.path.join(tmp, OPT_STATES))
            if self.stepper.ema is not None:
                self.stepper.ema.save(os.path.join(tmp, EMA_PARAMS))

        meta = {"format": CHECKPOINT_FORMAT, "mxdl_version": __version__, "reason": reason,
                "epoch": epoch, "step_in_epoch": step_in_epoch,
                "global_step": self.global_step(epoch, step_in_epoch),
                "identity": self.identity, "world_size": self.dist.size,
                "batch_size": self.cfg["data"]["batch_size"], "steps_per_epoch": self.spe,
                "lr_segments": self.schedule.segments, "lr_scale": self.schedule.scale, "seed": self.cfg["train"]["seed"],
                "metrics": metrics or {}, "config": self.cfg, "preprocess": self.preprocess(),
                "skipped_steps": self.stepper.skipped, "amp_loss_scaler": loss_scaler_state(self.trainer),
                "param_names": list(self.net.collect_params().keys())}

        def write(tmp):
            payload(tmp)
            meta["optimizer"] = payload.opt
        return self.saver.save(epoch, step_in_epoch, write, meta, metrics)

    # ---- one step, one epoch ----------------------------------------------------------------

    def _to_ctx(self, x, y):
        x = x.as_in_context(self.ctx)
        if self.cfg["train"]["dtype"] == "float16":
            x = x.astype("float16")
        return x, y.as_in_context(self.ctx)

    def train_epoch(self, epoch, first_step):
        import mxnet as mx
        seed = self.cfg["train"]["seed"]
        check_every = max(1, self.cfg["train"]["stop_check_interval"])
        acc = Accumulator()
        bar = self._progress(epoch, first_step)
        started, waited = time.time(), 0.0
        stream = self.data.train_epoch(epoch, first_step)
        step = first_step
        while step < self.spe:
            t0 = time.time()
            x, y = next(stream)
            waited += time.time() - t0
            x, y = self._to_ctx(x, y)
            gstep = self.global_step(epoch, step)
            self.profiler.at(gstep)
            self.trainer.set_learning_rate(self.schedule.lr_at(gstep))
            if step % check_every == 0:  # every step a stop (so a resume) can start from
                mx.random.seed(derive_seed(seed, Stream.TRAIN_STEP, gstep, self.dist.rank))
            mix_seed = derive_seed(seed, Stream.MIX, gstep, self.dist.rank) if self.stepper.mixer.on else None
            out, label, loss = self.stepper.micro_batch(x, y, mix_seed)
            acc.add(out, label, loss)
            self.tracker.step(epoch, step + 1, gstep + 1, loss, self.schedule.lr_at(gstep))
            step += 1
            if self.stepper.due(step, self.spe):
                self._update(epoch, step)
            if bar is not None:
                bar.update(1)
            if step % self.cfg["train"]["log_interval"] == 0 and self.dist.primary:
                self._log_progress(epoch, step, acc, started, waited, bar)
            if (step % check_every == 0 or step == self.spe) and not self.stepper.pending:
                if self.dist.any(self.stop.check_local(), "stop"):
                    if bar is not None:
                        bar.close()
                    return None, step
        if bar is not None:
            bar.close()
        mx.nd.waitall()  # the clock is read once the device has finished the epoch's work, not when it was queued
        elapsed = time.time() - started
        totals = self.dist.allreduce_sum(acc.totals(), f"train.{epoch}")
        loss, top1, top5 = summarize(totals)
        return {"train_loss": loss, "train_acc": top1, "train_top5": top5,
                "images_per_sec": totals[3] / max(elapsed, 1e-9),
                "data_wait": waited / max(elapsed, 1e-9), "seconds": elapsed}, step

    def _update(self, epoch, step):
        """The optimizer step; after too many non-finite ones in a row, save the weights from before
        them (the skipped steps left them untouched) and stop."""
        if self.stepper.update() or not self.stepper.too_many_skipped():
            return
        path = self.save_checkpoint(epoch, step, "nonfinite")
        self.dist.barrier("nonfinite.saved")
        raise nonfinite_stop(self.stepper.limit, epoch, step, self.cfg["optim"]["lr"], path or "rank 0's")

    def _progress(self, epoch, first_step):
        if not (self.dist.primary and sys.stderr.isatty()):
            return None
        from tqdm import tqdm
        return tqdm(total=self.spe, initial=first_step, desc=f"epoch {epoch + 1}/{self.epochs}",
                    unit="step", leave=False, dynamic_ncols=True)

    def _log_progress(self, epoch, step, acc, started, waited, bar):
        loss, top1, _ = summarize(acc.totals())
        self.tracker.flush()
        elapsed = time.time() - started
        rate = acc.count * self.dist.size / max(elapsed, 1e-9)
        gstep = self.global_step(epoch, step)
        lr = self.schedule.lr_at(gstep)
        left = self.tracker.eta(gstep, self.epochs * self.spe)
        eta = f" eta {eta_text(left)}" if left is not None else ""
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{top1:.3f}", img_s=f"{rate:.0f}")
        else:
            self.log.info(f"epoch {epoch + 1} [{step}/{self.spe}] loss {loss:.4f} acc {top1:.4f} "
                          f"{rate:.0f} img/s lr {lr:.3g} data-wait {waited / max(elapsed, 1e-9):.0%}{eta}")

    def evaluate(self, split=None):
        from mxnet import autograd
        acc = Accumulator()
        with autograd.predict_mode():
            for x, y, rows in self.data.val_batches(split):
                x, y = self._to_ctx(x, y)
                out = self.net(x)
                out = out[0] if isinstance(out, (tuple, list)) else out
                acc.add(out, y, self.stepper.loss(out, y), rows)
        totals = self.dist.allreduce_sum(acc.totals(), f"val.{split}")
        loss, top1, top5 = summarize(totals)
        return {"val_loss": loss, "val_acc": top1, "val_top5": top5}

    # ---- the whole run --------------------------------------------------------------------------

    def fit(self):
        """Train to the last epoch or a stop request; returns FINISHED or STOPPED (also in RUN/outcome,
        which says FAILED when the run ends in RunFailed)."""
        try:
            outcome = self._fit()
        except RunFailed:
            self._record_outcome(FAILED)
            raise
        self._record_outcome(outcome)
        return outcome

    def _record_outcome(self, outcome):
        if self.dist.primary:
            atomic_write_text(outcome_file(self.run_dir), outcome + "\n")

    def _fit(self):
        ck = self.cfg["checkpoint"]
        if self.dist.primary and os.path.exists(outcome_file(self.run_dir)):
            os.remove(outcome_file(self.run_dir))
        if self.start_epoch > self.epochs:
            raise UserError(f"the checkpoint is at epoch {self.start_epoch}, beyond train.epochs={self.epochs}: "
                            f"raise train.epochs to train longer, or --resume-from an earlier epoch")
        if self.start_epoch == self.epochs:
            return self._already_finished()
        if self.dist.primary:
            self.log.info(f"{self.cfg['model']['name']} on {len(self.classes)} classes, input "
                          f"{'x'.join(map(str, self.shape))}, {self.dist.size} worker(s) on {self.ctx}, "
                          f"batch {self.cfg['data']['batch_size']}/worker"
                          + (f", AMP {self.cfg['train']['amp']} with dynamic loss scaling" if self.cfg["train"]["amp"]
                             else ""))
            self.log.info(self.schedule.describe())
            self.log.info(self._epoch_coverage())
        self.stop.install()
        self.tracker.start(self.global_step(self.start_epoch, self.start_step))
        try:
            for epoch in range(self.start_epoch, self.epochs):
                first = self.start_step if epoch == self.start_epoch else 0
                stats, step = self.train_epoch(epoch, first)
                if stats is None:
                    return self._stopped(epoch, step)
                self._check_finite(epoch, stats)
                self.settle_statistics()
                self.dist.average_aux_states(self.net)
                last = epoch + 1 == self.epochs
                if self.validates and ((epoch + 1) % self.cfg["train"]["val_every"] == 0 or last):
                    stats.update(self.evaluate())
                    stats.update(self._evaluate_ema())
                stats["skipped_steps"] = self.stepper.skipped
                entry = {"epoch": epoch + 1, "lr": self.schedule.lr_at(self.global_step(epoch, self.spe - 1)),
                         "world_size": self.dist.size, **stats}
                if self.dist.primary:
                    self.history.append(entry)
                    self.tracker.epoch(entry, self.global_step(epoch + 1, 0))
                    self.log.info(self._epoch_line(entry))
                if (epoch + 1) % ck["every_epochs"] == 0 or last:
                    self.save_checkpoint(epoch + 1, 0, "final" if last else "periodic", entry)
        finally:
            self.stop.uninstall()
            self.tracker.close()
        if self.dist.primary and ck["export"]:
            self.export()
        self.dist.barrier("finished")
        if self.dist.primary:
            last = self.history.entries[-1] if self.history.entries else {}
            if "val_acc" in last:
                self.log.info(f"finished: validation accuracy {last['val_acc']:.4f} "
                              f"(top-5 {last['val_top5']:.4f}) after {self.epochs} epochs")
        return FINISHED

    def _evaluate_ema(self):
        """Validation with the averaged weights, reported as ema_val_*."""
        ema = self.stepper.ema
        if ema is None:
            return {}
        ema.swap()
        try:
            return {f"ema_{k}": v for k, v in self.evaluate().items()}
        finally:
            ema.swap()

    def _check_finite(self, epoch, stats):
        """A NaN or infinite loss means the weights are garbage: keep the last checkpoint as it is,
        export nothing, and fail (every worker sees the same allreduced loss, so all stop here)."""
        if np.isfinite(stats["train_loss"]):
            return
        latest = self.saver.latest()
        raise RunFailed(f"training diverged in epoch {epoch + 1} (train loss {stats['train_loss']}); nothing "
                        f"was saved from it. The last good checkpoint is {latest or 'none (no epoch finished)'}; "
                        f"lower optim.lr (now {self.cfg['optim']['lr']:g}) and resume or start over")

    @property
    def validates(self):
        return bool(self.cfg["data"]["val_split"]) and not self.cfg["data"]["synthetic"]

    def _epoch_coverage(self):
        d = self.cfg["data"]
        if d["synthetic"]:
            return (f"synthetic data: {self.spe} steps/epoch of random {'x'.join(map(str, self.shape))} tensors, "
                    f"no I/O; validation skipped")
        drawn = self.spe * d["batch_size"] * self.dist.size
        return (f"each epoch draws {drawn} of the {self.data.train_count} '{d['train_split']}' records once; "
                f"{self.data.dropped_per_epoch} (fewer than one global batch) sit out, a different set each epoch")

    def _epoch_line(self, e):
        val = (f" | val loss {e['val_loss']:.4f} acc {e['val_acc']:.4f} top5 {e['val_top5']:.4f}"
               if "val_acc" in e else "")
        if "ema_val_acc" in e:
            val += f" (EMA acc {e['ema_val_acc']:.4f})"
        skipped = f", {e['skipped_steps']} non-finite steps skipped so far" if e.get("skipped_steps") else ""
        left = self.tracker.eta(self.global_step(e["epoch"], 0), self.epochs * self.spe)
        eta = f", eta {eta_text(left)}" if left is not None and e["epoch"] < self.epochs else ""
        return (f"epoch {e['epoch']}/{self.epochs} lr {e['lr']:.3g} | train loss {e['train_loss']:.4f} "
                f"acc {e['train_acc']:.4f}{val} | {e['images_per_sec']:.0f} img/s, "
                f"data-wait {e['data_wait']:.0%}, {e['seconds']:.1f}s{skipped}{eta}")

    def _stopped(self, epoch, step):
        if step == self.spe:  # the stop landed on the epoch's last step: save as an epoch end
            epoch, step = epoch + 1, 0
        path = self.save_checkpoint(epoch, step, "stop")
        self.dist.barrier("stop.saved")  # no worker exits (shutting Horovod down) before the save ends
        if self.dist.primary:
            where = f"after step {step} of {self.spe} in epoch {epoch + 1}" if step else f"at the end of epoch {epoch}"
            self.log.info(f"stopped {where}; checkpoint {path}")
            self.log.info(f"resume with: {self.resume_hint} --resume")
            if os.path.exists(stop_file(self.run_dir)):
                os.remove(stop_file(self.run_dir))
        return STOPPED

    def _already_finished(self):
        """Re-running a finished run trains nothing; it (re-)exports, so a failed export can be repeated."""
        if self.dist.primary:
            self.log.info(f"the run is finished (epoch {self.epochs} of {self.epochs}); raise train.epochs=... "
                          f"to train longer")
            if self.cfg["checkpoint"]["export"]:
                self.export()
        self.dist.barrier("finished")
        return FINISHED

    def export(self):
        """Symbol JSON + params loadable by plain MXNet (``SymbolBlock.imports``), written atomically."""
        self.settle_statistics()
        if not self.cfg["train"]["hybridize"]:
            self.net.hybridize()
        export_symbol(self.net, self.shape, {**self.preprocess(), "model": self.cfg["model"]}, self.run_dir,
                      self.epochs, "float16" if self.cfg["train"]["dtype"] == "float16" else "float32", self.ctx)
        prefix = os.path.join(self.run_dir, "model")
        self.log.info(f"exported {prefix}-symbol.json and {prefix}-{self.epochs:04d}.params")
