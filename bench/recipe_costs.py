"""What each option of the modern recipe costs on the trainer's step, in one run.

1. The mxdl trainer with one option at a time (mixup, cutmix, EMA, clipping, accumulation, the
   non-finite guard) against the bare hybridized Gluon loop of bench/trainer_vs_bare.py: same
   model, batch and in-memory data, alternated, best of three each. Goal: each option within
   5% of the trainer without options.
2. The non-finite guard's own work per update: the guarded update (mxdl/train/guard.py) against
   the trainer's plain update on the same gradients, each timed alone between two waits for the
   device, alternated 60 times, medians; as a share of the median whole step. On this 2-core
   machine whole epochs of one configuration vary by +-20% from one to the next, so the A/B of
   part 1 cannot resolve 2%; this timing can (and is an upper bound: it hides no overlap).
   Twice: with mxdl_copy_if (CPUs, where setup.py built it), and with MXNet's operators only
   (as on GPUs, two copies of the weights and states every step), the baseline.
3. float32 against bfloat16 AMP through the same trainer; AMP patches MXNet for the whole
   process, so each precision runs in a fresh process of its own.

    python bench/recipe_costs.py [--model minivggnet] [--batch 64] [--steps 40]
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import figure, report  # noqa: E402
from bench.trainer_vs_bare import bare_loop, in_memory_run  # noqa: E402

# each option alone: the guard, on by default, is off in every row but its own
OFF = ["train.nonfinite_limit=0"]
OPTIONS = [("trainer, no option", OFF), ("mixup 0.2", ["train.mixup=0.2", *OFF]),
           ("cutmix 1.0", ["train.cutmix=1.0", *OFF]), ("EMA 0.999", ["train.ema_decay=0.999", *OFF]),
           ("clip grad norm 5", ["train.clip_grad_norm=5", *OFF]), ("accumulate 2", ["train.accumulate=2", *OFF]),
           ("non-finite guard (default, 10)", ["train.nonfinite_limit=10"])]


def images_per_second(run, epoch, steps, batch):
    import mxnet as mx
    run.data.steps_per_epoch = run.spe = steps
    start = time.perf_counter()
    run.train_epoch(epoch, 0)
    mx.nd.waitall()
    return batch * steps / (time.perf_counter() - start)


def option_costs(model, batch, steps, shape=(3, 32, 32)):
    import mxnet as mx
    from mxdl.models import get_model
    runs = [(name, in_memory_run(model, batch, shape, overrides, steps=4)[0]) for name, overrides in OPTIONS]
    x = mx.nd.random.uniform(shape=(batch,) + shape)
    y = mx.nd.array([i % 10 for i in range(batch)])
    net = get_model(model, classes=10)
    net.initialize(mx.init.Xavier())
    net.hybridize()
    bare_loop(net, x, y, 4, batch)
    for _, run in runs:  # warm-up: graph build and memory allocation
        images_per_second(run, 0, 4, batch)
    best = {name: 0.0 for name, _ in runs}
    best["bare hybridized Gluon loop"] = 0.0
    for epoch in range(1, 4):
        start = time.perf_counter()
        bare_loop(net, x, y, steps, batch)
        best["bare hybridized Gluon loop"] = max(best["bare hybridized Gluon loop"],
                                                 batch * steps / (time.perf_counter() - start))
        for name, run in runs:
            best[name] = max(best[name], images_per_second(run, epoch, steps, batch))
    rows = [("bare hybridized Gluon loop", best["bare hybridized Gluon loop"])] + [(n, best[n]) for n, _ in runs]
    report(f"{model}, batch {batch}, {steps} steps, data in memory: each option against the bare loop", rows,
           "bare hybridized Gluon loop")
    base = best["trainer, no option"]
    print("  against the trainer without options: " +
          ", ".join(f"{n} x{best[n] / base:.3f}" for n, _ in runs[1:]))


def _timed(fn):
    import mxnet as mx
    mx.nd.waitall()
    start = time.perf_counter()
    fn()
    mx.nd.waitall()
    return time.perf_counter() - start


def guard_cost(model, batch, stock=False, rounds=60):
    """Milliseconds the guard adds to an update, and that as a share of a whole step; ``stock``:
    the guard as on GPUs, with MXNet's operators only (two copies on every step), the baseline of
    mxdl_copy_if (a finite step copies nothing)."""
    import statistics
    from mxdl.train import guard
    run, x, y = in_memory_run(model, batch, (3, 32, 32), ["train.nonfinite_limit=5"], steps=4)
    stepper = run.stepper
    loaded = guard.copy_if_loaded
    guard.copy_if_loaded = (lambda: False) if stock else loaded
    x, y = run._to_ctx(x, y)
    guarded, plain, steps = [], [], []
    for i in range(rounds + 5):
        step = _timed(lambda: (stepper.micro_batch(x, y, None), stepper.update()))
        stepper.micro_batch(x, y, None)
        stepper.trainer.allreduce_grads()
        pair = [(plain, lambda: stepper.trainer.update(batch)), (guarded, lambda: stepper.guard.update(batch))]
        for times, fn in (pair if i % 2 else pair[::-1]):
            times.append(_timed(fn))
            stepper.micro_batch(x, y, None)
            stepper.trainer.allreduce_grads()
        stepper.pending = 0
        if i >= 5:  # the first rounds allocate
            steps.append(step)
    guard.copy_if_loaded = loaded
    way = "with mxdl_copy_if" if isinstance(stepper.guard._undo, guard._CopyOnBadSteps) else "with stock operators"
    added = statistics.median(guarded) - statistics.median(plain)
    whole = statistics.median(steps)
    figure(f"{model}, batch {batch}: the non-finite guard's own work {way}, timed alone ({rounds} rounds, medians)",
           f"plain update {statistics.median(plain) * 1e3:.2f} ms, guarded update "
           f"{statistics.median(guarded) * 1e3:.2f} ms, whole guarded step {whole * 1e3:.1f} ms: the guard adds "
           f"{added * 1e3:.2f} ms = {100 * added / whole:.1f}% of the step",
           added_ms=round(added * 1e3, 2), step_ms=round(whole * 1e3, 1), share=round(added / whole, 4))
    return added, whole


def one_precision(model, batch, steps, amp):
    """Runs in its own process: best of three epochs, as JSON on the last line."""
    overrides = [f"train.amp={amp}"] if amp else []
    run = in_memory_run(model, batch, (3, 32, 32), overrides, steps=4)[0]
    images_per_second(run, 0, 4, batch)
    print(json.dumps(max(images_per_second(run, e, steps, batch) for e in range(1, 4))))


def precision_costs(model, batch, steps):
    from mxdl.topology import cpu_runs_bfloat16
    if not cpu_runs_bfloat16():
        print("float32 against bfloat16 AMP: skipped, this CPU lacks AVX-512 (MKLDNN's bfloat16 kernels need it)")
        return
    rows = []
    for label, amp in (("float32", ""), ("bfloat16 AMP", "bfloat16")):
        out = subprocess.run([sys.executable, __file__, "--model", model, "--batch", str(batch), "--steps",
                              str(steps), "--one-precision", amp or "float32"],
                             capture_output=True, text=True, check=True).stdout
        rows.append((label, float(out.strip().splitlines()[-1])))
    report(f"{model}, batch {batch}: float32 against bfloat16 AMP (MKLDNN), each in a fresh process", rows,
           "float32")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minivggnet")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--one-precision", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one_precision:
        one_precision(args.model, args.batch, args.steps, "" if args.one_precision == "float32" else args.one_precision)
        return
    option_costs(args.model, args.batch, args.steps)
    guard_cost(args.model, args.batch)
    guard_cost(args.model, args.batch, stock=True)
    precision_costs(args.model, args.batch, args.steps)


if __name__ == "__main__":
    main()
