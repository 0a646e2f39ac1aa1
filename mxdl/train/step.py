"""One training step: the loss, mixed batches, gradient accumulation, clipping, a guard against
non-finite gradients, and a moving average of the weights.

Order of a step (each part off unless configured)::

    K micro-batches:  mixup/cutmix -> forward -> loss (smoothing, class weights) -> backward (grads add up)
    then once:        allreduce -> clip by global norm -> update, undone if not finite -> EMA

The allreduce comes first so every worker sees the same gradients and takes the same decision.
The non-finite guard (mxdl/train/guard.py) decides on the device and is read only at log lines;
``train.nonfinite_limit=0`` turns it off. Under AMP (``train.amp``) the loss is scaled before the
backward pass, following MXNet's and NVIDIA's pattern (``amp.init`` before the network is
built, ``amp.init_trainer`` on Horovod's trainer, ``amp.scale_loss``), and AMP's dynamic loss
scaler is the guard: it skips a step whose gradients overflowed and lowers the scale. Mixing draws from numpy generators seeded per step, so a
resumed run mixes its batches exactly as the uninterrupted one did.
"""
import math

import numpy as np

from ..data.preprocess import to_nd
from ..errors import RunFailed, UserError
from .guard import FiniteGuard, sum_of_squares


class Mixer:
    """mixup (Zhang et al. 2018) and cutmix (Yun et al. 2019) on a batch; with both on, each batch
    takes one of them at random, as timm does."""

    def __init__(self, mixup, cutmix):
        self.mixup, self.cutmix = mixup, cutmix

    @property
    def on(self):
        return self.mixup > 0 or self.cutmix > 0

    def mix(self, x, y, seed):
        """``(x, y_a, y_b, lam)``: the mixed batch, both labels, and y_a's share of each sample."""
        import mxnet as mx
        rng = np.random.RandomState(seed)
        use_cutmix = self.cutmix > 0 and (self.mixup == 0 or rng.rand() < 0.5)
        lam = rng.beta(*(2 * [self.cutmix if use_cutmix else self.mixup]))
        perm = to_nd(rng.permutation(x.shape[0]).astype(np.float32), x.context)
        other, y_b = mx.nd.take(x, perm), mx.nd.take(y, perm)
        if use_cutmix:
            x, lam = self._paste_box(x, other, lam, rng)
        else:
            x = lam * x + (1 - lam) * other
        return x, y, y_b, float(lam)

    @staticmethod
    def _paste_box(x, other, lam, rng):
        """A box of area (1 - lam) from the other image; lam is then the area actually kept."""
        h, w = x.shape[2], x.shape[3]
        cut = math.sqrt(1 - lam)
        bh, bw = int(h * cut), int(w * cut)
        cy, cx = rng.randint(h), rng.randint(w)
        top, bottom = max(cy - bh // 2, 0), min(cy + bh // 2, h)
        left, right = max(cx - bw // 2, 0), min(cx + bw // 2, w)
        x = x.copy()
        if bottom > top and right > left:
            x[:, :, top:bottom, left:right] = other[:, :, top:bottom, left:right]
        return x, 1 - (bottom - top) * (right - left) / (h * w)


class Ema:
    """An exponential moving average of the trainable weights (float32 copies on the device),
    swapped in for validation and saved beside the checkpoint's weights. The copies are made at
    the first update, when deferred shapes are known (or taken from a checkpoint)."""

    def __init__(self, net, decay):
        self.decay = decay
        trainable = [(n, p) for n, p in net._collect_params_with_prefix().items() if p.grad_req != "null"]
        self.names = [n for n, _ in trainable]  # structural names: stable across processes
        self.params = [p for _, p in trainable]
        self.shadow = None

    def _ensure(self):
        if self.shadow is None:
            self.shadow = [p.data().astype("float32", copy=True) for p in self.params]

    def update(self, ok=None):
        """Move the average toward the weights; ``ok`` (0 or 1 on the device) holds it still after
        a step the non-finite guard undid."""
        from mxnet import nd
        if self.shadow is None:
            self._ensure()
            return
        rate = (1 - self.decay) * (nd.ones((1,), ctx=self.shadow[0].context) if ok is None else ok)
        for p, s in zip(self.params, self.shadow):
            s[:] = s + nd.broadcast_mul(p.data().astype("float32") - s, rate.reshape((1,) * s.ndim))

    def swap(self):
        """Exchange the live weights and the average (call again to swap back)."""
        self._ensure()
        for p, s in zip(self.params, self.shadow):
            live = p.data().astype("float32", copy=True)
            p.set_data(s.astype(p.dtype))
            s[:] = live

    def save(self, path):
        import mxnet as mx
        self._ensure()
        mx.nd.save(path, dict(zip(self.names, self.shadow)))

    def load(self, path, ctx):
        import mxnet as mx
        saved = mx.nd.load(path)
        self.shadow = [saved[n].as_in_context(ctx) for n in self.names]


class Stepper:
    def __init__(self, net, trainer, train_cfg, batch_size, classes, class_weights, teacher=None):
        from mxnet import gluon
        self.net, self.trainer = net, trainer
        self.batch_size, self.classes = batch_size, classes
        self.class_weights = class_weights
        self.smoothing = train_cfg["label_smoothing"]
        self.accumulate = train_cfg["accumulate"]
        self.clip = train_cfg["clip_grad_norm"]
        self.amp = bool(train_cfg["amp"])
        limit = 0 if self.amp else train_cfg["nonfinite_limit"]  # AMP's loss scaler guards instead
        if self.amp:
            from mxnet.contrib import amp
            amp.init_trainer(trainer)
        self.mixer = Mixer(train_cfg["mixup"], train_cfg["cutmix"])
        self.teacher, self.distill_weight = teacher, train_cfg["distill_weight"]
        self.dense_labels = self.smoothing > 0 or self.mixer.on
        self.loss_fn = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=not self.dense_labels)
        self.params = [p for p in net.collect_params().values() if p.grad_req != "null"]
        if self.accumulate > 1:
            for p in self.params:
                p.grad_req = "add"
        self.ema = Ema(net, train_cfg["ema_decay"]) if train_cfg["ema_decay"] else None
        self.guard = FiniteGuard(self.params, trainer, limit) if limit else None
        self.pending = 0            # micro-batches whose gradients wait for the update

    # ---- the loss ------------------------------------------------------------------------

    def loss(self, out, y, y_b=None, lam=1.0):
        """Cross-entropy against y (or the lam : 1 - lam mix of y and y_b), smoothed and weighted."""
        from mxnet import nd
        out = out.astype("float32") if out.dtype != np.float32 else out  # AMP's low-precision output
        if self.dense_labels:
            k = out.shape[1]
            target = nd.one_hot(y, k) if y_b is None else lam * nd.one_hot(y, k) + (1 - lam) * nd.one_hot(y_b, k)
            target = target * (1 - self.smoothing) + self.smoothing / k
        else:
            target = y
        loss = self.loss_fn(out, target)
        if self.class_weights is not None:
            weight = nd.take(self.class_weights, y)
            if y_b is not None:
                weight = lam * weight + (1 - lam) * nd.take(self.class_weights, y_b)
            loss = loss * weight
        return loss

    def forward_loss(self, x, y, y_b=None, lam=1.0, soft=None):
        out = self.net(x)
        if isinstance(out, (tuple, list)):  # auxiliary heads (GoogLeNet) weigh 0.3 each
            loss = self.loss(out[0], y, y_b, lam) + 0.3 * sum(self.loss(a, y, y_b, lam) for a in out[1:])
            out = out[0]
        else:
            loss = self.loss(out, y, y_b, lam)
        if soft is not None:   # knowledge distillation (mxdl/train/distill.py)
            from .distill import distillation_loss
            w = self.distill_weight
            loss = (1 - w) * loss + w * distillation_loss(out, soft, self.teacher.temperature)
        return out, loss

    # ---- a step ----------------------------------------------------------------------------

    def micro_batch(self, x, y, seed):
        """Forward and backward one batch; ``(output, label for the metrics, loss)``. Under mixing
        the metrics count the label with the larger share of the sample."""
        from mxnet import autograd
        y_b, lam = None, 1.0
        if self.mixer.on:
            x, y, y_b, lam = self.mixer.mix(x, y, seed)
        soft = self.teacher.soft_targets(x) if self.teacher else None   # on the batch the student sees
        with autograd.record():
            out, loss = self.forward_loss(x, y, y_b, lam, soft)
            if self.amp:
                from mxnet.contrib import amp
                with amp.scale_loss(loss, self.trainer) as scaled:
                    autograd.backward(scaled)
        if not self.amp:
            loss.backward()
        self.pending += 1
        return out, (y if lam >= 0.5 else y_b), loss

    def due(self, step, steps_per_epoch):
        """Whether the update follows the micro-batch ending at ``step`` (1-based within the epoch)."""
        return step % self.accumulate == 0 or step == steps_per_epoch

    def update(self):
        """Apply the pending gradients (no read from the device)."""
        images = self.batch_size * self.pending
        self.pending = 0
        ok = None
        if not (self.clip or self.guard):
            self.trainer.step(images)
        else:
            self.trainer.allreduce_grads()
            if self.clip:
                self._clip(images)
            if self.guard:
                ok = self.guard.update(images)
            else:
                self.trainer.update(images)
        if self.accumulate > 1:
            self._zero_grads()
        if self.ema is not None:
            self.ema.update(ok)

    def _clip(self, images):
        """Scale the summed gradients so their per-image mean has at most the configured norm."""
        from mxnet import nd
        grads = [p.grad() for p in self.params]
        per_image = self.trainer._scale / images  # the trainer's scale undoes AMP's loss scaling
        norm = nd.sqrt(sum_of_squares(grads)) * per_image
        factor = nd.minimum(self.clip / (norm + 1e-12), nd.ones_like(norm))
        for g in grads:
            nd.broadcast_mul(g, factor.astype(g.dtype).reshape((1,) * g.ndim), out=g)

    @property
    def limit(self):
        return self.guard.limit if self.guard else 0

    @property
    def skipped(self):
        """Non-finite steps skipped so far (a read from the device: for checkpoints and epoch ends)."""
        if not self.guard:
            return 0
        self.guard.poll()
        return self.guard.skipped

    def carry_skipped(self, count):
        """A resumed run goes on counting from its checkpoint's skipped steps."""
        if self.guard:
            self.guard.carried = self.guard.skipped = count

    def poll(self):
        """Read the guard's counters; True once ``limit`` steps in a row were skipped."""
        return bool(self.guard) and self.guard.poll()

    def _zero_grads(self):
        for p in self.params:
            p.zero_grad()


def init_amp(dtype, ctx):
    """Turn on MXNet's AMP for this process; it patches MXNet's operators, so it must run before
    any network is built. A device that cannot run the type is refused here, in one line, rather
    than deep inside the first step."""
    if not dtype:
        return
    from .. import topology
    if ctx.device_type == "cpu" and (dtype == "float16" or not topology.cpu_runs_bfloat16()):
        need = "GPUs (MXNet has no float16 kernels for CPUs)" if dtype == "float16" else \
            "a CPU with AVX-512 (MKLDNN's bfloat16 kernels), which this one lacks"
        raise UserError(f"train.amp={dtype} needs {need}: train in float32 here (train.amp=null)")
    from mxnet.contrib import amp
    amp.init(target_dtype=dtype)


def loss_scaler_state(trainer):
    scaler = getattr(trainer, "_amp_loss_scaler", None)
    if scaler is None:
        return None
    return {"loss_scale": scaler._loss_scale, "next_loss_scale": scaler._next_loss_scale,
            "unskipped": scaler._unskipped}


def restore_loss_scaler(trainer, state):
    scaler = getattr(trainer, "_amp_loss_scaler", None)
    if scaler is not None and state:
        scaler._loss_scale, scaler._next_loss_scale = state["loss_scale"], state["next_loss_scale"]
        scaler._unskipped = state["unskipped"]


def nonfinite_stop(limit, epoch, step, lr, latest):
    return RunFailed(f"{limit} steps in a row had non-finite gradients (by epoch {epoch + 1}, step {step}); they "
                     f"were skipped, and the weights were saved as {latest}. Lower optim.lr (now {lr:g}) or set "
                     "train.clip_grad_norm, then resume")
