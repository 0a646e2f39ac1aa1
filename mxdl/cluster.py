"""Host layouts from a Slurm allocation, for ``launch/train.sh`` inside ``sbatch`` or ``salloc``.

Why not ``scontrol show hostnames``: it is only there where Slurm's client is
installed and configured, and the launcher also has to check the allocation's
variables against each other (a node list of 3 nodes with tasks for 2 is a
broken allocation, and should be one line, not a hang in Horovod's rendezvous).

    python -m mxdl.cluster slurm-hosts      # -> node01:4,node02:4
"""
import os
import re
import sys

from .errors import UserError, cli_entry


def expand_hostlist(text):
    """``'gpu[01-03,07],login1'`` -> ``['gpu01', 'gpu02', 'gpu03', 'gpu07', 'login1']``."""
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


@cli_entry
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["slurm-hosts"]:
        raise UserError("usage: python -m mxdl.cluster slurm-hosts")
    print(",".join(f"{h}:{n}" for h, n in slurm_layout()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
