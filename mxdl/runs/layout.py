"""The run directory: where a run lives and the name of every file in it.

    RUN/config.yaml           the resolved config of the run as it now trains
    RUN/config-EPOCH.yaml     the config it had before a resume at EPOCH changed it
    RUN/env.txt               versions and hosts of the latest start
    RUN/train.log, rank-N.log the log (mxdl.log)
    RUN/history.json/.csv     one entry per epoch, curves.png (history.py)
    RUN/metrics.jsonl         one line per step (history.py)
    RUN/tensorboard/          event files, with train.tensorboard=true
    RUN/checkpoints/          checkpoint.py
    RUN/model-symbol.json ... the final export (export.py)
    RUN/STOP                  asks the workers to stop at the next check step
    RUN/outcome               how the last start ended: finished, stopped or failed
    RUN/job.lock              the job that holds the run directory (liveness.py)
    RUN/launcher.alive        launch/train.sh's heartbeat, watched by its workers (liveness.py)

The launcher asks this module (``python -m mxdl.runs.layout CONFIG [--output DIR]``) instead of
computing the names again in bash.
"""
import argparse
import os
import shutil
import sys

from ..errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UserError
from ..fileio import atomic_write_text

FINISHED, STOPPED, FAILED = "finished", "stopped", "failed"

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"
HISTORY_FILES = ("history.json", "history.csv", "curves.png")


def run_dir_for(config_path, output=None):
    return output or os.path.join("runs", os.path.splitext(os.path.basename(config_path))[0])


def stop_file(run_dir):
    return os.path.join(run_dir, "STOP")


def outcome_file(run_dir):
    return os.path.join(run_dir, "outcome")


def lock_file(run_dir):
    return os.path.join(run_dir, "job.lock")


def launcher_heartbeat_file(run_dir):
    return os.path.join(run_dir, "launcher.alive")


def checkpoints_dir(run_dir):
    return os.path.join(run_dir, CHECKPOINTS)


def record_outcome(run_dir, outcome):
    atomic_write_text(outcome_file(run_dir), outcome + "\n")


def clear_outcome(run_dir):
    if os.path.exists(outcome_file(run_dir)):
        os.remove(outcome_file(run_dir))


def clear_run(run_dir):
    """What ``--fresh`` removes: everything an earlier run recorded, so nothing of it is appended to."""
    names = [CHECKPOINTS, METRICS, TENSORBOARD, "outcome", *HISTORY_FILES]
    names += [n for n in os.listdir(run_dir) if n.startswith("config-") and n.endswith(".yaml")]
    for name in names:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def main(argv=None):
    from ..config import locate
    p = argparse.ArgumentParser(prog="python -m mxdl.runs.layout",
                                description="Print a config's file, run directory, STOP file, outcome file and the "
                                            "launcher's heartbeat file.")
    p.add_argument("config", help="a YAML file, or the name of a config that ships with mxdl")
    p.add_argument("--output", help="run directory given to mxdl-train (default: runs/<config name>)")
    args = p.parse_args(argv)
    try:
        config = locate(args.config)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    run_dir = run_dir_for(args.config, args.output)
    print(config, run_dir, stop_file(run_dir), outcome_file(run_dir), launcher_heartbeat_file(run_dir), sep="\n")
    return EXIT_OK


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # ctrl+c as the launcher starts: its caller says so in one line
        raise SystemExit(EXIT_INTERRUPTED) from None
