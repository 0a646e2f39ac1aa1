"""``mxdl-train CONFIG [key=value ...] [--resume | --resume-from EPOCH | --fresh] [--output DIR]``

Trains in one process, or as one Horovod worker when started by horovodrun or
launch/train.sh. Outputs go to ``runs/<config name>`` (or --output): the
resolved config.yaml, train.log, history.json/.csv, curves.png, checkpoints/,
and the exported model at the end.

Re-running the same command continues from the latest checkpoint in that
directory (a line says so); --fresh starts over, --resume insists on a
checkpoint, --resume-from E takes the one written at the end of epoch E. An
``optim.lr=...`` given with a resume sets the learning rate from that point on
(the book's ctrl+c method).
"""
import logging
import os
import platform
import sys

from .. import config as config_mod
from ..cli_help import make_parser
from ..errors import UserError, cli_entry


def build_parser():
    p = make_parser("mxdl-train", __doc__, [
        "mxdl-train configs/digits.yaml",
        "mxdl-train digits data.dir=shards/digits          # a config that ships with mxdl, by name",
        "mxdl-train configs/cifar10_minivggnet.yaml data.dir=shards/cifar10 train.epochs=40",
        "mxdl-train configs/cifar10_resnet.yaml --resume-from 80 optim.lr=0.01",
        "horovodrun -np 2 --gloo mxdl-train configs/digits.yaml   # or launch/train.sh / mxdl-launch"])
    p.add_argument("config", nargs="?", help="YAML experiment file, or the name of a packaged config")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.lr=0.1")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue from the latest checkpoint (required)")
    g.add_argument("--resume-from", type=int, metavar="EPOCH", help="continue from the end of EPOCH")
    g.add_argument("--fresh", action="store_true", help="delete earlier checkpoints and history; start over")
    p.add_argument("--output", help="run directory (default: runs/<config name>)")
    p.add_argument("--no-verify-data", action="store_true",
                   help="skip the shards' checksums at start (checked when they total at most 2 GiB; "
                        "launch/train.sh checks them itself)")
    p.add_argument("--show-defaults", action="store_true", help="print every config key with its default")
    p.add_argument("--list-configs", action="store_true",
                   help="list the experiments that ship with mxdl (give one by name: mxdl-train digits)")
    return p


def _environment(dist):
    import mxnet as mx
    lines = [f"python {platform.python_version()}", f"mxnet {mx.__version__}",
             f"workers {dist.size}", f"host {platform.node()}",
             f"gpus {mx.context.num_gpus()}"]
    try:
        import horovod
        lines.append(f"horovod {horovod.__version__}")
    except ImportError:
        lines.append("horovod not installed")
    return "\n".join(lines) + "\n"


def _list_and_exit(args):
    """--show-defaults and --list-configs: print, and train nothing."""
    if args.show_defaults:
        print(config_mod.describe_defaults())
    else:
        for name, (path, about) in config_mod.packaged_configs().items():
            print(f"{name:32s} {about}")
        print(f"(in {config_mod.PACKAGED_CONFIGS})")
    return 0


def _resume_choice(args, run_dir):
    """What to resume: an epoch, "latest", or None (a fresh start)."""
    from ..runs.checkpoint import has_checkpoint
    found = has_checkpoint(run_dir)
    if args.resume_from is not None:
        return args.resume_from
    if args.resume and not found:
        raise UserError(f"--resume: no checkpoint in {run_dir}/checkpoints (start without --resume)")
    return "latest" if args.resume or (found and not args.fresh) else None


def _resume_hint(args):
    """The command that continues this run, printed after a stop. Under launch/train.sh the
    launcher prints its own (with its hosts and worker count), so the workers print none."""
    if os.environ.get("MXDL_UNDER_LAUNCHER"):
        return ""
    return " ".join(["mxdl-train", args.config] + [o for o in args.overrides if not o.startswith("optim.lr=")]
                    + ([f"--output {args.output}"] if args.output else []))


def _take_run_dir(run_dir, dist):
    """Rank 0 makes the run directory and takes its lock (mxdl.runs.liveness) before anything in it
    changes; every worker learns the outcome, so a refusal is the same one line on all of them."""
    from ..fileio import make_folder
    from ..runs.liveness import JobLock
    lock, refusal, notes = None, None, []
    if dist.primary:
        try:
            make_folder(run_dir, "run directory")
            lock = JobLock(run_dir).acquire(log=notes.append)
        except UserError as err:
            refusal = str(err)
    refusal = dist.broadcast_object(refusal, "run_dir_lock")
    if refusal:
        raise UserError(refusal)
    return lock, notes


