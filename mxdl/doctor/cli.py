"""``mxdl-doctor CONFIG [key=value ...] [--np N] [--hosts H:S,... | --hostfile FILE] [--nic NAME] [--json FILE]``

How fast will this job run, and what limits it? On the hosts, hostfile or Slurm allocation the job
would use (the same layout as launch/train.sh), the doctor measures in about a minute: the
trainer's step with and without its allreduce, every worker running at once; allreduces of the
gradients' size over the real links, in float32 and float16; with real shards, the trainer's
reader and a plain read of the shard files. A cost model (mxdl/doctor/costmodel.py) fed only by
these figures predicts img/s and scaling efficiency from one worker to 4x the job's nodes, names
the bottleneck, and prices concrete changes (fp16 allreduce, fusion threshold, hierarchical
allreduce, batch size, decode threads).

Predictions beyond the job's size keep the measured per-worker compute and per-node link: right for
a real cluster, where nodes bring their own cores. data.synthetic=true needs no shards.
"""
import json
import math
import os
import subprocess
import sys

from .. import config as config_mod
from ..cli_help import make_parser
from ..cluster import parse_hostfile, parse_hosts, shared_interface, slurm_layout
from ..errors import UserError, cli_entry
from ..log import still_working
from ..preflight import LOCAL_NAMES, check_hosts
from . import inputs, report
from .probe import MARKER


def build_parser():
    p = make_parser("mxdl-doctor", __doc__, [
        "mxdl-doctor configs/cifar10_minivggnet.yaml data.synthetic=true --np 2",
        "mxdl-doctor configs/imagenet_resnet50.yaml --hosts node1:8,node2:8 --json doctor.json",
        "salloc -N 4 --ntasks-per-node 8 mxdl-doctor configs/imagenet_resnet50.yaml   # the allocation's layout"])
    p.add_argument("config", help="YAML experiment, or the name of a packaged config")
    p.add_argument("overrides", nargs="*", help="key=value overrides, as for mxdl-train")
    p.add_argument("--np", type=int, help="workers (default: the hosts' slots, or 1)")
    hosts = p.add_mutually_exclusive_group()
    hosts.add_argument("--hosts", help="host:slots,... as for launch/train.sh")
    hosts.add_argument("--hostfile", help="'host slots=S' lines")
    p.add_argument("--nic", help="the network interface the hosts share (default: the route to every host)")
    p.add_argument("--json", metavar="FILE", help="also write the figures and predictions here")
    p.add_argument("--seconds", type=float, default=6.0, help="time spent on each timed phase (default: 6)")
    p.add_argument("--start-timeout", type=int, default=60, help="seconds the workers may take to start")
    return p


def job_layout(args, env=os.environ):
    """[(host, slots)] of the job, or [] for this machine alone."""
    if args.hosts:
        return parse_hosts(args.hosts)
    if args.hostfile:
        return parse_hostfile(args.hostfile)
    return slurm_layout(env) if env.get("SLURM_JOB_NODELIST") else []


def probe_command(args, layout, np_):
    probe = [sys.executable, "-m", "mxdl.doctor.probe", args.config, *args.overrides, "--seconds", str(args.seconds)]
    if np_ == 1 and not layout:
        return probe
    cmd = ["horovodrun", "-np", str(np_), "--gloo", "--start-timeout", str(args.start_timeout)]
    if layout:
        cmd += ["-H", ",".join(f"{h}:{n}" for h, n in layout)]
    nic = args.nic or (shared_interface([h for h, _ in layout]) if layout else None)
    return cmd + (["--network-interfaces", nic] if nic else []) + probe


def run_probe(args, layout, np_):
    remote = [h for h, _ in layout if h not in LOCAL_NAMES]
    problems = check_hosts(remote, args.nic) if remote else []
    if problems:
        raise UserError(f"cannot measure on these hosts: {'; '.join(problems)}")
    where = f"{np_} worker(s)" + (f" on {', '.join(h for h, _ in layout)}" if layout else " here")
    with still_working(f"measuring on {where}", every=15):
        done = subprocess.run(probe_command(args, layout, np_), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace")
    lines = done.stdout.splitlines()
    found = [l.split(MARKER, 1)[1] for l in lines if MARKER in l]
    if done.returncode or not found:
        raise UserError(f"the measurement failed (exit {done.returncode}): {_last_error(lines)}")
    return json.loads(found[-1])


def _last_error(lines):
    lines = [l.strip() for l in lines if l.strip()]
    errors = [l for l in lines if "error" in l.lower()]
    return (errors or lines or ["no output"])[-1][-300:]


def _finite(value):
    """JSON has no infinity: an unmeasured rate (synthetic data, one worker) is null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and math.isinf(value) else value


def print_report(inp, measured, figures, hosts):
    s = figures["settings"]
    print(f"mxdl-doctor: {s['model']}, batch {s['batch']} per worker, input {'x'.join(map(str, s['input']))}, "
          f"{'synthetic data' if s['synthetic'] else 'real shards'}; {inp.nodes} node(s) x "
          f"{inp.workers_per_node} worker(s) ({', '.join(hosts) or 'this machine'})")
    for name, value in report.measured_lines(inp, measured, figures):
        print(f"  {name:42s} {value}")
    print("predicted:")
    print("\n".join("  " + line for line in report.table_lines(report.scaling(inp))))
    job = report.predict(inp)
    print(f"this job ({inp.workers} workers): {job['images_per_sec']:,.1f} img/s predicted, {job['efficiency']:.0%} "
          f"efficiency, bottleneck: {job['bottleneck']} (the measured step alone gives "
          f"{inp.workers * inp.batch / measured['step_s']:,.1f} img/s)")
    if inp.nodes == 1 and inp.workers > 1:
        print("note: the link was measured inside one node; the rows for more nodes assume it between nodes too. "
              "Run the doctor across 2 nodes for a real link.")
    print("advice:")
    print("\n".join(f"  - {line}" for line in report.advice(inp)))


@cli_entry
def main(argv=None):
    args = build_parser().parse_intermixed_args(argv)
    import mxnet  # noqa: F401 - the probe needs it: without it, one line saying how to install it
    config_mod.resolve(args.config, args.overrides)  # a bad config is one line before anything starts
    layout = job_layout(args)
    slots = sum(n for _, n in layout) or 1
    np_ = args.np or slots
    if np_ < 1 or (layout and np_ > slots):
        raise UserError(f"--np {args.np}: give 1 to {slots} (the hosts' slots)")
    figures = run_probe(args, layout, np_)
    inp, measured = inputs.build(figures)
    hosts = sorted({w["host"] for w in figures["workers"]}) if layout else []
    print_report(inp, measured, figures, hosts)
    if args.json:
        from ..fileio import atomic_write_text
        atomic_write_text(args.json, json.dumps(_finite(report.as_json(inp, measured, figures, hosts)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
