"""How mxdl commands end: the exit codes, and the exceptions that become one line.

Command-line entry points catch UserError (and RunFailed) and print a single ``error: ...`` line
instead of a traceback; anything else is a bug and keeps its traceback. The exit codes live only
here: ``--help`` texts are made from them, and launch/train.sh reads them
(``python -m mxdl.errors shell``).
"""
import errno
import functools
import importlib.util
import os
import sys

from . import topology

EXIT_OK = 0          # finished
EXIT_FAILED = 1      # a failure (a crash, a worker lost, a stop that overran its grace)
EXIT_USAGE = 2       # a usage or user error, one line on stderr
EXIT_STOPPED = 75    # stopped on request with a checkpoint; resume later (EX_TEMPFAIL: "try again")
EXIT_INTERRUPTED = 130  # ended at once by ctrl+c (128 + SIGINT, as shells report it)

EXIT_MEANINGS = ((EXIT_OK, "done"), (EXIT_FAILED, "failed"),
                 (EXIT_USAGE, "usage or input error (one line on stderr)"),
                 (EXIT_STOPPED, "stopped on request with a checkpoint; resume later"),
                 (EXIT_INTERRUPTED, "ended at once by ctrl+c"))


def exit_codes_text():
    return "exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_MEANINGS)


class UserError(Exception):
    """Bad input, config or state that the user can correct."""


def error_reason(err):
    """The line of an exception that says what is wrong: MXNet's messages start with a traceback of
    C++ frames and end with the check that failed."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    last, name = (lines[-1] if lines else "no message"), type(err).__name__
    return last if last.startswith(name + ":") else f"{name}: {last}"


class RunFailed(Exception):
    """A run that cannot go on (a diverged loss, say): one line and exit code 1, not a traceback."""


class DamagedData(RunFailed):
    """A record that does not read. Each worker reads its own records, so the worker that found it
    says so, whatever its rank (other endings are said once, by rank 0). It ends with EXIT_USAGE: the
    input is wrong, and the launcher does not restart a job that would read it again. ``problem`` is
    the message without its advice, for mxdl-pack verify's own report."""

    def __init__(self, problem, advice):
        super().__init__(f"{problem}; {advice}")
        self.problem = problem


# mxnet is an extra (CPU or CUDA build), so a plain `pip install mxdl` lacks it.
NO_MXNET = ("mxnet is not installed: pip install 'mxdl[cpu]' on CPUs, or 'mxdl[cu112]' on CUDA 11.2 GPUs "
            "(then build Horovod, see README)")


def _mxnet_missing():
    try:
        return importlib.util.find_spec("mxnet") is None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return True


# Failures of the disk rather than of the program: said in one line, since every file is written
# under a temporary name first and the same command picks up where it stopped.
DISK_FAILURES = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
                 errno.EROFS: "the file system is read-only", errno.EIO: "the disk reported an I/O error"}


def disk_failure(err):
    """The one-line message for an OSError that a full or failing disk causes, else None."""
    if not isinstance(err, OSError) or err.errno not in DISK_FAILURES:
        return None
    where = f" writing {err.filename}" if err.filename else ""
    return (f"{DISK_FAILURES[err.errno]}{where}: nothing was left half-written; free space and run the same "
            "command again")


HOROVOD_SHUT_DOWN = "Horovod has been shut down"
PEER_ENDED = ("Horovod shut down: another worker failed or stopped responding first "
              "(its own line, or the launcher's, says which)")


def _chain(err):
    """``err`` and the errors it was raised while handling, latest first (as a traceback shows them)."""
    while err is not None:
        yield err
        err = err.__cause__ if err.__cause__ is not None else (None if err.__suppress_context__ else err.__context__)


def _one_line(err):
    """``(message, exit code, said by every rank)`` when ``err`` itself ends a command in one line."""
    if isinstance(err, UserError):
        return f"error: {err}", EXIT_USAGE, False
    if isinstance(err, DamagedData):  # input, like a UserError (a restart reads the same bytes); its finder says it
        return f"error: {err}", EXIT_USAGE, True
    if isinstance(err, RunFailed):
        return f"error: {err}", EXIT_FAILED, False
    if isinstance(err, ModuleNotFoundError) and err.name == "mxnet":
        return f"error: {NO_MXNET}", EXIT_USAGE, False
    if isinstance(err, OSError) and disk_failure(err) is not None:
        return f"error: {disk_failure(err)}", EXIT_FAILED, False
    return None


def how_it_ended(err):
    """The one line (message, exit code, said by every rank) for an error that ended a command, or
    None for a bug, which keeps its traceback.

    The first such error in the chain is the one that counts: cleanup code run while it unwinds
    (a ``finally`` that reads the device) can fail in turn, once the other workers have ended and
    Horovod with them, and would otherwise bury it. Horovod shut down under this worker with no
    error of its own means another worker failed first; every worker would print the same 35-line
    traceback, burying the one line that says what happened."""
    chain = list(_chain(err))
    for e in reversed(chain):
        ending = _one_line(e)
        if ending:
            return ending
    if any(HOROVOD_SHUT_DOWN in str(e) for e in chain):
        return f"error: {PEER_ENDED}", EXIT_FAILED, False
    return None


def cli_entry(main):
    """Wrap a console entry point: UserError (and a missing mxnet) becomes one line and exit code 2.

    mxnet is looked for, not imported, before the command starts, so nothing is half done
    when it is missing and ``--help`` works without it.
    """
    @functools.wraps(main)
    def wrapper(argv=None):
        args = sys.argv[1:] if argv is None else argv
        try:
            if _mxnet_missing() and not {"-h", "--help"} & set(args):
                raise ModuleNotFoundError(NO_MXNET, name="mxnet")
            return main(argv)
        except KeyboardInterrupt:  # files are written atomically, so what is finished stays usable
            message, code, everyone = ("interrupted: finished files are kept; the same command continues",
                                       EXIT_INTERRUPTED, False)
        except Exception as err:
            ending = how_it_ended(err)
            if ending is None:
                raise
            message, code, everyone = ending
        if everyone or topology.is_primary():  # otherwise one line from rank 0, not one from every worker
            print(message, file=sys.stderr)
        if topology.size() > 1:
            _leave_at_once(code)
        return code
    return wrapper


def _leave_at_once(code):
    """End a worker of a multi-worker job now, past the interpreter's exit hooks: mxnet's and Horovod's
    wait on the other workers or fail again on a shut-down Horovod (a traceback each). The worker that
    found the problem then ends before the others notice it, so horovodrun names it first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv=None):
    """``python -m mxdl.errors shell``: the exit codes as shell assignments, for launch/train.sh."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["shell"]:
        print("usage: python -m mxdl.errors shell", file=sys.stderr)
        return EXIT_USAGE
    for name, value in sorted(globals().items()):
        if name.startswith("EXIT_") and isinstance(value, int):
            print(f"{name}={value}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
