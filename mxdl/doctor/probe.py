"""What ``mxdl-doctor`` measures on every worker of the job's layout (started by horovodrun, or
alone for one worker). Each phase starts on all workers at once, as training would run:

1. the trainer's own step (mxdl.train.loop.Run's network, optimizer and Stepper) on one synthetic
   batch already on the device, with the allreduce: the step a job pays;
2. the same step with the allreduce left out: the compute;
3. allreduces of a small buffer and of the gradients' size, in float32 and float16: the link;
4. with real shards, the trainer's reader (its decode threads) and a raw read of the shard files.

    python -m mxdl.doctor.probe CONFIG [key=value ...] [--seconds S]

Rank 0 prints every worker's figures as one JSON line after MARKER, on its standard output (which
horovodrun brings back from whichever node rank 0 ran on: no shared file system is needed);
mxdl.doctor.cli turns them into a model.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import time

from .. import budget as budget_mod
from .. import config as config_mod
from ..errors import cli_entry

MARKER = "mxdl-doctor-figures: "
SMALL_ALLREDUCE_BYTES = 64 * 1024
HOROVOD_DEFAULT_FUSION = 128 * 1024 * 1024


def _parser():
    p = argparse.ArgumentParser(prog="python -m mxdl.doctor.probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--seconds", type=float, default=8.0, help="time to spend on each timed phase")
    return p


def _sync():
    import mxnet as mx
    mx.nd.waitall()


def _agreed_count(dist, seconds, one_s, hi=40):
    """How many more repetitions fill ``seconds``, the same on every worker (collectives must match)."""
    return dist.broadcast_object(int(min(hi, max(0, seconds / max(one_s, 1e-6)))), "probe.count")


def _timed(dist, fn, seconds, name, warm=True):
    """Seconds per call of ``fn`` on this worker: an untimed call first (``warm``), then one timed
    call and as many more as fill ``seconds``, all workers starting together and the device's work
    finished before the clock stops. A call slower than ``seconds`` is timed once: the doctor stays
    within its two minutes on a slow link."""
    if warm:
        dist.barrier(f"{name}.warm")
        fn()
        _sync()
    dist.barrier(f"{name}.go")
    t0 = time.perf_counter()
    fn()
    _sync()
    extra = _agreed_count(dist, seconds - (time.perf_counter() - t0), time.perf_counter() - t0)
    for _ in range(extra):
        fn()
    _sync()
    return (time.perf_counter() - t0) / (1 + extra)


def _batch(run):
    import mxnet as mx
    from ..train import build
    shape = (run.cfg["data"]["batch_size"],) + tuple(run.shape)
    x = mx.nd.random.uniform(shape=shape, ctx=run.ctx).astype(build.input_dtype(run.cfg))
    y = mx.nd.array([i % len(run.classes) for i in range(shape[0])], ctx=run.ctx)
    return x, y


def measure_steps(run, seconds, rounds=2):
    """(step with allreduce, step without) in seconds, each the faster of ``rounds`` alternating
    measurements: on a shared machine the first phase also pays for settling shapes, graphs and
    MKLDNN's first calls, and a neighbour's burst should not decide either figure."""
    x, y = _batch(run)

    def step():
        run.stepper.micro_batch(x, y, None)
        run.stepper.update()

    def compute_only():
        run.trainer._allreduce_grads = lambda: None   # the same step, its allreduce left out
        try:
            step()
        finally:
            del run.trainer._allreduce_grads
    full, compute = [], []
    for r in range(rounds):   # the first round's untimed calls settle graphs and MKLDNN
        full.append(_timed(run.dist, step, seconds / rounds, f"probe.full.{r}", warm=r == 0))
        compute.append(_timed(run.dist, compute_only, seconds / rounds, f"probe.compute.{r}", warm=r == 0))
    return min(full), min(compute)


def gradient_bytes(net):
    return sum(p.data().size * 4 for p in net.collect_params().values() if p.grad_req != "null")


def measure_allreduce(dist, grad_bytes, seconds):
    """Seconds per allreduce: a small buffer, the gradients' bytes in float32, the same count of
    values in float16 (what horovod.fp16_allreduce sends)."""
    import mxnet as mx
    if dist.size < 2:
        return {}
    figures = {"small_bytes": SMALL_ALLREDUCE_BYTES, "fp32_bytes": grad_bytes, "fp16_bytes": grad_bytes // 2}
    for key, count, dtype in (("small_s", SMALL_ALLREDUCE_BYTES // 4, "float32"),
                              ("fp32_s", grad_bytes // 4, "float32"), ("fp16_s", grad_bytes // 4, "float16")):
        buf = mx.nd.ones((count,), dtype=dtype)

        def once():
            dist.hvd.allreduce_(buf, average=False, name=f"probe.{key}")
            buf.wait_to_read()
        figures[key] = _timed(dist, once, seconds / 3, f"probe.{key}", warm=key == "small_s")
    return figures


def measure_reader(run, seconds):
    """Images/s this worker's reader delivers (its decode threads, its share of the shards) and
    the seconds to its first batch."""
    t0 = time.perf_counter()
    stream = iter(run.data.train_epoch(0, 0))
    next(stream)
    first = time.perf_counter() - t0
    t0, images = time.perf_counter(), 0
    for x, _ in stream:
        images += x.shape[0]
        if time.perf_counter() - t0 >= seconds:
            break
    return {"images_per_sec": images / max(time.perf_counter() - t0, 1e-9), "first_batch_s": first}


def measure_storage(data_dir, seconds, chunk=4 << 20):
    """MB/s of a plain sequential read of the shard files (the page cache may hold them)."""
    files = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir) if f.endswith((".rec", ".h5")))
    t0, read = time.perf_counter(), 0
    for path in files:
        with open(path, "rb", buffering=0) as f:
            while block := f.read(chunk):
                read += len(block)
                if time.perf_counter() - t0 >= seconds:
                    return {"mb_per_sec": read / 1e6 / (time.perf_counter() - t0), "bytes": read}
    return {"mb_per_sec": read / 1e6 / max(time.perf_counter() - t0, 1e-9), "bytes": read}


def worker_figures(run, seconds):
    full, compute = measure_steps(run, seconds)
    grad = gradient_bytes(run.net)
    figures = {"rank": run.dist.rank, "host": socket.gethostname(), "step_s": full, "compute_s": compute,
               "gradient_bytes": grad, "allreduce": measure_allreduce(run.dist, grad, seconds)}
    if not run.cfg["data"]["synthetic"]:
        run.dist.barrier("probe.reader")
        figures["reader"] = measure_reader(run, seconds / 2)
        if run.dist.local_rank == 0:
            figures["storage"] = measure_storage(run.cfg["data"]["dir"], seconds / 4)
    return figures


def job_settings(run):
    env = os.environ
    return {"batch": run.cfg["data"]["batch_size"], "model": run.cfg["model"]["name"],
            "input": list(run.shape), "synthetic": run.cfg["data"]["synthetic"],
            "fp16_allreduce": run.dist.fp16_allreduce,
            "fusion_bytes": int(env.get("HOROVOD_FUSION_THRESHOLD") or HOROVOD_DEFAULT_FUSION),
            "hierarchical": env.get("HOROVOD_HIERARCHICAL_ALLREDUCE") == "1",
            "decode_threads": run.cfg["data"]["threads"], "budget": run.budget.describe()}


@cli_entry
def main(argv=None):
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    cfg = config_mod.resolve(args.config, args.overrides)
    node = budget_mod.here()
    budget_mod.set_compute_threads(node)   # as mxdl-train does, before MXNet is imported
    from ..dist import Dist
    from ..log import native_log_silenced
    from ..train.loop import Run
    dist = Dist(cfg["horovod"])
    with tempfile.TemporaryDirectory(prefix="mxdl-doctor-") as scratch, native_log_silenced():
        run = Run(cfg, scratch, dist, budget=node)
        figures = worker_figures(run, args.seconds)
    everyone = dist.hvd.allgather_object(figures, name="probe.gather") if dist.hvd else [figures]
    if dist.primary:
        print(MARKER + json.dumps({"settings": job_settings(run), "workers": everyone}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
