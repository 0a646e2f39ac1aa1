"""Learning rate as a pure function of the global step (no state to save or restore).

``lr_at(step)`` combines:

- the schedule's shape, a function of the epoch (``per: epoch``: whole epochs,
  ``per: iteration``: fractional epochs), 1 at the start:
  ``constant``; ``step`` (the book's lr0 * F ** floor((1 + E) / D), first drop at
  E = D - 1); ``multistep`` (times F at each listed epoch); ``poly``
  ((1 - E / epochs) ** p, linear to zero for p = 1); ``time`` (Keras's
  lr0 / (1 + decay * t), t counted in iterations, as Keras applies it); ``cosine``
  (half a cosine from 1 after the warmup to 0 at the last epoch, SGDR without restarts; the recipe of
  gluoncv's and NVIDIA's ImageNet scripts, best with ``per: iteration``);
- optional linear warmup over the first ``warmup_epochs``;
- segments: a learning rate given on resume starts a new segment. Its value is
  the rate in force from that point on, and the shape keeps decaying from there
  (for ``constant`` it is simply the new rate: the book's ctrl+c method).

Segments are stored in (fractional) epochs with the per-worker rate the user
gave, and ``scale`` (the worker count, with ``optim.scale_lr``) is applied when
the rate is read. So a checkpoint resumed by another number of workers, which
changes the steps per epoch, keeps every drop at its epoch and gets the rate a
fresh run of the new size would have there.
"""
import math


class Schedule:
    def __init__(self, sched_cfg, epochs, steps_per_epoch, warmup_epochs=0.0, segments=None, scale=1.0):
        self.cfg = sched_cfg
        self.epochs = epochs
        self.spe = steps_per_epoch
        self.scale = scale
        self.warmup_steps = int(round(warmup_epochs * steps_per_epoch))
        self.segments = list(segments or [])   # [{"epoch": float, "lr": per-worker float}], sorted

    def epoch_at(self, step):
        return step / self.spe

    def shape(self, epoch):
        """The schedule's factor at a fractional epoch (1 at the start)."""
        c = self.cfg
        if c["per"] != "iteration":
            epoch = math.floor(epoch + 1e-9)  # guards steps that land a hair under an epoch boundary
        name = c["name"]
        if name == "constant":
            return 1.0
        if name == "step":
            return c["factor"] ** math.floor((1 + epoch) / c["every"])
        if name == "multistep":
            return c["factor"] ** sum(1 for m in c["milestones"] if epoch >= m)
        if name == "poly":
            return max(0.0, 1.0 - epoch / self.epochs) ** c["power"]
        if name == "time":  # Keras counts iterations: those of this run's steps per epoch
            return 1.0 / (1.0 + c["decay"] * epoch * self.spe)
        if name == "cosine":  # after the warmup, as in gluoncv's and NVIDIA's scripts
            warm = self.warmup_steps / self.spe
            done = min(max(epoch - warm, 0.0) / max(self.epochs - warm, 1e-9), 1.0)
            return 0.5 * (1.0 + math.cos(math.pi * done))
        raise ValueError(f"unknown schedule {name}")

    def add_segment(self, epoch, lr):
        """From ``epoch`` on, the per-worker rate is ``lr``; later segments are dropped."""
        self.segments = [s for s in self.segments if s["epoch"] < epoch] + [{"epoch": epoch, "lr": lr}]

    def lr_at(self, step):
        epoch = self.epoch_at(step)
        seg = max((s for s in self.segments if s["epoch"] <= epoch + 1e-9), key=lambda s: s["epoch"])
        start_shape = self.shape(seg["epoch"])
        lr = seg["lr"] * (self.shape(epoch) / start_shape if start_shape > 0 else 0.0)
        if seg["epoch"] == 0 and step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        return lr * self.scale

    def describe(self, step=0, given_on_resume=False):
        """One line: the rate in force at ``step`` (per worker and scaled) and where it comes from,
        then the schedule's shape."""
        c = self.cfg
        detail = {"constant": "", "step": f" x{c['factor']} every {c['every']} epochs (first drop after epoch {c['every'] - 1})",
                  "multistep": f" x{c['factor']} at epochs {c['milestones']}",
                  "poly": f" power {c['power']} to zero at epoch {self.epochs}",
                  "time": f" decay {c['decay']} per iteration",
                  "cosine": f" (half cosine) to zero at epoch {self.epochs}"}[c["name"]]
        warm = f", linear warmup over {self.warmup_steps} steps" if self.warmup_steps else ""
        rate = self.lr_at(step)
        per_worker = rate / self.scale if self.scale else rate
        scaled = f" (x{self.scale:g} workers = {rate:g})" if self.scale != 1 else ""
        return (f"lr {per_worker:g} per worker{scaled} at step {step}, {self._source(step, given_on_resume)}; "
                f"schedule {c['name']}{detail}{warm}; {self.spe} steps/epoch; changes per {c['per']}")

    def _source(self, step, given_on_resume):
        if given_on_resume:
            return "set by the optim.lr given with this resume"
        seg = max((s for s in self.segments if s["epoch"] <= self.epoch_at(step) + 1e-9), key=lambda s: s["epoch"])
        if seg["epoch"] > 0:
            return f"from the lr {seg['lr']:g} given on a resume at epoch {seg['epoch']:g}, as scheduled since"
        return f"from optim.lr {seg['lr']:g} as scheduled"
