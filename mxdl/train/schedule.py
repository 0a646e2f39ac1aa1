"""Learning rate as a pure function of the global step (no state to save or restore).

``lr_at(step)`` combines:

- the schedule's shape, a function of the epoch (``per: epoch``: whole epochs,
  ``per: iteration``: fractional epochs), 1 at the start:
  ``constant``; ``step`` (the book's lr0 * F ** floor((1 + E) / D), first drop at
  E = D - 1); ``multistep`` (times F at each listed epoch); ``poly``
  ((1 - E / epochs) ** p, linear to zero for p = 1); ``time`` (Keras's
  lr0 / (1 + decay * t), t counted in iterations, as Keras applies it);
- optional linear warmup over the first ``warmup_epochs``;
- segments: a learning rate given on resume starts a new segment. Its value is
  the rate in force from that step on, and the shape keeps decaying from there
  (for ``constant`` it is simply the new rate: the book's ctrl+c method).
"""
import math


class Schedule:
    def __init__(self, sched_cfg, epochs, steps_per_epoch, warmup_epochs=0.0, segments=None):
        self.cfg = sched_cfg
        self.epochs = epochs
        self.spe = steps_per_epoch
        self.warmup_steps = int(round(warmup_epochs * steps_per_epoch))
        self.segments = list(segments or [])   # [{"step": int, "lr": float}], sorted by step

    def shape(self, step):
        c = self.cfg
        epoch = step / self.spe if c["per"] == "iteration" else step // self.spe
        name = c["name"]
        if name == "constant":
            return 1.0
        if name == "step":
            return c["factor"] ** math.floor((1 + epoch) / c["every"])
        if name == "multistep":
            return c["factor"] ** sum(1 for m in c["milestones"] if epoch >= m)
        if name == "poly":
            return max(0.0, 1.0 - epoch / self.epochs) ** c["power"]
        if name == "time":
            return 1.0 / (1.0 + c["decay"] * step)
        raise ValueError(f"unknown schedule {name}")

    def add_segment(self, step, lr):
        self.segments = [s for s in self.segments if s["step"] < step] + [{"step": step, "lr": lr}]

    def lr_at(self, step):
        seg = max((s for s in self.segments if s["step"] <= step), key=lambda s: s["step"])
        start_shape = self.shape(seg["step"])
        lr = seg["lr"] * (self.shape(step) / start_shape if start_shape > 0 else 0.0)
        if seg["step"] == 0 and step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        return lr

    def describe(self):
        c = self.cfg
        detail = {"constant": "", "step": f" x{c['factor']} every {c['every']} epochs (first drop after epoch {c['every'] - 1})",
                  "multistep": f" x{c['factor']} at epochs {c['milestones']}",
                  "poly": f" power {c['power']} to zero at epoch {self.epochs}",
                  "time": f" decay {c['decay']} per iteration"}[c["name"]]
        warm = f", linear warmup over {self.warmup_steps} steps" if self.warmup_steps else ""
        return (f"lr {self.segments[0]['lr']:g} {c['name']}{detail}{warm}; "
                f"{self.spe} steps/epoch; changes per {c['per']}")
