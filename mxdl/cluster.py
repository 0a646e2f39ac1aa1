"""Host layouts for ``launch/train.sh`` and ``mxdl-doctor``: ``--hosts``, a hostfile or a Slurm
allocation, read into one list of (host, slots), and the network interface the hosts share.

Why not ``scontrol show hostnames``: it is only there where Slurm's client is
installed and configured, and the launcher also has to check the allocation's
variables against each other (a node list of 3 nodes with tasks for 2 is a
broken allocation, and should be one line, not a hang in Horovod's rendezvous).

    python -m mxdl.cluster slurm-hosts                 # -> node01:4,node02:4
    python -m mxdl.cluster hosts --hosts 'n1:4, n2'     # -> n1:4,n2:1   (or --hostfile FILE)
    python -m mxdl.cluster nic n1 n2                    # -> eth0, or nothing when there is no one answer
"""
import argparse
import os
import re
import socket
import subprocess
import sys

from .errors import UserError, cli_entry


def expand_hostlist(text):
    """``'gpu[01-03,07],login1'`` -> ``['gpu01', 'gpu02', 'gpu03', 'gpu07', 'login1']``."""
    if text.count("[") != text.count("]") or re.search(r"\[[^\]]*\[|\][^\[]*\]", text):
        raise UserError(f"SLURM_JOB_NODELIST '{text}': its brackets do not pair up")
    hosts = []
    for match in re.finditer(r"([^,\[]+)(?:\[([^\]]*)\])?([^,\[]*)", text):
        prefix, ranges, suffix = match.groups()
        if ranges is None:
            hosts.append(prefix + suffix)
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise UserError(f"SLURM_JOB_NODELIST '{text}': cannot read the range '{part}'")
            for n in range(int(lo), int(hi or lo) + 1):
                hosts.append(f"{prefix}{n:0{len(lo)}d}{suffix}")
    return [h for h in hosts if h]


def expand_counts(text):
    """Slurm's per-node counts: ``'4(x2),2'`` -> ``[4, 4, 2]``."""
    counts = []
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
        if not m:
            raise UserError(f"cannot read the Slurm task count '{text}' (expected e.g. 4(x2),2)")
        counts += [int(m.group(1))] * int(m.group(2) or 1)
    return counts


def slurm_layout(env=None):
    """``[(host, slots)]`` of the current allocation; one worker per task, or per GPU."""
    env = os.environ if env is None else env
    if "SLURM_JOB_NODELIST" not in env:
        raise UserError("not inside a Slurm allocation (no SLURM_JOB_NODELIST); use --hosts or --hostfile")
    hosts = expand_hostlist(env["SLURM_JOB_NODELIST"])
    nodes = env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES")
    if nodes and int(nodes) != len(hosts):
        raise UserError(f"SLURM_JOB_NODELIST lists {len(hosts)} nodes but SLURM_JOB_NUM_NODES is {nodes}")
    if env.get("SLURM_TASKS_PER_NODE"):
        slots = expand_counts(env["SLURM_TASKS_PER_NODE"])
        per_node = env.get("SLURM_NTASKS_PER_NODE")
        if per_node and any(n != int(per_node) for n in slots):
            raise UserError(f"SLURM_TASKS_PER_NODE={env['SLURM_TASKS_PER_NODE']} contradicts "
                            f"SLURM_NTASKS_PER_NODE={per_node}")
    elif env.get("SLURM_NTASKS_PER_NODE"):
        slots = [int(env["SLURM_NTASKS_PER_NODE"])] * len(hosts)
    elif env.get("SLURM_GPUS_ON_NODE"):
        slots = [int(env["SLURM_GPUS_ON_NODE"])] * len(hosts)
    else:
        slots = [1] * len(hosts)
    if len(slots) != len(hosts):
        raise UserError(f"SLURM_TASKS_PER_NODE gives counts for {len(slots)} nodes but SLURM_JOB_NODELIST "
                        f"lists {len(hosts)}")
    ntasks = env.get("SLURM_NTASKS")
    if ntasks and int(ntasks) != sum(slots):
        raise UserError(f"SLURM_NTASKS is {ntasks} but the tasks per node add up to {sum(slots)}")
    return list(zip(hosts, slots))


HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def _host_slots(host, slots, where):
    if not HOST_NAME.fullmatch(host):
        raise UserError(f"{where}: '{host}' is not a host name or address")
    if not re.fullmatch(r"[1-9][0-9]*", slots):
        raise UserError(f"{where}: host {host} has slots '{slots}'; give a positive whole number")
    return host, int(slots)


def parse_hosts(text):
    """``--hosts``: ``'n1:4,n2:4'`` -> ``[('n1', 4), ('n2', 4)]``; a bare host has one slot."""
    layout = []
    for part in text.split(","):
        host, _, slots = part.strip().partition(":")
        layout.append(_host_slots(host, slots or "1", f"--hosts {text}"))
    return _no_repeats(layout, f"--hosts {text}")


def parse_hostfile(path):
    """A hostfile of ``host slots=S`` lines (Open MPI's and horovodrun's format; # comments)."""
    try:
        lines = open(path).read().splitlines()
    except OSError as err:
        raise UserError(f"cannot read the hostfile {path}: {err.strerror}") from None
    layout = []
    for n, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        slots = [w.split("=", 1)[1] for w in words[1:] if w.startswith("slots=")]
        layout.append(_host_slots(words[0], slots[0] if slots else "1", f"{path} line {n}"))
    if not layout:
        raise UserError(f"the hostfile {path} lists no host")
    return _no_repeats(layout, path)


def _no_repeats(layout, where):
    seen = [h for h, _ in layout]
    twice = sorted({h for h in seen if seen.count(h) > 1})
    if twice:
        raise UserError(f"{where}: {', '.join(twice)} listed twice; give each host once with all its slots")
    return layout


def format_layout(layout):
    return ",".join(f"{h}:{n}" for h, n in layout)


def route_device(host, run=subprocess.run):
    """The interface this machine routes to ``host`` through (None: unknown)."""
    try:
        addr = socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
    except (socket.gaierror, IndexError):
        return None
    out = run(["ip", "-o", "route", "get", addr], capture_output=True, text=True).stdout
    match = re.search(r"\bdev (\S+)", out)
    return match.group(1) if match else None


def shared_interface(hosts, run=subprocess.run):
    """The one interface that routes to every host, other than loopback, or None. Gloo binds each
    worker to one interface name, and a machine with several (docker0, an InfiniBand and an
    Ethernet port, or a namespace's lo) can give Horovod's own choice one that does not reach."""
    devices = {route_device(h, run) for h in hosts}
    if len(devices) != 1:
        return None
    device = devices.pop()
    return None if device in (None, "lo") else device


def _parser():
    p = argparse.ArgumentParser(prog="python -m mxdl.cluster", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("slurm-hosts")
    hosts = sub.add_parser("hosts")
    which = hosts.add_mutually_exclusive_group(required=True)
    which.add_argument("--hosts")
    which.add_argument("--hostfile")
    sub.add_parser("nic").add_argument("host", nargs="+")
    return p


@cli_entry
def main(argv=None):
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "slurm-hosts":
        print(format_layout(slurm_layout()))
    elif args.command == "hosts":
        print(format_layout(parse_hosts(args.hosts) if args.hosts else parse_hostfile(args.hostfile)))
    else:
        print(shared_interface(args.host) or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
