"""Who is alive in a run directory: one job at a time (RUN/job.lock), and workers that end when the
launcher that started them is gone (RUN/launcher.alive).

**The lock.** Rank 0 creates RUN/job.lock (exclusively) before it touches anything in the run
directory, records its host, pid, start time and job, and touches the file every HEARTBEAT_S
seconds while it lives. Another start on the same directory is refused in one line naming the
holder, unless the holder is gone: the same launcher's job restarting, a pid that no longer runs on
this host, or (a holder on another host) a lock untouched for STALE_S seconds; a stale lock is taken
over with a log line. File locks (flock) are not used: NFS and Lustre do not keep them reliably.

**The launcher's heartbeat.** launch/train.sh touches RUN/launcher.alive every half second and tells
the workers (MXDL_LAUNCHER_HEARTBEAT). A worker that sees the file stop changing for GONE_S seconds,
by its own clock (so clocks between nodes need not agree), ends itself: a launcher killed by SIGKILL,
the OOM killer or a dead terminal multiplexer leaves no job training on. A worker that cannot see
the file (a run directory not shared with its node) does not watch. A launcher suspended (ctrl+z)
for GONE_S counts as gone too: its job could not be stopped or restarted meanwhile.
"""
import json
import os
import socket
import threading
import time

from ..errors import UserError
from .layout import lock_file

HEARTBEAT_S = 10
STALE_S = 60
GONE_S = 20


def this_job():
    """The launcher's job id (kept across its restarts), or this process's own."""
    return os.environ.get("MXDL_JOB_ID") or f"mxdl-train pid {os.getpid()} on {socket.gethostname()}"


def _read_holder(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None   # vanished, or half-written by a holder that died writing it: not a live holder


def _pid_runs(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def why_stale(holder, path, now=None):
    """Why the lock's holder is gone (None: it may still run)."""
    if holder is None:
        return "an unreadable lock"
    if holder.get("job") == this_job():
        return f"this job's own earlier start ({holder['job']})"
    if holder.get("host") == socket.gethostname() and not _pid_runs(int(holder.get("pid", 0))):
        return f"pid {holder.get('pid')} no longer runs on {holder.get('host')}"
    try:
        quiet = (now or time.time()) - os.stat(path).st_mtime
    except FileNotFoundError:
        return "the lock vanished"
    return f"its heartbeat stopped {quiet:.0f} s ago" if quiet > STALE_S else None


def holder_text(holder):
    return (f"the job started {holder.get('started', '?')} on {holder.get('host', '?')} "
            f"(pid {holder.get('pid', '?')}; {holder.get('job', '?')})")


def check_free(run_dir):
    """Raise the one-line refusal when a live job holds the run directory; return a stale holder's
    description (or None) without taking anything."""
    path = lock_file(run_dir)
    if not os.path.exists(path):
        return None
    holder = _read_holder(path)
    stale = why_stale(holder, path)
    if stale is None:
        raise UserError(f"{run_dir} is in use by {holder_text(holder)}: wait for it, stop it "
                        "(ctrl+c on its launcher, or touch STOP in the run directory), or give another --output")
    return stale


class JobLock:
    """RUN/job.lock held by this process until release(); a daemon thread keeps its heartbeat."""

    def __init__(self, run_dir):
        self.path = lock_file(run_dir)
        self.holder = {"host": socket.gethostname(), "pid": os.getpid(), "job": this_job(),
                       "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        self._stop = threading.Event()

    def acquire(self, log=None):
        """Take the lock, taking over a stale one (logged); refuse a live holder in one line."""
        for _ in range(3):   # a takeover race: the loser re-reads and meets the winner
            stale = check_free(os.path.dirname(self.path))
            if stale and log:
                log(f"run directory lock: taking over from {holder_text(_read_holder(self.path) or {})}: {stale}")
            if stale:
                _remove(self.path)
            if self._create():
                threading.Thread(target=self._beat, name="mxdl-lock-heartbeat", daemon=True).start()
                return self
        raise UserError(f"could not take {self.path}: other starts keep taking it")

    def _create(self):
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self.holder, f)
        return True

    def _beat(self):
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self):
        self._stop.set()
        if (_read_holder(self.path) or {}).get("pid") == os.getpid():
            _remove(self.path)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def watch_launcher(path, on_gone, every=2.0, gone_s=GONE_S):
    """Call ``on_gone(seconds)`` once the launcher's heartbeat file has not changed for ``gone_s``
    seconds of this process's clock. Nothing is watched when the file is not visible here."""
    if not path or not os.path.exists(path):
        return None

    def watch():
        last, changed = None, time.monotonic()
        while True:
            time.sleep(every)
            try:
                seen = os.stat(path).st_mtime_ns
            except FileNotFoundError:
                seen = None
            if seen != last:
                last, changed = seen, time.monotonic()
            elif time.monotonic() - changed > gone_s:
                on_gone(time.monotonic() - changed)
                return
    thread = threading.Thread(target=watch, name="mxdl-launcher-watch", daemon=True)
    thread.start()
    return thread
