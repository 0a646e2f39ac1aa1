"""The run directory contract, shared by mxdl-train and launch/train.sh.

Where a run lives, the file that asks its workers to stop, the file in which
rank 0 records how training ended, and the exit codes every mxdl command uses.
The launcher asks this module (``python -m mxdl.runinfo CONFIG [--output DIR]``)
instead of computing the names again in bash.
"""
import argparse
import os

EXIT_OK = 0          # finished
EXIT_FAILED = 1      # a failure (a crash, a worker lost, a stop that overran its grace)
EXIT_USAGE = 2       # a usage or user error, one line on stderr
EXIT_STOPPED = 75    # stopped on request with a checkpoint; resume later (EX_TEMPFAIL: "try again")
EXIT_INTERRUPTED = 130  # ended at once by ctrl+c (128 + SIGINT, as shells report it)

FINISHED, STOPPED, FAILED = "finished", "stopped", "failed"


def run_dir_for(config_path, output=None):
    return output or os.path.join("runs", os.path.splitext(os.path.basename(config_path))[0])


def stop_file(run_dir):
    return os.path.join(run_dir, "STOP")


def outcome_file(run_dir):
    return os.path.join(run_dir, "outcome")


def main(argv=None):
    import sys
    from .config import locate
    from .errors import UserError
    p = argparse.ArgumentParser(prog="python -m mxdl.runinfo",
                                description="Print a config's file, run directory, STOP file and outcome file.")
    p.add_argument("config", help="a YAML file, or the name of a config that ships with mxdl")
    p.add_argument("--output", help="run directory given to mxdl-train (default: runs/<config name>)")
    args = p.parse_args(argv)
    try:
        config = locate(args.config)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    run_dir = run_dir_for(args.config, args.output)
    print(config, run_dir, stop_file(run_dir), outcome_file(run_dir), sep="\n")
    return EXIT_OK


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:  # ctrl+c as the launcher starts: its caller says so in one line
        raise SystemExit(EXIT_INTERRUPTED) from None
