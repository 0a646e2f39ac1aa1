"""What rank 0 records while training, beside the epoch history (``monitor.py``):

- ``RUN/metrics.jsonl``: one line per step (epoch, step, global step, loss, lr, wall time). The
  losses stay on the device and are read once per ``train.log_interval``, so recording every
  step adds no wait to the step;
- TensorBoard event files in ``RUN/tensorboard`` (``train.tensorboard=true``, needs tensorboardX):
  the step losses and learning rate, and every epoch's metrics;
- the estimated time left, for the log lines.
"""
import os
import time

from ..errors import UserError
from ..runs.history import MetricsLog
from ..runs.layout import TENSORBOARD


def eta_text(seconds):
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Tracker:
    def __init__(self, run_dir, tensorboard=False, active=True):
        self.active = active
        self.metrics = MetricsLog(run_dir)
        self.pending = []        # (epoch, step, global step, loss NDArray, lr, time)
        self.writer = None
        if active and tensorboard:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise UserError("train.tensorboard needs tensorboardX: pip install 'mxdl[tensorboard]'") from None
            self.writer = SummaryWriter(os.path.join(run_dir, TENSORBOARD))
        self.started, self.steps_at_start = None, 0

    def start(self, global_step):
        self.started, self.steps_at_start = time.time(), global_step

    def eta(self, global_step, total_steps):
        """Time left at the pace of this run so far (None before the first step)."""
        done = global_step - self.steps_at_start
        if self.started is None or done <= 0:
            return None
        return (time.time() - self.started) / done * (total_steps - global_step)

    def step(self, epoch, step, global_step, loss, lr):
        if self.active:
            self.pending.append((epoch, step, global_step, loss.mean(), lr, time.time()))

    def flush(self):
        """Read the waiting losses from the device (one wait for all of them) and write them out."""
        if not self.pending:
            return
        import mxnet as mx
        losses = mx.nd.stack(*[p[3].reshape((1,)).astype("float32") for p in self.pending]).asnumpy().ravel()
        self.metrics.append({"epoch": epoch + 1, "step": step, "global_step": gstep, "loss": float(loss), "lr": lr,
                             "time": round(at, 3)}
                            for (epoch, step, gstep, _, lr, at), loss in zip(self.pending, losses))
        if self.writer is not None:
            for (_, _, gstep, _, lr, _), loss in zip(self.pending, losses):
                self.writer.add_scalar("train/step_loss", float(loss), gstep)
                self.writer.add_scalar("train/lr", lr, gstep)
        self.pending = []

    def epoch(self, entry, global_step):
        self.flush()
        if self.writer is not None:
            for key, value in entry.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.writer.add_scalar(f"epoch/{key}", value, global_step)
            self.writer.flush()

    def close(self):
        self.flush()
        if self.writer is not None:
            self.writer.close()


class StepProfiler:
    """MXNet's profiler over global steps [A, B) (``train.profile_steps='A:B'``): a chrome trace per
    worker in ``RUN/profile-rank-N.json``, to see where a step's time goes."""

    def __init__(self, spec, run_dir, rank, total_steps):
        self.window = None
        if not spec:
            return
        try:
            start, stop = (int(v) for v in spec.split(":"))
        except ValueError:
            raise UserError(f"train.profile_steps '{spec}' must look like A:B, e.g. 100:120") from None
        if not 0 <= start < stop:
            raise UserError(f"train.profile_steps '{spec}': the first step must come before the second")
        if stop >= total_steps:
            raise UserError(f"train.profile_steps '{spec}' must end before the last step: train.epochs gives "
                            f"{total_steps} steps")
        self.window = (start, stop)
        self.path = os.path.join(run_dir, f"profile-rank-{rank}.json")

    def at(self, global_step):
        """Call before each step with its global step number."""
        if self.window is None or global_step not in self.window:
            return
        import mxnet as mx
        if global_step == self.window[0]:
            mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename=self.path)
            mx.profiler.set_state("run")
        else:
            mx.nd.waitall()  # the window's last step finishes inside the trace
            mx.profiler.set_state("stop")
            mx.profiler.dump()
