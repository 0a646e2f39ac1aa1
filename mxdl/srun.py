"""Workers started by ``srun`` inside a Slurm allocation, for clusters that forbid ssh between
compute nodes (``launch/train.sh --srun``, the default of ``launch/slurm.sbatch``).

The batch step runs Horovod's Gloo rendezvous server (what horovodrun runs) and ``srun`` starts one
task per worker slot; each task takes its rank from Slurm (SLURM_PROCID) and its place from the
same plan the server was given, so the server's and the workers' views cannot differ.

    python -m mxdl.srun start --np N [--nic NAME] [--start-timeout S] -- CMD ...   # the batch step
    python -m mxdl.srun task -- CMD ...     # each task; start passes this to srun

The task prints its worker's lines and its end the way horovodrun does (``[rank]<stdout>:`` and
``Process R exit with status code C``), so the launcher reads both kinds of job alike (mxdl.joblog).
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading

from .cluster import shared_interface, slurm_layout
from .errors import UserError, cli_entry

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP)


def slot_plan(layout, np_):
    """Horovod's slots for the first ``np_`` slots of ``[(host, slots)]``, filled host by host
    (srun's block distribution): one dict per rank."""
    used = []
    for host, slots in layout:
        take = min(slots, np_ - sum(n for _, n in used))
        if take > 0:
            used.append((host, take))
    if sum(n for _, n in used) < np_:
        raise UserError(f"--np {np_} is more than the {sum(n for _, n in layout)} tasks of the Slurm allocation")
    plan = []
    for cross_rank, (host, local_size) in enumerate(used):
        for local_rank in range(local_size):
            cross = [h for h, n in used if n > local_rank]
            plan.append({"hostname": host, "rank": len(plan), "local_rank": local_rank, "local_size": local_size,
                         "cross_rank": cross.index(host), "cross_size": len(cross), "size": np_})
    return plan, len(used)


def rendezvous(plan):
    """Horovod's rendezvous server, started in this process: its port."""
    from horovod.runner.common.util.hosts import SlotInfo
    from horovod.runner.http.http_server import RendezvousServer
    server = RendezvousServer()
    port = server.start()
    server.init([SlotInfo(**slot) for slot in plan])
    return port


def server_address(nic):
    """This host's address the workers reach: the interface's when one is named, else its name's."""
    if nic:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", nic], capture_output=True, text=True).stdout
        if "inet " in out:
            return out.split("inet ", 1)[1].split("/", 1)[0]
        raise UserError(f"--nic {nic}: this host has no IPv4 address on that interface")
    return socket.gethostbyname(socket.gethostname())


def _in_allocation(env):
    if not env.get("SLURM_JOB_ID") or not env.get("SLURM_JOB_NODELIST"):
        raise UserError("--srun starts workers inside a Slurm allocation (sbatch or salloc), and there is none "
                        "here (no SLURM_JOB_ID); use --hosts/--hostfile, or submit with sbatch")


def _hang_timeout(env):
    """Gloo's one timeout covers meeting and every collective after: the launcher's hang bound."""
    return int(env.get("HOROVOD_GLOO_TIMEOUT_SECONDS") or 30)


def start(args, env=os.environ):
    _in_allocation(env)
    layout = slurm_layout(env)
    plan, nodes = slot_plan(layout, args.np or sum(n for _, n in layout))
    nic = args.nic or shared_interface([h for h, _ in layout[:nodes]])
    port = rendezvous(plan)
    worker_env = dict(env, HOROVOD_GLOO_RENDEZVOUS_ADDR=server_address(nic), HOROVOD_GLOO_RENDEZVOUS_PORT=str(port),
                      HOROVOD_CONTROLLER="gloo", HOROVOD_CPU_OPERATIONS="gloo", PYTHONUNBUFFERED="1",
                      HOROVOD_GLOO_TIMEOUT_SECONDS=str(max(args.start_timeout, _hang_timeout(env))),
                      MXDL_SRUN_PLAN=json.dumps(plan))
    if nic:
        worker_env.update(HOROVOD_GLOO_IFACE=nic, NCCL_SOCKET_IFNAME=nic)
    cmd = ["srun", f"--nodes={nodes}", f"--ntasks={len(plan)}", "--distribution=block", "--kill-on-bad-exit=1",
           "--export=ALL", sys.executable, "-m", "mxdl.srun", "task", "--", *args.command]
    return _run_forwarding_signals(cmd, worker_env)


def _run_forwarding_signals(cmd, env, **popen):
    proc = subprocess.Popen(cmd, env=env, **popen)
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: proc.send_signal(s))
    return proc


def task_environment(env):
    """HOROVOD_* for this task, from the plan the server holds and the rank Slurm gave it."""
    plan = json.loads(env["MXDL_SRUN_PLAN"])
    slot = plan[int(env["SLURM_PROCID"])]
    node = env.get("SLURMD_NODENAME") or socket.gethostname()
    if node != slot["hostname"]:
        raise UserError(f"srun placed rank {slot['rank']} on {node}, but the rendezvous plan has it on "
                        f"{slot['hostname']}: the allocation's task layout changed under the job")
    keys = ("rank", "size", "local_rank", "local_size", "cross_rank", "cross_size")
    return {"HOROVOD_HOSTNAME": slot["hostname"], **{f"HOROVOD_{k.upper()}": str(slot[k]) for k in keys}}


def _prefix_lines(src, dst, prefix):
    for line in iter(src.readline, b""):
        dst.write(prefix + line)
        dst.flush()


def task(args, env=os.environ):
    worker_env = dict(env, **task_environment(env))
    rank = worker_env["HOROVOD_RANK"]
    proc = _run_forwarding_signals(args.command, worker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pumps = [threading.Thread(target=_prefix_lines, args=(src, dst, f"[{rank}]<{name}>:".encode()))
             for src, dst, name in ((proc.stdout, sys.stdout.buffer, "stdout"),
                                    (proc.stderr, sys.stderr.buffer, "stderr"))]
    for pump in pumps:
        pump.start()
    code = proc.wait()
    for pump in pumps:
        pump.join()
    print(f"Process {rank} exit with status code {code}", flush=True)
    return code if code >= 0 else 128 - code


def _parser():
    p = argparse.ArgumentParser(prog="python -m mxdl.srun", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("start")
    s.add_argument("--np", type=int)
    s.add_argument("--nic")
    s.add_argument("--start-timeout", type=int, default=60)
    for mode in (s, sub.add_parser("task")):
        mode.add_argument("command", nargs=argparse.REMAINDER)
    return p


@cli_entry
def main(argv=None):
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    args.command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not args.command:
        raise UserError("python -m mxdl.srun: no command to run after --")
    if args.mode == "task":
        return task(args)
    code = start(args).wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
