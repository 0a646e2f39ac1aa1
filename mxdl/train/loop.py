"""The training loop every worker runs: config -> data -> model -> trainer -> outputs.

One process (``mxdl-train``) or one Horovod worker each (``launch/train.sh``):

    mxdl-train configs/digits.yaml                                   # CPU, one process
    horovodrun -np 2 --gloo mxdl-train configs/digits.yaml           # 2 CPU workers
    launch/train.sh configs/cifar10_resnet.yaml --np 4               # 4 GPUs, one machine
    launch/train.sh configs/cifar10_resnet.yaml --resume-from 40 optim.lr=1e-2

The pieces live beside this module: the builders (build.py), resuming (resume.py), one step
(step.py), the epoch's counts (metrics.py), the log lines (report.py), what a run records
(tracking.py, and the run directory's files in mxdl.runs). This module orders them.

Decisions worth knowing:

- Horovod averages gradients only; BatchNorm running statistics are averaged across workers at
  every epoch end, before validation and checkpointing. A ctrl+c checkpoint mid-epoch holds rank
  0's statistics.
- The learning rate is computed from the global step every step and set on an optimizer that
  has no scheduler (schedule.py), so nothing about it needs restoring and an lr given on resume
  takes effect.
- The MXNet random generator is reseeded from (seed, rank, step) at every step where a stop can
  happen (each ``train.stop_check_interval`` steps and each epoch start), so dropout masks after
  a resume equal those of an uninterrupted run. Reseeding at every step instead cost about 4% of
  throughput.
"""
import os
import sys
import time

import numpy as np

from .. import __version__
from .. import budget as budget_mod
from ..errors import RunFailed, UserError
from ..models.pretrained import load_pretrained
from ..runs.checkpoint import CHECKPOINT_FORMAT, EMA_PARAMS, OPT_STATES, PARAMS, RESUME_KEYS, CheckpointSaver, \
    load_meta, save_optimizer, source_input_shape, weights_file
from ..runs.export import export_symbol
from ..runs.history import History
from ..runs.layout import FAILED, FINISHED, STOPPED, checkpoints_dir, clear_outcome, record_outcome, stop_file
from ..data import inputspec
from ..seeding import Stream, derive_seed
from . import build, report
from .finetune import check_nothing_fresh_is_frozen, freeze
from .metrics import NOTHING_CARRIED, Accumulator, summarize
from .resume import check_compatible, find_checkpoint, restore, restore_step_state
from .step import Stepper, init_amp, loss_scaler_state, nonfinite_stop
from .stop import StopRequest
from .tracking import StepProfiler, Tracker


def check_epoch_settings(cfg, steps_per_epoch, log):
    """Settings that only make sense against the epoch's length, known once the data is open."""
    t, warmup = cfg["train"], cfg["optim"]["warmup_epochs"]
    if t["accumulate"] > steps_per_epoch:
        raise UserError(f"train.accumulate={t['accumulate']} is more than the {steps_per_epoch} steps of an epoch "
                        "on each worker: no update would see the batch it asks for; lower it")
    if log and warmup >= t["epochs"]:
        log.warning(f"optim.warmup_epochs={warmup:g} is not shorter than train.epochs={t['epochs']}: the learning "
                    "rate never reaches optim.lr")


