"""Checks ``launch/train.sh`` runs before starting any worker; one line per problem.

    python -m mxdl.preflight --np 4 --config configs/x.yaml --run-dir runs/x [--hosts a,b]
                             [--verify-data auto|on|off] [key=value ...]
"""
import argparse
import os
import shlex
import socket
import subprocess
import sys
import time

from . import config as config_mod
from .data import manifest as manifest_mod
from .errors import UserError, cli_entry

LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}


def check_mxnet():
    try:
        import mxnet  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any import failure is reported the same way
        return [f"mxnet does not import ({str(err).splitlines()[0]}): run `make env` or pip install mxnet==1.9.1"]
    return []


def check_horovod(controller):
    try:
        import horovod.mxnet as hvd
    except Exception as err:  # noqa: BLE001
        return [f"horovod.mxnet does not import ({str(err).splitlines()[0]}): rebuild Horovod with "
                "HOROVOD_WITH_MXNET=1 (scripts/bootstrap.sh shows the command)"]
    built = hvd.gloo_built() if controller == "gloo" else hvd.mpi_built()
    if not built:
        return [f"Horovod was built without {controller.upper()} support: rebuild it with "
                f"HOROVOD_WITH_{controller.upper()}=1, or choose the other controller"]
    return []


def check_gpus(np_local):
    from .topology import gpus as visible_gpus
    gpus = visible_gpus().count
    if gpus and np_local > gpus:
        return [f"{np_local} workers on this machine but only {gpus} GPU(s) visible: use --np {gpus} "
                "or check CUDA_VISIBLE_DEVICES"]
    return []


def check_data(cfg, verify="auto"):
    """Shard files present with the manifest's sizes; with ``verify`` on (or "auto" and small data)
    also their checksums, so a corrupted shard is named before any worker starts."""
    from .data.manifest import Manifest, shard_problems
    if cfg["data"]["synthetic"]:
        return []
    data_dir = cfg["data"]["dir"]
    if not data_dir:
        return ["data.dir is not set (or set data.synthetic=true)"]
    try:
        manifest = Manifest.load(data_dir)
    except UserError as err:
        return [f"data.dir: {err}"]
    started = time.time()
    problems, checked = shard_problems(manifest, verify)
    if checked:
        print(f"preflight: checksums of {checked / 2**20:.1f} MiB of shards checked in {time.time() - started:.1f}s")
    return [f"data.dir: {problem} (run mxdl-pack verify {data_dir})" for problem in problems]


def check_writable(run_dir):
    try:
        os.makedirs(run_dir, exist_ok=True)
        probe = os.path.join(run_dir, f".write-test-{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as err:
        return [f"run directory {run_dir} is not writable ({err.strerror})"]
    return []


def check_timeline(path):
    """Horovod writes its timeline from rank 0; a folder it cannot write to gave no timeline and exit 0."""
    import tempfile
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return [f"--timeline {path}: the folder {folder} does not exist"]
    try:   # a real write: as root, access() says yes to folders such as /proc that refuse files
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".timeline-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        return [f"--timeline {path}: cannot write in {folder} ({err.strerror})"]
    return []


def check_resume(run_dir, resume_from):
    """A ``--resume-from`` epoch with no checkpoint is known before any worker starts."""
    from .runs.checkpoint import at_epoch
    from .runs.layout import checkpoints_dir
    if resume_from is None:
        return []
    try:
        at_epoch(checkpoints_dir(run_dir), resume_from)
    except UserError as err:
        return [f"--resume-from: {err}"]
    return []


def check_init_from(cfg):
    from .runs.checkpoint import weights_file
    if not cfg["model"]["init_from"]:
        return []
    try:
        weights_file(cfg["model"]["init_from"])
    except UserError as err:
        return [f"model.init_from: {err}"]
    return []


def ask_host(host, nic=None):
    """None when ``host`` answers passwordless ssh (and has ``nic``, when one is named), else why not."""
    if host in LOCAL_NAMES:
        return None
    remote = f"ip -o -4 addr show dev {shlex.quote(nic)} | grep -q inet" if nic else "true"
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=accept-new",
           host, remote]
    try:
        code = subprocess.run(cmd, capture_output=True, timeout=15).returncode
    except (OSError, subprocess.TimeoutExpired):
        code = 255
    if code == 255:
        return f"host {host} does not answer passwordless ssh (try: ssh {host} true)"
    return f"host {host} has no IPv4 address on the network interface {nic} (give --nic)" if code else None


def check_hosts(hosts, nic=None):
    """One line per host that cannot take part, all asked at once (a 256-node job's hosts one by
    one would take minutes when some are down)."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(hosts)))) as pool:
        return [why for why in pool.map(lambda h: ask_host(h, nic), hosts) if why]


def check_lock(run_dir):
    from .runs.liveness import check_free
    try:
        check_free(run_dir)
    except UserError as err:
        return [str(err)]
    return []


def run_checks(args):
    problems = check_mxnet()
    if problems:
        return problems
    problems += check_horovod(args.controller)
    hosts = [h for h in (args.hosts or "").split(",") if h]
    problems += check_gpus(args.np if not hosts else 0)
    try:
        cfg = config_mod.resolve(args.config, args.overrides)
    except UserError as err:
        return problems + [f"config: {err}"]
    problems += check_data(cfg, args.verify_data)
    problems += check_resume(args.run_dir, args.resume_from)
    problems += check_init_from(cfg)
    problems += check_writable(args.run_dir)
    problems += check_lock(args.run_dir)
    problems += check_timeline(args.timeline) if args.timeline else []
    if not args.srun:  # srun starts the workers: no ssh between the nodes is needed
        problems += check_hosts(hosts, args.nic)
    return problems


@cli_entry
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m mxdl.preflight", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--np", type=int, required=True, help="workers the job will start")
    p.add_argument("--config", required=True, help="the YAML experiment (or a packaged config's name)")
    p.add_argument("--run-dir", required=True, help="the run directory the job will write")
    p.add_argument("--controller", default="gloo", choices=("gloo", "mpi"), help="Horovod's controller")
    p.add_argument("--hosts", help="host:slots,... of a multi-machine job")
    p.add_argument("--nic", help="the network interface every host must have")
    p.add_argument("--timeline", help="where Horovod's timeline will be written")
    p.add_argument("--srun", action="store_true", help="the workers start through srun, not ssh")
    p.add_argument("--verify-data", choices=("auto", "on", "off"), default="auto",
                   help=f"check the shards' checksums: auto does it when they total at most "
                        f"{manifest_mod.VERIFY_AUTO_BYTES >> 30} GiB")
    p.add_argument("--resume-from", type=int, metavar="EPOCH", help="the epoch the job will resume from")
    p.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = p.parse_args(argv)
    problems = run_checks(args)
    for line in problems:
        print(f"preflight: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
