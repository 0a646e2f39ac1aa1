"""Where this process sits in its job, and what its node offers: the one place that reads them.

Rank, local rank and sizes come from the launcher's environment (horovodrun, mpirun, or srun),
cores from the CPU affinity (which Slurm and taskset narrow), GPUs from CUDA_VISIBLE_DEVICES or
nvidia-smi. Nothing here imports MXNet or Horovod: the thread budget must be known before MXNet
is imported, and the launcher's helpers and every command's rank-0 printing use the same answers.

    python -m mxdl.topology gpus    # "N SOURCE": GPUs on this node and where that came from
"""
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

# Each list in the order launchers are tried: Horovod's own, Open MPI, MPICH/PMI, PMIx.
RANK_VARS = ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
SIZE_VARS = ("HOROVOD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
LOCAL_RANK_VARS = ("HOROVOD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
LOCAL_SIZE_VARS = ("HOROVOD_LOCAL_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")


def _first_int(names, default, env=None):
    env = os.environ if env is None else env
    for name in names:
        value = env.get(name, "")
        if value.strip().isdigit():
            return int(value)
    return default


def launched_by_horovod(env=None):
    """horovodrun, mpirun, or ``srun`` starting several tasks (Horovod then reads MPI's rank).

    A lone SLURM_PROCID is not enough: an sbatch script's own shell has SLURM_PROCID=0.
    """
    env = os.environ if env is None else env
    if any(v in env for v in RANK_VARS):
        return True
    return "SLURM_PROCID" in env and _first_int(("SLURM_STEP_NUM_TASKS",), 1, env) > 1


def rank(env=None):
    env = os.environ if env is None else env
    found = _first_int(RANK_VARS, None, env)
    if found is None and launched_by_horovod(env):
        found = _first_int(("SLURM_PROCID",), 0, env)
    return found or 0


def size(env=None):
    return max(1, _first_int(SIZE_VARS, 1, env))


def local_rank(env=None):
    return _first_int(LOCAL_RANK_VARS, 0, env)


def local_size(env=None):
    return max(1, _first_int(LOCAL_SIZE_VARS, 1, env))


def is_primary(env=None):
    """Rank 0 (or a single process): the one that prints and writes shared files."""
    return rank(env) == 0


def usable_cores():
    """The cores this process may run on: its affinity, not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Gpus:
    count: int
    source: str   # where the count came from, for the launcher's layout line

    def describe(self):
        return f"{self.count} GPU(s) ({self.source})" if self.count else f"no GPU ({self.source})"


def gpus(env=None, nvidia_smi=None):
    """GPUs visible to this process, without importing MXNet."""
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = len([d for d in visible.split(",") if d.strip() not in ("", "-1")])
        return Gpus(count, f"CUDA_VISIBLE_DEVICES={visible}")
    smi = nvidia_smi if nvidia_smi is not None else shutil.which("nvidia-smi")
    if not smi and env.get("SLURM_GPUS_ON_NODE", "").isdigit():  # a Slurm allocation, seen from a node without drivers
        return Gpus(int(env["SLURM_GPUS_ON_NODE"]), f"from Slurm: SLURM_GPUS_ON_NODE={env['SLURM_GPUS_ON_NODE']}")
    if not smi:
        return Gpus(0, "no nvidia-smi on this node")
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return Gpus(0, "nvidia-smi did not answer")
    return Gpus(sum(1 for line in listing.splitlines() if line.startswith("GPU")), "nvidia-smi -L")


def cpu_flags():
    """The CPU's feature flags (Linux), empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), []))
    except OSError:
        return set()


def cpu_runs_bfloat16(flags=None):
    """MKLDNN's bfloat16 kernels need AVX-512 (native bf16 where avx512_bf16 is present, emulated
    on avx512bw/vl otherwise); without it they fail inside the first convolution."""
    flags = cpu_flags() if flags is None else flags
    return {"avx512f", "avx512bw", "avx512vl"} <= flags or not flags


def device(local_rank_=None):
    """This worker's MXNet context: its own GPU (by local rank) when the node has GPUs, else the CPU."""
    import mxnet as mx
    if mx.context.num_gpus() == 0:
        return mx.cpu()
    return mx.gpu(local_rank() if local_rank_ is None else local_rank_)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args != ["gpus"]:
        print("usage: python -m mxdl.topology gpus", file=sys.stderr)
        return 2
    found = gpus()
    print(found.count, found.source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