def _prepare_run_dir(run_dir, dist, fresh):
    """Rank 0 empties the run directory with --fresh; the others wait for it. Returns log notes."""
    from ..runs.layout import clear_run, stop_file
    if dist.primary and fresh:
        clear_run(run_dir)
    dist.barrier("run_dir_ready")
    os.makedirs(run_dir, exist_ok=True)
    if dist.size == 1 and os.path.exists(stop_file(run_dir)):
        # Left by a stop whose run ended before reading it; the launcher clears it itself, and a
        # Horovod job's STOP may be a request made while the workers were starting.
        os.remove(stop_file(run_dir))
        return [f"removed a stale {stop_file(run_dir)} from an earlier stop request"]
    return []


def _verify_shards_without_a_launcher(cfg, dist, logger, skip=False):
    """launch/train.sh checks the shards before any worker starts; mxdl-train alone (or under a bare
    horovodrun) has rank 0 do the same, so a corrupted-but-decodable record is named, not trained on."""
    from ..data.manifest import Manifest, shard_problems
    if skip or os.environ.get("MXDL_UNDER_LAUNCHER") or cfg["data"]["synthetic"] or not cfg["data"]["dir"]:
        return
    problems, checked = ([], 0) if not dist.primary else shard_problems(Manifest.load(cfg["data"]["dir"]))
    problems = dist.broadcast_object(problems, "shards_checked")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserError(f"data.dir: {problems[0]}{more}: run mxdl-pack verify {cfg['data']['dir']}")
    if checked:
        logger.info(f"shards: sizes and checksums of {checked / 2**20:.1f} MiB match the manifest")


def _end_if_the_launcher_dies(logger):
    """Under launch/train.sh: end this worker when the launcher's heartbeat stops (mxdl.runs.liveness),
    so a launcher killed by any signal leaves no job training on."""
    from ..errors import EXIT_FAILED
    from ..runs.liveness import watch_launcher

    def gone(seconds):
        logger.error(f"the launcher is gone (no heartbeat for {seconds:.0f} s): ending this worker")
        logging.shutdown()
        os._exit(EXIT_FAILED)
    watch_launcher(os.environ.get("MXDL_LAUNCHER_HEARTBEAT"), gone)


def _record_start(run, cfg, dist, logger):
    """Once the run is accepted (a refused resume leaves the run's files as they were): its config,
    with what a resume changed in it, and its environment."""
    from ..fileio import atomic_write_text
    from ..runs.provenance import record_config
    if not dist.primary:
        return
    resumed = run.start_epoch if run.start_epoch or run.start_step else None
    for change in record_config(run.run_dir, cfg, resumed):
        logger.info(f"config changed since the checkpoint: {change}")
    atomic_write_text(os.path.join(run.run_dir, "env.txt"), _environment(dist))


def _start_log(args, cfg, dist, run_dir, notes):
    """The run directory readied, the log opened with its first lines, the shards checked."""
    from .. import log as log_mod
    notes = notes + _prepare_run_dir(run_dir, dist, args.fresh)
    logger = log_mod.setup(run_dir, dist.rank)
    _end_if_the_launcher_dies(logger)
    for line in (config_mod.diff_from_defaults(cfg) if dist.primary else []):
        logger.info(f"config {line}")
    for note in notes:
        logger.info(note)
    _verify_shards_without_a_launcher(cfg, dist, logger, skip=args.no_verify_data)
    return logger


@cli_entry
def main(argv=None):
    args = build_parser().parse_intermixed_args(argv)  # overrides may come before or after options
    if args.show_defaults or args.list_configs:
        return _list_and_exit(args)
    if not args.config:
        raise UserError("give a config file, e.g. mxdl-train configs/digits.yaml")
    cfg = config_mod.resolve(args.config, args.overrides)
    # an lr given with a resume takes effect from there on (the coerced value: "1e-4" is a string to YAML)
    given_lr = "optim.lr" in dict(config_mod.parse_override(o) for o in args.overrides)

    from .. import budget as budget_mod
    node = budget_mod.here()
    budget_mod.set_compute_threads(node)  # before MXNet is imported: it reads them once
    from ..dist import Dist
    from ..errors import EXIT_STOPPED
    from ..runs.layout import STOPPED, run_dir_for
    from .loop import Run
    dist = Dist(cfg["horovod"])
    run_dir = run_dir_for(args.config, args.output)
    lock, notes = _take_run_dir(run_dir, dist)
    try:
        logger = _start_log(args, cfg, dist, run_dir, notes)
        resume = _resume_choice(args, run_dir)
        run = Run(cfg, run_dir, dist, resume=resume, lr_override=cfg["optim"]["lr"] if given_lr and resume is not None
                  else None, resume_hint=_resume_hint(args), budget=node)
        _record_start(run, cfg, dist, logger)
        outcome = run.fit()
    finally:
        if lock:
            lock.release()
    # Under Horovod every worker exits 0 (horovodrun reports any other code as a crash);
    # launch/train.sh reads RUN/outcome and gives the stopped code itself.
    return EXIT_STOPPED if outcome == STOPPED and dist.size == 1 else 0


if __name__ == "__main__":
    sys.exit(main())