class Run:
    """Everything one worker needs, built once; ``fit()`` runs the epochs.

    The order of construction is the one place these rules are kept:

    1. The data first: the network's classes and input shape come from the shards' manifest.
    2. A checkpoint to resume is checked against the config before AMP is turned on: AMP patches
       MXNet's operators for the whole process, and a refused resume must leave nothing changed.
    3. AMP (``amp.init``) before the network is built, or its layers are not cast.
    4. Weights (a checkpoint, or ``model.init_from``) after ``initialize()``, with shapes settled by
       shape inference rather than a forward pass (see 6), then the layers to freeze.
    5. The optimizer's trainer before the weights are restored: the checkpoint restores its states.
    6. Parameters broadcast from rank 0 before the first forward pass: afterwards MKLDNN-layout
       arrays crash Horovod's broadcast.
    7. ``hybridize`` after the broadcast; with static_alloc (GPUs), BatchNorm's running statistics
       reach the parameters only after an inference forward, so one runs before every checkpoint,
       export and statistics average (:meth:`settle_statistics`).
    8. The step (its EMA, skip count and AMP loss scale) last, restored from the checkpoint.
    """

    def __init__(self, cfg, run_dir, dist, resume=None, lr_override=None, resume_hint="", dataset=None,
                 budget=None):
        from ..log import get
        self.cfg, self.run_dir, self.dist, self.log = cfg, run_dir, dist, get()
        self.ctx = dist.context()
        self.resume_hint = resume_hint
        self.epochs = cfg["train"]["epochs"]
        self._open_data(dataset, budget or budget_mod.here())
        ckpt = self._checkpoint_to_resume(resume)
        self._build_model()
        self.start_epoch, self.start_step, self.lr_given = 0, 0, ckpt is not None and lr_override is not None
        self.carried, self._running = NOTHING_CARRIED, None   # see _epoch_so_far
        self.history = History(run_dir)
        self.tracker = Tracker(run_dir, cfg["train"]["tensorboard"], dist.primary)
        self._load_weights(ckpt, lr_override)
        self._prepare_steps(ckpt)
        self.stop = StopRequest(stop_file(run_dir), self.check_every)

    # ---- construction, in the order of the class docstring ---------------------------------------

    def _open_data(self, dataset, budget):
        from ..data import open_dataset
        cfg, dist = self.cfg, self.dist
        self.budget = budget
        threads = budget_mod.decode_threads(cfg["data"]["threads"], budget, self.log)
        self.data = dataset or open_dataset({**cfg, "data": {**cfg["data"], "threads": threads}}, dist.rank, dist.size)
        if dist.primary:
            self.log.info(f"threads: {budget.describe()}; data.threads={threads}, OMP_NUM_THREADS="
                          f"{os.environ.get('OMP_NUM_THREADS', '?')}")
        self.classes, self.shape, self.spe = self.data.manifest.classes, self.data.shape, self.data.steps_per_epoch
        self.identity = build.identity(cfg, len(self.classes), self.shape)
        t = cfg["train"]
        check_epoch_settings(cfg, self.spe, self.log if dist.primary else None)
        if (t["mixup"] or t["cutmix"]) and len(self.classes) < 2:
            raise UserError(f"train.mixup/train.cutmix mix two classes' images, but data.dir "
                            f"{cfg['data']['dir']} has {len(self.classes)} class")
        self.profiler = StepProfiler(t["profile_steps"], self.run_dir, dist.rank, self.epochs * self.spe)

    def _checkpoint_to_resume(self, resume):
        ck = self.cfg["checkpoint"]
        self.saver = CheckpointSaver(checkpoints_dir(self.run_dir), ck["keep_last"], ck["monitor"], ck["keep_best"])
        ckpt = find_checkpoint(self.saver, resume, self.dist, self.log)
        if ckpt:
            check_compatible(load_meta(ckpt, RESUME_KEYS), self.identity, ckpt)
        return ckpt

    def _build_model(self):
        build.seed_everything(self.cfg["train"]["seed"])
        init_amp(self.cfg["train"]["amp"], self.ctx)
        self.net = build.network(self.cfg, self.identity, self.ctx)
        self.synced_bn = build.synchronize_batchnorm(self.cfg, self.net, self.dist, self.log)
        self.schedule = build.schedule(self.cfg, self.spe, self.dist.size)
        self.trainer = build.trainer(self.cfg, self.net, self.dist, self.schedule)

    def _load_weights(self, ckpt, lr_override):
        m, t = self.cfg["model"], self.cfg["train"]
        fresh = []
        if ckpt:
            restore(self, ckpt, lr_override)
        elif m["init_from"]:
            fresh = self._init_from(m["init_from"], m["init_partial"]).new
        frozen = freeze(self.net, t["freeze"])
        check_nothing_fresh_is_frozen(fresh, frozen, t["freeze"])
        if frozen and self.dist.primary:
            self.log.info(f"frozen: {len(frozen)} parameter arrays matching '{t['freeze']}'")

    def _init_from(self, source, allow_partial):
        """Weights from another run or a parameter file; a refusal names both input shapes when the
        source was trained on another (an mxdl run records its own)."""
        import mxnet as mx
        self.net.infer_shape(mx.nd.zeros((1,) + tuple(self.shape), ctx=self.ctx))
        path, fmt = weights_file(source)
        theirs = source_input_shape(path)
        other = (f"the source was trained on input {report.shape_text(theirs)} and this run takes "
                 f"{report.shape_text(self.shape)} (data.shape)") if theirs and list(theirs) != list(self.shape) else ""
        try:
            loaded = load_pretrained(self.net, path, self.ctx, allow_partial, fmt)
        except UserError as err:
            if other:
                raise UserError(f"{err}. {other[0].upper()}{other[1:]}: layers sized by the input cannot be "
                                "carried over") from None
            raise
        self.log.info(f"model.init_from: {loaded.summary()}" + (f"; {other}" if other else ""))
        return loaded

    def _prepare_steps(self, ckpt):
        import mxnet as mx
        t = self.cfg["train"]
        self.dist.broadcast_parameters(self.net.collect_params())
        self.static_alloc = t["static_alloc"] if t["static_alloc"] is not None else self.budget.gpus > 0
        if t["hybridize"] and not self.synced_bn:  # a synchronized BatchNorm's allreduce is not a graph op
            self.net.hybridize(static_alloc=self.static_alloc, static_shape=self.static_alloc)
        from ..data.shards import class_weights
        weights = class_weights(self.data.manifest, self.cfg["data"]["train_split"], t["class_weights"])
        self.stepper = Stepper(self.net, self.trainer, t, self.cfg["data"]["batch_size"], len(self.classes),
                               mx.nd.array(weights, ctx=self.ctx) if weights else None, self._teacher())
        if ckpt:
            restore_step_state(self, ckpt)

    def _teacher(self):
        """train.distill_from's network on this worker's device (mxdl/train/distill.py), or None."""
        t = self.cfg["train"]
        if not t["distill_from"]:
            return None
        from .distill import Teacher
        teacher = Teacher(t, len(self.classes), self.shape, self.ctx)
        if self.dist.primary:
            self.log.info(f"distilling from {t['distill_from']} ({teacher.name}): temperature "
                          f"{t['distill_temperature']:g}, the teacher's share of the loss {t['distill_weight']:g}")
        return teacher

    # ---- what the run's files record ------------------------------------------------------------

    def preprocess(self):
        """How inputs were prepared (mxdl.data.inputspec), so evaluation, prediction and serving can
        repeat it without the shards."""
        return inputspec.build(self.data.manifest, self.cfg["data"], self.shape)

    def global_step(self, epoch, step_in_epoch):
        return epoch * self.spe + step_in_epoch

    def settle_statistics(self):
        """Under static_alloc, BatchNorm's running statistics live in the cached graph until an
        inference forward copies them out: run one (predict mode updates nothing)."""
        if not self.static_alloc:
            return
        import mxnet as mx
        from mxnet import autograd
        batch = (self.cfg["data"]["batch_size"],) + tuple(self.shape)  # the static shape
        with autograd.predict_mode():
            self.net(mx.nd.zeros(batch, ctx=self.ctx, dtype=build.input_dtype(self.cfg)))
        mx.nd.waitall()

    def save_checkpoint(self, epoch, step_in_epoch, reason, metrics=None):
        """Rank 0 writes; every worker calls this at the same point."""
        self.settle_statistics()
        so_far = self._epoch_so_far(*self._running, f"so_far.{epoch}.{step_in_epoch}") if step_in_epoch else None
        if not self.dist.primary:
            return None
        meta = {**self._checkpoint_meta(epoch, step_in_epoch, reason, metrics), "epoch_so_far": so_far}

        def write(tmp):
            self.net.save_parameters(os.path.join(tmp, PARAMS))
            meta["optimizer"] = save_optimizer(self.trainer, os.path.join(tmp, OPT_STATES))
            if self.stepper.ema is not None:
                self.stepper.ema.save(os.path.join(tmp, EMA_PARAMS))
        return self.saver.save(epoch, step_in_epoch, write, meta, metrics)

    def save_best_only(self, epoch, metrics):
        """A better validation between checkpoint epochs: its weights become best/ at once."""
        self.settle_statistics()
        if not self.dist.primary:
            return
        meta = self._checkpoint_meta(epoch, 0, "best", metrics)
        path = self.saver.save_best(epoch, lambda tmp: self.net.save_parameters(os.path.join(tmp, PARAMS)), meta,
                                    metrics)
        monitor = self.saver.monitor
        self.log.info(f"best so far: epoch {epoch}, {monitor} {metrics[monitor]:.4f}; its weights are in {path}")

    def _checkpoint_meta(self, epoch, step_in_epoch, reason, metrics):
        return {"format": CHECKPOINT_FORMAT, "mxdl_version": __version__, "reason": reason,
                "epoch": epoch, "step_in_epoch": step_in_epoch,
                "global_step": self.global_step(epoch, step_in_epoch),
                "identity": self.identity, "world_size": self.dist.size,
                "batch_size": self.cfg["data"]["batch_size"], "steps_per_epoch": self.spe,
                "lr_segments": self.schedule.segments, "lr_scale": self.schedule.scale,
                "seed": self.cfg["train"]["seed"], "metrics": metrics or {}, "config": self.cfg,
                "preprocess": self.preprocess(), "skipped_steps": self.stepper.skipped,
                "amp_loss_scaler": loss_scaler_state(self.trainer),
                "param_names": list(self.net.collect_params().keys())}

    # ---- one step, one epoch ----------------------------------------------------------------------

    def _to_ctx(self, x, y):
        x = x.as_in_context(self.ctx)
        if self.cfg["train"]["dtype"] == "float16":
            x = x.astype("float16")
        return x, y.as_in_context(self.ctx)

    def _train_step(self, epoch, step, x, y, acc):
        """One micro-batch, and the optimizer's update when it is due."""
        import mxnet as mx
        seed = self.cfg["train"]["seed"]
        x, y = self._to_ctx(x, y)
        gstep = self.global_step(epoch, step)
        self.profiler.at(gstep)
        self.trainer.set_learning_rate(self.schedule.lr_at(gstep))
        if step % self.check_every == 0:  # every step a stop (so a resume) can start from
            mx.random.seed(derive_seed(seed, Stream.TRAIN_STEP, gstep, self.dist.rank))
        mix_seed = derive_seed(seed, Stream.MIX, gstep, self.dist.rank) if self.stepper.mixer.on else None
        out, label, loss = self.stepper.micro_batch(x, y, mix_seed)
        acc.add(out, label, loss)
        self.tracker.step(epoch, step + 1, gstep + 1, loss, self.schedule.lr_at(gstep))
        if self.stepper.due(step + 1, self.spe):
            self._update(epoch, step + 1)

    @property
    def check_every(self):
        return max(1, self.cfg["train"]["stop_check_interval"])

    def _stop_agreed(self, step):
        """At a check step (and the epoch's last), every worker learns whether any was asked to stop."""
        if (step % self.check_every and step != self.spe) or self.stepper.pending:
            return False
        return self.dist.any(self.stop.check_local(), "stop")

    def train_epoch(self, epoch, first_step):
        """``(stats, stop_step)``: the epoch's figures, None when a stop was agreed before its last step,
        and the step a stop was agreed at, None when there was none. A stop agreed at the last step
        still returns the figures: the epoch is whole, and is recorded before the run stops."""
        acc, clock = Accumulator(skip_nonfinite=bool(self.stepper.guard)), EpochClock()
        self._running = acc, clock   # for a mid-epoch checkpoint's figures (save_checkpoint)
        bar = self._progress(epoch, first_step)
        stream = self.data.train_epoch(epoch, first_step)
        if self.stepper.guard:
            self.stepper.guard.forget()
        try:
            for step in range(first_step, self.spe):
                x, y = clock.next(stream)
                self._train_step(epoch, step, x, y, acc)
                if bar is not None:
                    bar.update(1)
                if (step + 1) % self.cfg["train"]["log_interval"] == 0 and self.dist.primary:
                    self._log_progress(epoch, step + 1, acc, clock, bar)
                if self._stop_agreed(step + 1):
                    if step + 1 < self.spe:
                        return None, step + 1
                    return self._epoch_stats(epoch, acc, clock), self.spe
        finally:
            if bar is not None:
                bar.close()
        return self._epoch_stats(epoch, acc, clock), None

    def _epoch_stats(self, epoch, acc, clock):
        figures = self._epoch_so_far(acc, clock, f"train.{epoch}")
        self.carried = NOTHING_CARRIED
        loss, top1, top5 = summarize(figures[:5])
        images, seconds, waited = figures[3], max(figures[5], 1e-9), figures[6]
        return {"train_loss": loss, "train_acc": top1, "train_top5": top5,
                "images_per_sec": images / seconds, "data_wait": waited / seconds, "seconds": seconds}

    def _epoch_so_far(self, acc, clock, name):
        """The epoch's figures up to now: the Accumulator's five totals summed over workers, then this
        worker's seconds and seconds spent waiting for data; each plus what a mid-epoch checkpoint
        carried into this process, so a resumed epoch's figures cover all of it. Every worker calls it."""
        import mxnet as mx
        mx.nd.waitall()  # the clock is read once the device has finished the epoch's work, not when it was queued
        now = [*self.dist.allreduce_sum(acc.totals(), name), clock.elapsed(), clock.waited]
        return [float(a + b) for a, b in zip(now, self.carried)]

    def _update(self, epoch, step):
        """The optimizer step. At each log line and the epoch's end the non-finite guard is read:
        after too many skipped steps in a row, save the weights (the skipped steps left them as they
        were) and stop. Every worker reads the same counts, so all stop together."""
        self.stepper.update()
        log_line = step // self.cfg["train"]["log_interval"] > (step - self.stepper.accumulate) // \
            self.cfg["train"]["log_interval"]
        if not (log_line or step == self.spe) or not self.stepper.poll():
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

    def _log_progress(self, epoch, step, acc, clock, bar):
        loss, top1, _ = summarize(acc.totals())
        self.tracker.flush()
        rate = acc.count * self.dist.size / clock.elapsed()
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{top1:.3f}", img_s=f"{rate:.0f}")
            return
        gstep = self.global_step(epoch, step)
        self.log.info(report.progress_line(epoch, step, self.spe, loss, top1, rate, self.schedule.lr_at(gstep),
                                           clock.waited / clock.elapsed(),
                                           self.tracker.eta(gstep, self.epochs * self.spe)))

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

    # ---- the whole run ------------------------------------------------------------------------------

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
            record_outcome(self.run_dir, outcome)

    def _fit(self):
        if self.dist.primary:
            clear_outcome(self.run_dir)
        if self.start_epoch > self.epochs:
            raise UserError(f"the checkpoint is at epoch {self.start_epoch}, beyond train.epochs={self.epochs}: "
                            f"raise train.epochs to train longer, or --resume-from an earlier epoch")
        if self.start_epoch == self.epochs:
            return self._already_finished()
        self._log_start()
        self.stop.install()
        self.tracker.start(self.global_step(self.start_epoch, self.start_step))
        try:
            for epoch in range(self.start_epoch, self.epochs):
                stats, stop_step = self.train_epoch(epoch, self.start_step if epoch == self.start_epoch else 0)
                if stats is None:
                    return self._stopped(epoch, stop_step)
                saved = self._end_epoch(epoch, stats)
                if stop_step is not None and epoch + 1 < self.epochs:  # on the last epoch: finish instead
                    return self._stopped(epoch + 1, 0, saved)
        finally:
            self.stop.uninstall()
            self.tracker.close()
        return self._finished(stop_asked=stop_step is not None or self.stop.requested)

    def _log_start(self):
        if not self.dist.primary:
            return
        self.log.info(report.start_line(self.cfg, len(self.classes), self.shape, self.dist.size, self.ctx))
        step = self.global_step(self.start_epoch, self.start_step)
        self.log.info(self.schedule.describe(step, self.lr_given))
        self.log.info(report.coverage_line(self.cfg, self.spe, self.dist.size, self.shape, self.data))

    def _end_epoch(self, epoch, stats):
        """Check the loss, settle BatchNorm statistics, validate when due, record, checkpoint when due;
        whether it saved a checkpoint."""
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
            eta = self.tracker.eta(self.global_step(epoch + 1, 0), self.epochs * self.spe)
            self.log.info(report.epoch_line(entry, self.epochs, eta, len(self.classes)))
        if (epoch + 1) % self.cfg["checkpoint"]["every_epochs"] == 0 or last:
            self.save_checkpoint(epoch + 1, 0, "final" if last else "periodic", entry)
            return True
        if self.saver.improves(entry):
            self.save_best_only(epoch + 1, entry)
        return False

    def _finished(self, stop_asked):
        if self.dist.primary and stop_asked:
            self.log.info("a stop was asked for as the last epoch ended: the run finishes instead")
            self._clear_stop_file()
        if self.dist.primary and self.cfg["checkpoint"]["export"]:
            self.export()
        self.dist.barrier("finished")
        if self.dist.primary:
            last = self.history.entries[-1] if self.history.entries else {}
            self.log.info(report.finished_line(last, self.epochs, len(self.classes)))
        return FINISHED

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

    def _stopped(self, epoch, step, saved=False):
        """``saved``: the epoch end that the stop landed on was a checkpoint epoch, already written."""
        path = self.saver.latest() if saved else self.save_checkpoint(epoch, step, "stop")
        self.dist.barrier("stop.saved")  # no worker exits (shutting Horovod down) before the save ends
        if self.dist.primary:
            self.log.info(f"{report.stopped_line(epoch, step, self.spe, path)} ({self.stop.describe()})")
            if self.resume_hint:
                self.log.info(f"resume with: {self.resume_hint} --resume")
            self._clear_stop_file()
        return STOPPED

    def _clear_stop_file(self):
        if os.path.exists(stop_file(self.run_dir)):
            os.remove(stop_file(self.run_dir))

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
        if not self.cfg["train"]["hybridize"] or self.synced_bn:  # traced as plain BatchNorm: inference's own
            self.net.hybridize()
        export_symbol(self.net, self.shape, {**self.preprocess(), "model": self.cfg["model"]}, self.run_dir,
                      self.epochs, build.input_dtype(self.cfg), self.ctx)
        prefix = os.path.join(self.run_dir, "model")
        self.log.info(f"exported {prefix}-symbol.json and {prefix}-{self.epochs:04d}.params")


class EpochClock:
    """An epoch's wall time and the part of it spent waiting for the next batch."""

    def __init__(self):
        self.started, self.waited = time.time(), 0.0

    def next(self, stream):
        t0 = time.time()
        batch = next(stream)
        self.waited += time.time() - t0
        return batch

    def elapsed(self):
        return max(time.time() - self.started, 1e-9)
