"""Reading horovodrun's output for launch/train.sh: who failed first and why, and the terminal's view.

    python -m mxdl.joblog diagnose LOG NP   # the rank to blame, one line of why, the first exit code
    ... | python -m mxdl.joblog filter      # the job's output as a user should read it

The terminal shows rank 0's lines without horovodrun's prefix, other ranks' warnings and errors
with their rank, and none of MXNet's C++ log lines (``[12:00:00] src/io/...cc:830: ...``, one per
record-range iterator) nor horovodrun's closing traceback; launch.log keeps everything.

horovodrun prefixes each worker's lines with ``[rank]<stdout>:`` or ``[rank]<stderr>:``; its own
lines have no prefix. It reports each worker's end as ``Process R exit with status code C``, the
first of them being the worker that failed first. That is the wrong worker when one stops
responding (stopped, hung, or cut off): the others time out waiting for it and fail first, while
it fails last or is killed. Gloo says ``Timed out waiting`` on each waiting rank, so the ranks that
never say it are the ones that stopped responding.
"""
import re
import sys

from .errors import PEER_ENDED
from .train.stop import STOP_ANNOUNCED

PROCESS_EXIT = re.compile(r"^Process (\d+) exit with status code (-?\d+)")
WORKER_LINE = re.compile(r"^\[(\d+)\]<std(?:out|err)>:")
CXX_LOG = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+\.(?:cc|h|cpp):\d+: ")
OTHER_RANK_SHOWN = re.compile(r"^(error|warning|WARNING|ERROR)\b|second stop signal")
TIMED_OUT = "Timed out waiting"
HOROVODRUN_ENDS_THE_REST = "Terminating remaining workers after failure of Process"
HOROVODRUN_GAVE_UP = "RuntimeError: Horovod detected that one or more processes exited"


def _ranks(ranks):
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(map(str, ranks))


def exits(lines):
    """``(rank, exit code)`` of every worker horovodrun saw end, in the order it saw them."""
    return [(int(m.group(1)), int(m.group(2))) for m in map(PROCESS_EXIT.match, lines) if m]


def first_exit(lines):
    """``(rank, exit code)`` of the first worker to end, or None. A worker that said another one
    failed first (mxdl.errors.PEER_ENDED) is passed over when it won the race to exit."""
    followers = set()
    for line in lines:
        worker = WORKER_LINE.match(line)
        if worker and PEER_ENDED in line:
            followers.add(int(worker.group(1)))
    ended = exits(lines)
    return next((e for e in ended if e[0] not in followers), ended[0] if ended else None)


def diagnose(lines, np):
    """``(rank to blame or None, why)`` from a failed attempt's log lines."""
    first, timed_out = first_exit(lines), set()
    for line in lines:
        worker = WORKER_LINE.match(line)
        if worker and TIMED_OUT in line:
            timed_out.add(int(worker.group(1)))
    if first is None:
        return None, "no worker reported its exit"
    rank, code = first
    silent = sorted(set(range(np)) - timed_out)
    if timed_out and silent and exits(lines)[0][0] in timed_out:   # the first to end, follower or not
        return silent[0], (f"{_ranks(silent)} stopped responding: {_ranks(sorted(timed_out))} timed out "
                           "waiting for it (a stopped or hung process, or a lost network link)")
    why = f"rank {rank} failed first with exit code {code}"
    if code in (137, -9):
        why += ": killed by SIGKILL, e.g. the out-of-memory killer or a lost node"
    return rank, why


def terminal_line(line):
    """What the terminal shows of one line of the job's output (None: nothing)."""
    worker = WORKER_LINE.match(line)
    rank, text = (int(worker.group(1)), line[worker.end():]) if worker else (None, line)
    if CXX_LOG.match(text):
        return None
    if rank is None or rank == 0:
        return text
    return f"[rank {rank}] {text}" if OTHER_RANK_SHOWN.search(text) else None


def filter_stream(src, dst):
    """Copy lines, holding a traceback of horovodrun's own until it is known to be its closing
    "processes exited" error (said better by the launcher), which is dropped."""
    def show(lines):
        dst.writelines(shown for shown in map(terminal_line, lines) if shown is not None)

    held, ending = [], False
    for line in src:
        # horovodrun ends the other workers with SIGTERM, which they take as a stop request: their
        # "stopping ... saving a checkpoint" would promise what the teardown does not keep
        ending = ending or line.startswith(HOROVODRUN_ENDS_THE_REST)
        if ending and STOP_ANNOUNCED in line:
            continue
        if held and WORKER_LINE.match(line):
            show(held)
            held = []
        if held or (not WORKER_LINE.match(line) and line.startswith("Traceback (most recent call last)")):
            held.append(line)
        else:
            show([line])
        dst.flush()
    if not any(HOROVODRUN_GAVE_UP in line for line in held):
        show(held)
    dst.flush()


def main(argv):
    if argv[:1] == ["filter"]:
        filter_stream(sys.stdin, sys.stdout)
        return 0
    if len(argv) == 3 and argv[0] == "diagnose":
        log, np = argv[1], int(argv[2])
        try:
            with open(log, errors="replace") as f:
                lines = f.readlines()
        except OSError:
            lines = []
        rank, why = diagnose(lines, np)
        first = first_exit(lines)
        print("" if rank is None else rank)
        print(why)
        print("" if first is None else first[1])   # the first worker's exit code: 2 is a usage error
        return 0
    print("usage: python -m mxdl.joblog diagnose LOG NP | filter", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
