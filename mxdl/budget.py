"""How a node's cores are shared among its workers: compute threads (OpenMP and MXNet's CPU
engine) and decoding threads (ImageRecordIter's ``preprocess_threads``, ``data.threads``).

Each worker works this out for its own node, from the cores it may use (its CPU affinity, which
Slurm and taskset narrow) and the workers Horovod starts there, before MXNet is imported (the
thread counts are read then). Oversubscribing the cores was the cost measured in the
throughput issue: two workers with two decode threads each and one compute thread each, on two
cores, spent a quarter of their time waiting for data.

- CPU: a worker's share of the cores computes; decoding gets one thread per four cores of the
  share (at least one). JPEG decoding of a batch costs a small fraction of a CPU training step
  (bench/reader_vs_imagerecorditer.py: 17,000+ img/s per decode thread against a few hundred
  img/s of training), so the decode threads mostly sleep.
- GPU: the GPU computes; one core per worker runs its Python loop and MXNet's engine, the rest
  of its share decodes (a starved GPU is the common failure: gluon-cv#488).

    python -m mxdl.budget [--local-workers N]   # what a worker here would use, one line
"""
import argparse
import os
from dataclasses import dataclass

from . import topology


@dataclass
class Budget:
    cores: int            # cores this worker's node offers its workers
    local_workers: int
    gpus: int
    compute: int          # OMP_NUM_THREADS and MXNET_CPU_WORKER_NTHREADS
    decode: int           # data.threads when "auto"

    def describe(self):
        device = f"{self.gpus} GPU(s)" if self.gpus else "CPU"
        return (f"{self.cores} core(s), {self.local_workers} worker(s) on this node, {device}: "
                f"{self.compute} compute + {self.decode} decode thread(s) per worker")


def plan(cores, workers, gpus):
    share = max(1, cores // max(1, workers))
    if gpus:
        return Budget(cores, workers, gpus, compute=1, decode=max(1, share - 1))
    decode = max(1, share // 4)
    return Budget(cores, workers, gpus, compute=max(1, share - decode) if share > 2 else share, decode=decode)


def here(workers=None):
    return plan(topology.usable_cores(), workers or topology.local_size(), topology.gpus().count)


def set_compute_threads(budget):
    """Before MXNet is imported: the budget's compute threads, unless the user chose them."""
    os.environ.setdefault("OMP_NUM_THREADS", str(budget.compute))
    os.environ.setdefault("MXNET_CPU_WORKER_NTHREADS", str(budget.compute))


def decode_threads(setting, budget, log):
    """``data.threads``: "auto" is the budget's; a number above the cores is lowered, with a warning."""
    if setting == "auto":
        return budget.decode
    if setting > budget.cores:
        log.warning(f"data.threads={setting} is more than the {budget.cores} core(s) here: using {budget.cores}")
        return budget.cores
    return setting


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m mxdl.budget", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--local-workers", type=int, help="workers on this node (default: from Horovod's environment)")
    args = p.parse_args(argv)
    print(here(args.local_workers).describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
